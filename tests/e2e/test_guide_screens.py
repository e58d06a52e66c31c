"""The user guide shows the real pages and names their buttons as the screens do.

Each role's pages the guide shows are opened in Chromium as that role; the screenshot is saved where the guide
serves it (backoffice/static/guide/<role>-<page>.png, a small palette PNG), so every run of this test brings the
pictures up to date. Then the role's guide (Vietnamese) is read: every word it marks as a screen's word
(`data-ui="<role>-<page>"`, a button, a menu item, a column) must be, exactly, the text of an element of that page."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.support import login

pytestmark = pytest.mark.browser

GUIDE_STATIC = Path(__file__).resolve().parents[2] / "backoffice" / "static" / "guide"
WIDTH = 1100  # saved width: readable in the guide's column, small on disk
# role → (demo user, [(page, path, viewport)])
SHOTS = {
    "city_admin": ("admin", [("users-new", "/admin/user/new/", DESKTOP),
                             ("signing-keys", "/admin/signing-keys/", DESKTOP)]),
    "inspector": ("inspector.q1", [("compliance", "/admin/compliance/", DESKTOP)]),
    "ward_officer": ("ward.bennghe", [("cards", "/admin/qr-cards/", DESKTOP)]),
    "org_admin": ("org1.admin", [("posters", "/admin/qr-posters/", DESKTOP)]),
    "checkpoint_staff": ("org1.staff", [("reception", "/reception", PHONE)]),
}
# Texts a person reads as a control's name: buttons, links, menu entries, labels, column heads, placeholders.
_SCREEN_WORDS = """() => {
  const words = [];
  for (const e of document.querySelectorAll('button, a, label, th, h1, h2, option, input[type=submit]')) {
    words.push((e.textContent || e.value || '').replace(/\\s+/g, ' ').trim().replace(/\\s*\\*$/, ''));
  }
  for (const e of document.querySelectorAll('[placeholder]')) words.push(e.getAttribute('placeholder').trim());
  return words.filter(Boolean);
}"""
_GUIDE_WORDS = """() => Array.from(document.querySelectorAll('#user-guide [data-ui]'))
  .map(e => [e.getAttribute('data-ui'), e.textContent.replace(/\\s+/g, ' ').trim()])"""


def save_shot(page, name: str) -> Path:
    """The page as the user sees it on arrival (its first screen), as a small palette PNG."""
    image = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("RGB")
    if image.width > WIDTH:
        image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    GUIDE_STATIC.mkdir(parents=True, exist_ok=True)
    path = GUIDE_STATIC / f"{name}.png"
    image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


@pytest.mark.parametrize("role", list(SHOTS))
def test_guide_pictures_are_the_real_pages_and_name_their_buttons(role, live_server, new_page):
    username, pages = SHOTS[role]
    screen_words: dict[str, set[str]] = {}
    for page_name, path, viewport in pages:
        page = new_page(viewport)
        login(page, live_server, username)
        page.goto(live_server + path)
        page.wait_for_load_state("load")
        name = f"{role}-{page_name}"
        saved = save_shot(page, name)
        assert saved.stat().st_size < 200_000, f"{saved.name} is {saved.stat().st_size} bytes"
        screen_words[name] = set(page.evaluate(_SCREEN_WORDS))
        page.context.close()

    reader = new_page(DESKTOP)
    login(reader, live_server, username)
    reader.goto(f"{live_server}/guide/{role}")
    # The guide's pictures load (a missing one fails the page watch as a 404 image).
    reader.wait_for_load_state("load")
    shown = set(reader.eval_on_selector_all("#user-guide figure[data-shot]", "els => els.map(e => e.dataset.shot)"))
    assert shown == set(screen_words), "the guide's pictures of this role and the pages this test shoots differ"
    images = reader.locator("#user-guide figure img")
    for index in range(images.count()):  # lazy images load when scrolled to, as a reader does
        images.nth(index).scroll_into_view_if_needed()
    reader.wait_for_function("() => Array.from(document.querySelectorAll('#user-guide figure img'))"
                             ".every(i => i.complete && i.naturalWidth > 0)")
    missing = []
    for target, word in reader.evaluate(_GUIDE_WORDS):
        if target in screen_words and word not in screen_words[target]:
            missing.append(f"{target}: “{word}”")
    assert not missing, "the guide names words its screens do not show:\n" + "\n".join(missing)
    named = {target for target, _word in reader.evaluate(_GUIDE_WORDS)}
    assert set(screen_words) <= named, "every picture's page has its buttons named in the guide"
