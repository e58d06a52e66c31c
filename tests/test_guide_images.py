"""Every picture a guide template shows exists in backoffice/static/guide (taken by
tests/e2e/test_guide_screens.py), is a small PNG, and no picture there is left unused."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1] / "backoffice"
GUIDES = ROOT / "templates" / "guide"
STATIC = ROOT / "static" / "guide"
_SHOT = re.compile(r"""shot\(\s*['"]([\w.-]+)['"]""")
_STATIC_REF = re.compile(r"""guide/([\w.-]+\.png)""")


def referenced() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for template in sorted(GUIDES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        names = [f"{n}.png" for n in _SHOT.findall(text)] + _STATIC_REF.findall(text)
        for name in names:
            found.setdefault(name, []).append(str(template.relative_to(GUIDES)))
    return found


def test_every_guide_picture_exists_and_is_a_small_png():
    pictures = referenced()
    assert pictures, "the guide shows no picture of the real pages"
    missing = {name: where for name, where in pictures.items() if not (STATIC / name).is_file()}
    assert not missing, f"guide pictures missing from backoffice/static/guide: {missing}"
    for name in pictures:
        with Image.open(STATIC / name) as image:
            assert image.format == "PNG" and image.width >= 300
        assert (STATIC / name).stat().st_size < 200_000, name


def test_no_unused_picture_in_the_guide_folder():
    unused = {p.name for p in STATIC.glob("*.png")} - set(referenced())
    assert not unused, f"pictures no guide shows: {sorted(unused)}"


def test_each_role_guide_serves_its_pictures(app, as_user):
    browser = as_user("admin")
    for role in ("city_admin", "inspector", "ward_officer", "org_admin", "checkpoint_staff"):
        for lang in ("vi", "en"):
            with browser.client.session_transaction() as session:
                session["lang"] = lang
            html = browser.get(f"/guide/{role}").get_data(as_text=True)
            sources = re.findall(r'<img src="([^"]+/guide/[^"]+\.png)"', html)
            assert sources, (role, lang)
            for src in sources:
                assert browser.get(src).status_code == 200, src
    with browser.client.session_transaction() as session:
        session.pop("lang", None)
