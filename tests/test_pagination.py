"""Every list pages the same way (templates/_pagination.html): previous, "page N of M" and next, in the reader's
language, each address keeping the list's filters; a single page shows no pager."""
from __future__ import annotations

import re

from flask import render_template_string
from sqlalchemy import delete

from backoffice.extensions import db
from backoffice.models import ImportRecord
from backoffice.timeutil import now_utc
from conftest import get_user
from pages_support import vi

PAGER = "{% from '_pagination.html' import pager %}{{ pager(page, pages, endpoint, args) }}"


def _links(html: str) -> dict[str, str]:
    return {rel: href.replace("&amp;", "&") for rel, href in re.findall(r'rel="(prev|next)" href="([^"]+)"', html)}


def test_a_middle_page_links_both_ways_keeping_the_filters(app):
    with app.test_request_context("/"):
        html = render_template_string(PAGER, page=2, pages=3, endpoint="import_organizations.show",
                                      args={"record_id": 7, "status": "error"})
    links = _links(html)
    assert links["prev"].endswith("/7/?status=error&page=1") and links["next"].endswith("/7/?status=error&page=3")
    assert vi("Page %(page)d of %(pages)d", page=2, pages=3) in html


def test_first_and_last_pages_link_one_way_and_one_page_shows_none(app):
    with app.test_request_context("/"):
        first = render_template_string(PAGER, page=1, pages=2, endpoint="import_organizations.index", args={})
        last = render_template_string(PAGER, page=2, pages=2, endpoint="import_organizations.index", args={})
        single = render_template_string(PAGER, page=1, pages=1, endpoint="import_organizations.index", args={})
    assert set(_links(first)) == {"next"} and set(_links(last)) == {"prev"}
    assert "pagination" not in single


def test_the_import_history_pages_past_twenty(app, ctx, as_user):
    admin = get_user("admin")
    db.session.add_all(ImportRecord(kind="organizations", filename=f"trang-{i}.xlsx", file_sha256="0" * 64,
                                    state="rejected", options={"message": "x"}, counts={},
                                    created_by_id=admin.id, created_at=now_utc()) for i in range(21))
    db.session.commit()
    try:
        page = as_user("admin").get("/admin/imports/organizations/").get_data(as_text=True)
        assert _links(page)["next"].endswith("/admin/imports/organizations/?page=2")
        second = as_user("admin").get("/admin/imports/organizations/?page=2").get_data(as_text=True)
        assert "prev" in _links(second)
    finally:  # the suite's other history tests count their own imports
        db.session.execute(delete(ImportRecord).where(ImportRecord.filename.like("trang-%.xlsx")))
        db.session.commit()
