import pytest
from tests.e2e.support import login
pytestmark = pytest.mark.browser

@pytest.mark.parametrize("user", ["admin", "inspector.q1", "ward.bennghe", "org1.admin"])
def test_explore(app, live_server, new_page, user):
    page = new_page({"width": 1366, "height": 768})
    login(page, live_server, user)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=f"/tmp/d1/{user}-home.png", full_page=True)
    print(user, page.locator("nav.navbar").first.bounding_box(), page.evaluate("document.documentElement.scrollWidth"))
    page.goto(f"{live_server}/admin/auditlog/")
    page.screenshot(path=f"/tmp/d1/{user}-audit.png", full_page=True)
    page.goto(f"{live_server}/admin/user/")
    page.screenshot(path=f"/tmp/d1/{user}-user.png", full_page=True)
