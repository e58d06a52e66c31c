"""What the browser journeys share: logging in through the login page, downloads, reading a downloaded PDF's QR."""
from __future__ import annotations

import re
import shutil

from playwright.sync_api import expect

from tests.conftest import DEMO_PASSWORD


def login(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login page as a person would (type, press Enter) and wait to leave it."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def logout(page) -> None:
    page.click("#account-menu")  # the account dropdown at the top right
    page.click("#logout-button")
    page.wait_for_url(re.compile(r"/login"))


def menu(page, category: str, item: str | None = None) -> None:
    """Go somewhere through the top menu, as a person would: open the category, click the item (its text, or
    its address when it starts with "/")."""
    # The menu's scripts run at the end of the page: a click before them opens nothing (a person just waits).
    page.wait_for_load_state("load")
    nav = page.locator("nav .navbar-nav").first
    if item is None:
        entry = nav.locator("a.nav-link", has_text=category)
    else:
        nav.locator("a.dropdown-toggle", has_text=category).first.click()
        entry = nav.locator(f"a.dropdown-item[href='{item}']") if item.startswith("/") else \
            nav.locator("a.dropdown-item", has_text=item)
    with page.expect_navigation():
        entry.first.click()


def download(page, click: str | object) -> tuple[str, bytes]:
    """Click what starts a download (a selector or a locator); the file's suggested name and its bytes."""
    with page.expect_download() as info:
        if isinstance(click, str):
            page.click(click)
        else:
            click.click()
    item = info.value
    assert item.failure() is None, item.failure()
    with open(item.path(), "rb") as handle:
        return item.suggested_filename, handle.read()


def pdf_qr_texts(pdf: bytes) -> list[str] | None:
    """The QR texts on every page of a PDF, rendered by poppler as a viewer would; None without pdftoppm."""
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:], "not a complete PDF"
    if shutil.which("pdftoppm") is None:
        return None
    from pdf_support import pdf_pages_png, qr_texts
    return [text for image in pdf_pages_png(pdf) for text in qr_texts(image)]


def flash(page, kind: str = "success"):
    """The flash message of that kind on the current page (Flask-Admin's 'error' is Bootstrap's 'danger')."""
    return page.locator(f".alert-{kind}")


def expect_no_field_errors(page) -> None:
    expect(page.locator(".invalid-feedback:visible, .is-invalid")).to_have_count(0)
