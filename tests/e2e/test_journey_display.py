"""In a real browser at 1366 × 768 (a common office laptop): the menu keeps to one row and the
page never scrolls sideways, for every role; the home's figure cards keep a figure's size (a word in a card is set
smaller so the card stays one line high); every chart link says which chart it downloads."""
from __future__ import annotations

import pytest

from tests.e2e.support import login

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}


@pytest.mark.parametrize("user", ["admin", "inspector.q1", "ward.bennghe", "org1.admin", "org1.staff"])
def test_the_menu_keeps_to_one_row_at_1366_px(live_server, new_page, user):
    page = new_page(LAPTOP)
    login(page, live_server, user)
    page.wait_for_load_state("load")
    brand = page.locator("nav.navbar .navbar-brand").first.bounding_box()
    items = page.locator("nav.navbar .nav-link:visible")
    assert items.count() >= 2
    tops = {round(items.nth(i).bounding_box()["y"]) for i in range(items.count())}
    heights = {round(items.nth(i).bounding_box()["height"]) for i in range(items.count())}
    assert max(tops) - min(tops) <= 4, f"menu items on several rows: {sorted(tops)}"
    assert max(heights) < 2 * brand["height"], "a menu item wraps inside"
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]


@pytest.mark.parametrize("user", ["admin", "inspector.q1"])
def test_home_cards_keep_their_size_and_chart_links_say_what_they_are(live_server, new_page, user):
    page = new_page(LAPTOP)
    login(page, live_server, user)
    page.goto(f"{live_server}/admin/reports/")
    page.wait_for_load_state("load")
    cards = page.locator(".stat-card .display-4")
    assert cards.count() >= 3
    line = max(cards.nth(i).bounding_box()["height"] for i in range(cards.count()) if
               "stat-words" not in (cards.nth(i).get_attribute("class") or ""))
    for i in range(cards.count()):
        assert cards.nth(i).bounding_box()["height"] <= line + 2, cards.nth(i).inner_text()
    links = page.locator("figure figcaption a")
    assert links.count() >= 2
    for i in range(links.count()):
        text = links.nth(i).inner_text()
        assert text.startswith("Tải biểu đồ") and "SVG" in text and text != "SVG", text
        assert links.nth(i).get_attribute("download") is not None
