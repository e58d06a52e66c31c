"""Each contact listed once (their overlaps aggregated) in the page and the
exports, no stay ending in the future ("đang ở"), colours in words, the case's title naming the person once, the
form pre-filled with the confirmation time (now, city time) and its picker in the page's language."""
from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from backoffice.extensions import db
from backoffice.models import CheckIn, Location, TraceCase
from backoffice.models import TestResult as TestResultRow
from backoffice.timeutil import LOCAL_TZ
from backoffice.tracing import service
from conftest import get_user
from factories import add_person, demo_org

H = timedelta(hours=1)
M = timedelta(minutes=1)


@dataclass
class Traced:
    case_id: int
    case_name: str
    case_id_number: str
    twice: int  # overlapped three times at two places
    twice_name: str
    still_there: int  # an open stay begun half an hour ago, beside the case's own open stay
    black: int  # scanned black
    now: datetime


def _stay(person, location, start, end, colour="green", last_seen=None):
    db.session.add(CheckIn(person_id=person.id, organization_id=location.organization_id, location_id=location.id,
                           checked_in_at=start, last_seen_at=last_seen or start, checked_out_at=end,
                           status_colour=colour, method="scanner"))


@pytest.fixture(scope="module")
def traced(app) -> Traced:
    with app.app_context():
        org1 = demo_org("org1")
        tag = secrets.token_hex(3)
        hall, kitchen = Location(organization_id=org1.id, name=f"Sảnh {tag}"), \
            Location(organization_id=org1.id, name=f"Bếp {tag}")
        db.session.add_all([hall, kitchen])
        case = add_person(f"Ca Bệnh Gộp {tag}")
        twice, still, black = add_person(f"Gặp Nhiều Lần {tag}"), add_person(f"Vẫn Đang Ở {tag}"), \
            add_person(f"Quét Màu Đen {tag}")
        db.session.flush()
        now = datetime.now(timezone.utc).replace(microsecond=0)
        base = now - timedelta(days=2)
        _stay(case, hall, base, base + H)
        _stay(case, hall, base + 3 * H, base + 4 * H)
        _stay(case, kitchen, base + 6 * H, base + 7 * H)
        _stay(case, hall, now - H, None, last_seen=now - H)  # the case is still in the hall
        _stay(twice, hall, base + 10 * M, base + 50 * M)
        _stay(twice, hall, base + 3 * H + 10 * M, base + 3 * H + 30 * M, colour="black")
        _stay(twice, kitchen, base + 6 * H + 5 * M, base + 6 * H + 20 * M)
        _stay(still, hall, now - 30 * M, None, last_seen=now - 30 * M)  # presumed until now + 7.5 h
        _stay(black, kitchen, base + 6 * H, base + 6 * H + 30 * M, colour="black")
        db.session.execute(insert(TestResultRow), [{"person_id": case.id, "kind": "pcr", "result": "positive",
                                                    "tested_at": now - timedelta(hours=2)}])
        db.session.commit()
        result = service.open_case(get_user("inspector.q1"), case.id, confirmed_at=now - timedelta(minutes=1))
        return Traced(result.case.id, case.full_name, case.id_number, twice.id, twice.full_name, still.id,
                      black.id, now)


def test_each_contact_once_with_overlaps_aggregated(app, traced):
    with app.app_context():
        result = service.trace(db.session.get(TraceCase, traced.case_id))
        assert sum(c.person_id == traced.twice for c in result.contacts) == 3  # three stays overlapped
        people = {p.person_id: p for p in result.contact_people()}
        assert len(people) == len(result.contact_people()) == result.people == 3
        twice = people[traced.twice]
        assert twice.stays == 3 and len(twice.places) == 2
        assert twice.first < twice.last and twice.colour == "green"  # the colour of the latest scan
        assert not twice.ongoing


def test_no_stay_ends_in_the_future(app, traced):
    with app.app_context():
        result = service.trace(db.session.get(TraceCase, traced.case_id))
        now = datetime.now(timezone.utc)
        assert all(v.end <= now for v in result.visits) and all(c.end <= now for c in result.contacts)
        assert [v.ongoing for v in result.visits] == [False, False, False, True]
        still = {p.person_id: p for p in result.contact_people()}[traced.still_there]
        assert still.ongoing and still.last <= now
        # The rule itself: an open stay whose presumed end is ahead ends now; a closed one keeps its end.
        start = now - 30 * M
        assert service.shown_end(start, start, None, now) == (now, True)
        assert service.shown_end(start, start, start + 10 * M, now) == (start + 10 * M, False)


def test_case_page_lists_people_once_in_words(traced, as_user):
    page = as_user("inspector.q1").get(f"/admin/tracing/{traced.case_id}").get_data(as_text=True)
    assert page.count(f'data-person="{traced.twice}"') == 1
    row = re.search(rf'<tr data-person="{traced.twice}">(.*?)</tr>', page, re.S).group(1)
    assert 'data-stays="3"' in row and row.count("<div>") == 2  # three stays at two places
    assert "Màu xanh" in row
    black = re.search(rf'<tr data-person="{traced.black}">(.*?)</tr>', page, re.S).group(1)
    assert "Màu đen" in black and ">black<" not in black
    still = re.search(rf'<tr data-person="{traced.still_there}">(.*?)</tr>', page, re.S).group(1)
    assert "đang ở" in still
    assert ">green<" not in page and ">black<" not in page
    title = re.search(r'<h1[^>]*id="case-title"[^>]*>(.*?)</h1>', page, re.S).group(1)
    assert title.count(traced.case_name) == 1 and traced.case_id_number[-4:] in title


def test_exports_list_people_once_in_words(traced, as_user):
    inspector = as_user("inspector.q1")
    ws = load_workbook(io.BytesIO(inspector.get(f"/admin/tracing/{traced.case_id}/export.xlsx").data)).active
    header = [c.value for c in ws[1]]
    rows = {r[0]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 3
    twice = rows[traced.twice_name]
    assert twice["Số lần ở"] == 3 and twice["Màu khi quét gần nhất"] == "Màu xanh"
    assert twice["Địa điểm"].count("—") == 2
    naive_now = datetime.now(LOCAL_TZ).replace(tzinfo=None)
    for row in rows.values():
        assert row["Màu khi quét gần nhất"] in ("Màu xanh", "Màu đen")
        assert row["Tiếp xúc cuối"] == "đang ở" or row["Tiếp xúc cuối"] <= naive_now
    assert sum(r["Tiếp xúc cuối"] == "đang ở" for r in rows.values()) == 1
    text = inspector.get(f"/admin/tracing/{traced.case_id}/export.csv").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert len(lines) == 4 and not {"green", "black"} & {cell for line in lines for cell in line}


def test_new_case_form_prefills_now_in_city_time(as_user):
    page = as_user("inspector.q1").get("/admin/tracing/").get_data(as_text=True)
    tag = re.search(r'<input[^>]*id="confirmed_at"[^>]*>', page).group(0)
    value = datetime.strptime(re.search(r'value="([^"]+)"', tag).group(1), "%Y-%m-%dT%H:%M")
    local_now = datetime.now(LOCAL_TZ).replace(tzinfo=None)
    assert timedelta(0) <= local_now - value < timedelta(minutes=2)
    assert 'lang="vi"' in tag and 'type="datetime-local"' in tag
