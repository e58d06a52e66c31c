"""What the load and fault tests found, pinned down by fast tests that run in both CI passes."""
from __future__ import annotations

from datetime import timedelta

from backoffice.extensions import db
from backoffice.models import CheckIn
from backoffice.scanning.payload import issue_personal_payload
from backoffice.scanning.service import record_scan
from backoffice.timeutil import now_utc
from factories import checkpoint, new_person


def test_a_stay_never_ends_before_it_begins(ctx):
    """Two scans of one person at once: the one that computed the later time opens the stay, the other loses the
    race on the open-stay index and extends it with its earlier time. Under load that left rows with last_seen_at
    before checked_in_at (a negative stay for tracing). The extension never moves last_seen_at backwards."""
    person = new_person()
    text = issue_personal_payload(person)
    later = now_utc()
    first = record_scan(text, checkpoint=checkpoint(), method="device", now=later)
    second = record_scan(text, checkpoint=checkpoint(), method="device", now=later - timedelta(seconds=2))
    assert (first.action, second.action, second.checkin_id) == ("check_in", "extended", first.checkin_id)
    db.session.expire_all()
    row = db.session.get(CheckIn, first.checkin_id)
    assert row.scan_count == 2
    assert row.last_seen_at == later >= row.checked_in_at
