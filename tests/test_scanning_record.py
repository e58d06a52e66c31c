"""Scanning at reception and by devices: colours and reasons, check-ins, dedup (also concurrent), exit and manual
check-out, automatic check-out, purge with daily counts, device tokens."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import CheckIn, CheckInDaily, DeviceToken
from backoffice.scanning import devices
from backoffice.scanning.payload import issue_personal_payload
from backoffice.scanning.service import record_scan
from conftest import demo_days_ago, get_user, post_json
from factories import checkpoint, new_person, org1, person


def test_reception_scan_of_demo_residents(app, as_user, seed_day):
    staff = as_user("org1.staff")
    with app.app_context():
        cp = checkpoint().id
        texts = {n: issue_personal_payload(person(n)) for n in ("079090000001", "079190000002")}
    page = staff.get("/reception/")
    assert page.status_code == 200 and 'id="scan-input"' in page.get_data(as_text=True)
    green = post_json(staff, "/reception/scan", {"text": texts["079090000001"] + "\r\n", "checkpoint": cp})
    assert green.status_code in (200, 201), green.get_json()
    body = green.get_json()
    assert body["colour"] == "green" and body["id_masked"] == "********0001" and "birth_year" not in body
    assert body["signed"] is True and body["checkin_id"]
    black = post_json(staff, "/reception/scan", {"text": texts["079190000002"], "checkpoint": cp}).get_json()
    one_dose = f"1 mũi, {demo_days_ago(9, seed_day)} ngày — chưa đủ 14 ngày"
    assert (black["colour"], black["reason"]) == ("black", one_dose)
    with app.app_context():
        row = db.session.get(CheckIn, body["checkin_id"])
        assert (row.method, row.recorded_by_id, row.status_colour) == ("scanner", get_user("org1.staff").id, "green")
    recent = staff.get(f"/reception/recent?checkpoint={cp}").get_json()["scans"]
    assert any(s["id"] == body["checkin_id"] for s in recent)


def test_national_1405_text_is_matched_and_marked_unsigned(ctx):
    p = new_person()
    text = f"{p.id_number}|VO THI KIEM THU|1980-05-06|0|{p.id}9999999|<2<00<0909000000"
    result = record_scan(text, checkpoint=checkpoint(), method="scanner")
    assert (result.colour, result.signed) == ("green", False)
    assert db.session.get(CheckIn, result.checkin_id).signed is False


def test_rescan_within_window_extends_and_later_opens_a_new_stay(ctx):
    p = new_person()
    text = issue_personal_payload(p)
    t0 = datetime.now(timezone.utc)
    first = record_scan(text, checkpoint=checkpoint(), method="scanner", now=t0)
    again = record_scan(text, checkpoint=checkpoint(), method="scanner", now=t0 + timedelta(minutes=10))
    assert (first.action, again.action, again.checkin_id) == ("check_in", "extended", first.checkin_id)
    row = db.session.get(CheckIn, first.checkin_id)
    db.session.refresh(row)
    assert row.scan_count == 2 and row.last_seen_at == t0 + timedelta(minutes=10)
    later = record_scan(text, checkpoint=checkpoint(), method="scanner", now=t0 + timedelta(hours=2))
    assert later.action == "check_in" and later.checkin_id != first.checkin_id
    db.session.refresh(row)
    assert row.checked_out_at is not None


def test_exit_checkpoint_and_manual_check_out(ctx):
    p = new_person()
    text = issue_personal_payload(p)
    entered = record_scan(text, checkpoint=checkpoint("entry"), method="scanner")
    left = record_scan(text, checkpoint=checkpoint("exit"), method="scanner")
    assert (left.action, left.checkin_id) == ("check_out", entered.checkin_id)
    assert db.session.get(CheckIn, entered.checkin_id).checkout_reason == "exit"
    assert record_scan(text, checkpoint=checkpoint("exit"), method="scanner").action == "no_open_stay"
    again = record_scan(text, checkpoint=checkpoint("entry"), method="scanner")
    from backoffice.scanning.checkins import check_out
    closed = check_out(again.checkin_id, user=get_user("org1.admin"))
    assert closed.checkout_reason == "manual"


def test_staff_and_visitors_are_told_apart(ctx):
    from backoffice.models import Staff
    staff_person_id = db.session.scalar(select(Staff.person_id).where(
        Staff.organization_id == org1().id, Staff.person_id.is_not(None)))
    from backoffice.models import Person
    result = record_scan(issue_personal_payload(db.session.get(Person, staff_person_id)), checkpoint=checkpoint(),
                         method="scanner")
    assert result.staff is True
    assert record_scan(issue_personal_payload(new_person()), checkpoint=checkpoint(), method="scanner").staff is False


def test_two_simultaneous_scans_leave_one_check_in(app):
    with app.app_context():
        p = new_person()
        text, cp_id, person_id = issue_personal_payload(p), checkpoint().id, p.id
    threads_count, rounds = 6, 3
    errors: list[BaseException] = []
    for _ in range(rounds):
        barrier = threading.Barrier(threads_count)

        def scan():
            try:
                with app.app_context():
                    from backoffice.models import Checkpoint
                    cp = db.session.get(Checkpoint, cp_id)
                    barrier.wait()
                    record_scan(text, checkpoint=cp, method="device")
            except BaseException as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)

        workers = [threading.Thread(target=scan) for _ in range(threads_count)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert errors == []
    with app.app_context():
        rows = db.session.execute(select(CheckIn.id, CheckIn.scan_count).where(CheckIn.person_id == person_id)).all()
        assert len(rows) == 1 and rows[0].scan_count == threads_count * rounds


def test_auto_checkout_and_purge_keep_daily_counts(ctx):
    from backoffice.scanning.checkins import auto_checkout, purge_checkins
    green, black = new_person(dose_days_ago=200), new_person(green=False)
    long_ago = datetime.now(timezone.utc) - timedelta(days=90)
    for p in (green, black):
        record_scan(issue_personal_payload(p, now=long_ago), checkpoint=checkpoint(), method="scanner", now=long_ago)
    earlier = datetime.now(timezone.utc) - timedelta(hours=20)
    stale = record_scan(issue_personal_payload(new_person(), now=earlier), checkpoint=checkpoint(), method="scanner",
                        now=earlier)
    # The black one was refused at the door: a closed door scan, nothing to check out.
    assert auto_checkout() >= 2
    row = db.session.get(CheckIn, stale.checkin_id)
    db.session.refresh(row)
    assert row.checkout_reason == "auto" and row.checked_out_at == row.last_seen_at + timedelta(hours=8)
    location_id = checkpoint().location_id
    from backoffice.timeutil import to_local
    day = to_local(long_ago).date()
    before = db.session.get(CheckInDaily, (location_id, day))
    base = (before.total, before.green, before.black) if before else (0, 0, 0)
    deleted, _, _ = purge_checkins(60)
    assert deleted >= 2
    assert db.session.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.person_id.in_([green.id, black.id]))) == 0
    daily = db.session.get(CheckInDaily, (location_id, day))
    db.session.refresh(daily)
    assert (daily.total - base[0], daily.green - base[1], daily.black - base[2]) == (2, 1, 1)
    assert db.session.get(CheckIn, stale.checkin_id) is not None  # recent ones are kept


def test_purge_command(app):
    result = app.test_cli_runner().invoke(args=["checkins", "purge", "--older-than-days", "60"])
    assert result.exit_code == 0 and "Purged" in result.output


def test_device_token_lifecycle_and_api(app, as_user):
    admin = as_user("org1.admin")
    with app.app_context():
        cp = checkpoint()
        cp_id, other_cp = cp.id, checkpoint("exit").id
        text = issue_personal_payload(new_person())
    page = admin.get("/admin/devicetoken/new/")
    assert page.status_code == 200
    created = admin.post_form("/admin/devicetoken/new/", {"name": "Máy quét cổng", "checkpoint": str(cp_id)},
                              token_from="/admin/devicetoken/new/")
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and devices.TOKEN_PREFIX in html
    secret = html.split('id="device-secret">')[1].split("<")[0].strip()
    with app.app_context():
        token = db.session.scalar(select(DeviceToken).where(DeviceToken.token_hash == devices.hash_secret(secret)))
        assert token is not None and secret not in (token.token_prefix + token.token_hash)
        token_id = token.id
    client = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    ok = client.post("/api/v1/scans", json={"payload": text, "checkpoint": cp_id}, headers=auth)
    assert ok.status_code == 201 and ok.get_json()["colour"] == "green"
    wrong_cp = client.post("/api/v1/scans", json={"payload": text, "checkpoint": other_cp}, headers=auth)
    assert wrong_cp.status_code == 404 and wrong_cp.get_json()["error"]["code"] == "unknown_checkpoint"
    # another organization's admin cannot revoke it; the owner can
    assert as_user("org2.admin").post_form(f"/admin/devicetoken/revoke/{token_id}").status_code == 404
    assert admin.post_form(f"/admin/devicetoken/revoke/{token_id}").status_code == 302
    revoked = client.post("/api/v1/scans", json={"payload": text}, headers=auth)
    assert revoked.status_code == 401 and revoked.get_json()["error"]["code"] == "revoked_token"
    # staff cannot create tokens
    assert as_user("org1.staff").get("/admin/devicetoken/new/").status_code == 403


def test_keys_endpoint(app):
    body = app.test_client().get("/api/v1/keys").get_json()
    assert body["keys"] and all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in body["keys"])
    assert any(k["signing"] for k in body["keys"])


def test_device_scans_at_entry_and_exit_checkpoints_and_at_a_closed_one(app):
    """The device path resolves its checkpoint, location and organization from the token in one row: entry and
    exit behave as at reception, a deactivated checkpoint refuses, and the answer names where it happened."""
    with app.app_context():
        admin = get_user("org1.admin")
        entry, leave = checkpoint(), checkpoint("exit")
        names = (entry.location.name, entry.name, leave.name)
        entry_secret = devices.create_device_token(entry.id, "vào", user=admin)[1]
        exit_secret = devices.create_device_token(leave.id, "ra", user=get_user("org1.admin"))[1]
        text = issue_personal_payload(new_person())
    client = app.test_client()

    def scan(secret):
        return client.post("/api/v1/scans", json={"payload": text}, headers={"Authorization": f"Bearer {secret}"})

    came = scan(entry_secret)
    assert came.status_code == 201
    assert (came.get_json()["location"], came.get_json()["checkpoint"]) == names[:2]
    left = scan(exit_secret).get_json()
    assert (left["action"], left["checkin_id"], left["checkpoint"]) == ("check_out", came.get_json()["checkin_id"],
                                                                         names[2])
    with app.app_context():
        checkpoint().active = False
        db.session.commit()
        before = db.session.scalar(select(func.count(CheckIn.id)))
    try:
        closed = scan(entry_secret)
        assert closed.status_code == 409
        assert closed.get_json()["error"]["code"] == "checkpoint_inactive"
        with app.app_context():
            assert db.session.scalar(select(func.count(CheckIn.id))) == before
    finally:
        with app.app_context():
            cp = checkpoint()
            cp.active = True
            db.session.commit()


def test_the_scan_reads_doses_and_recoveries_as_of_the_scan_day(ctx):
    """The scan reads the person with their records in one query; what it decides must equal `colours_for`:
    doses after the scan day are ignored, the latest recovery up to that day counts, other persons' records
    never leak in."""
    from backoffice.models import Recovery, Vaccination
    from backoffice.health import status as health
    at = datetime(2021, 11, 1, 3, 0, tzinfo=timezone.utc)
    day = health.scan_day(at)
    subject, neighbour = new_person(green=False), new_person(green=True)
    db.session.add_all([
        Vaccination(person_id=subject.id, vaccine="pfizer", dose_number=1, vaccinated_on=day - timedelta(days=9)),
        Vaccination(person_id=subject.id, vaccine="pfizer", dose_number=2, vaccinated_on=day + timedelta(days=5)),
        Recovery(person_id=subject.id, recovered_on=day - timedelta(days=400)),
        Recovery(person_id=subject.id, recovered_on=day + timedelta(days=1)),
        Recovery(person_id=neighbour.id, recovered_on=day - timedelta(days=3)),
    ])
    db.session.commit()
    expected = health.colours_for([subject.id], at)[subject.id]
    result = record_scan(issue_personal_payload(subject, now=at), checkpoint=checkpoint(), method="scanner", now=at)
    assert (result.colour, result.reason, result.rule_version) == (expected.colour, expected.reason,
                                                                  expected.rule_version)
    assert result.colour == "black" and "9" in result.reason  # one dose 9 days before: not yet 14 days
    db.session.add(Recovery(person_id=subject.id, recovered_on=day - timedelta(days=20)))
    db.session.commit()
    later = record_scan(issue_personal_payload(subject, now=at), checkpoint=checkpoint(), method="scanner",
                        now=at + timedelta(minutes=1))
    assert later.colour == "green" == health.colours_for([subject.id], at)[subject.id].colour
