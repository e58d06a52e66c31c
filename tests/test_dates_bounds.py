"""Impossible dates are refused, with one set of rules (backoffice.date_bounds) for the field
checks, the admin forms (residents, vaccinations, test results, recoveries) and the resident import: birth dates in
the future or over 120 years ago, vaccinations before the first COVID-19 vaccinations (configurable) or in the future,
test results and recoveries in the future."""
from __future__ import annotations

import io
import secrets
from datetime import date, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from backoffice import date_bounds
from backoffice.extensions import db
from backoffice.models import Person, Recovery, TestResult, Vaccination
from backoffice.timeutil import local_today, now_utc
from factories import new_id_number, new_person
from pages_support import explain
from imports_support import xlsx


# --- the rules themselves ----------------------------------------------------------------------------------

def test_birth_dates(ctx):
    today = date(2021, 10, 15)
    assert date_bounds.birth_date(date(1990, 1, 15), today) == date(1990, 1, 15)
    assert date_bounds.birth_date(today, today) == today  # born today
    assert date_bounds.birth_date(date(1901, 10, 15), today)  # exactly 120 years
    with pytest.raises(date_bounds.DateOutOfBounds, match="tương lai"):
        date_bounds.birth_date(date(2030, 1, 1), today)
    with pytest.raises(date_bounds.DateOutOfBounds, match="120 năm"):
        date_bounds.birth_date(date(1901, 10, 14), today)


def test_vaccination_dates(ctx):
    today = date(2021, 10, 15)
    assert date_bounds.vaccination_date(date(2020, 12, 1), today)
    assert date_bounds.vaccination_date(today, today)
    with pytest.raises(date_bounds.DateOutOfBounds, match="bắt đầu tiêm vắc xin COVID-19"):
        date_bounds.vaccination_date(date(2020, 11, 30), today)
    with pytest.raises(date_bounds.DateOutOfBounds, match="tương lai"):
        date_bounds.vaccination_date(today + timedelta(days=1), today)


def test_the_earliest_vaccination_day_and_the_age_are_configurable(ctx):
    config = current_app.config
    saved = {k: config.get(k) for k in ("BACKOFFICE_EARLIEST_VACCINATION", "BACKOFFICE_MAX_AGE_YEARS")}
    try:
        config["BACKOFFICE_EARLIEST_VACCINATION"] = "2020-07-22"  # as the environment gives it: text
        config["BACKOFFICE_MAX_AGE_YEARS"] = 110
        assert date_bounds.vaccination_date(date(2020, 8, 1), date(2021, 1, 1))
        with pytest.raises(date_bounds.DateOutOfBounds, match="22/07/2020"):
            date_bounds.vaccination_date(date(2020, 7, 21), date(2021, 1, 1))
        with pytest.raises(date_bounds.DateOutOfBounds, match="110 năm"):
            date_bounds.birth_date(date(1910, 1, 1), date(2021, 1, 1))
    finally:
        for key, value in saved.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value


def test_test_results_and_recoveries(ctx):
    now = now_utc()
    assert date_bounds.test_time(now - timedelta(minutes=1), now)
    assert date_bounds.recovery_date(local_today())
    with pytest.raises(date_bounds.DateOutOfBounds, match="tương lai"):
        date_bounds.test_time(now + timedelta(hours=1), now)
    with pytest.raises(date_bounds.DateOutOfBounds, match="tương lai"):
        date_bounds.recovery_date(local_today() + timedelta(days=1))


# --- admin forms -------------------------------------------------------------------------------------------

def _resident() -> Person:
    return new_person("Đỗ Văn Ngày", 26740, green=False, birth_date=None, id_number=new_id_number("0794"))


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_admin_resident_form_refuses_a_birth_date_in_2030(as_user, ctx):
    officer = as_user("ward.bennghe")
    id_number = "0795" + "".join(secrets.choice("0123456789") for _ in range(8))
    form = {"full_name": "Vũ Sinh Sau", "id_type": "cccd", "id_number": id_number, "birth_date": "2030-01-01",
            "gender": "", "phone": "", "address": "", "ward": "26740"}
    response = officer.post_form("/admin/person/new/", form)
    assert response.status_code == 200
    assert "Ngày sinh không thể ở tương lai (01/01/2030)." in response.get_data(as_text=True)
    assert _count(Person, Person.id_number == id_number) == 0
    response = officer.post_form("/admin/person/new/", {**form, "birth_date": "1890-05-05"})
    assert "Ngày sinh cách đây hơn 120 năm (05/05/1890) là không hợp lý." in response.get_data(as_text=True)
    assert _count(Person, Person.id_number == id_number) == 0
    response = officer.post_form("/admin/person/new/", {**form, "birth_date": "1990-05-05"})
    assert response.status_code == 302, explain(response)
    assert _count(Person, Person.id_number == id_number) == 1


def test_admin_health_record_forms_refuse_impossible_dates(as_user, ctx):
    officer = as_user("ward.bennghe")
    person = _resident()
    tomorrow = local_today() + timedelta(days=1)
    for day, message in ((date(2020, 6, 1), "sớm hơn thời điểm bắt đầu tiêm vắc xin COVID-19 (01/12/2020)"),
                         (tomorrow, "Ngày tiêm không thể ở tương lai")):
        response = officer.post_form("/admin/vaccination/new/", {"person": person.id, "vaccine": "pfizer",
                                                                 "dose_number": "1",
                                                                 "vaccinated_on": day.isoformat()})
        assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert _count(Vaccination, Vaccination.person_id == person.id) == 0
    response = officer.post_form("/admin/recovery/new/", {"person": person.id, "recovered_on": tomorrow.isoformat()})
    assert response.status_code == 200 and "Ngày khỏi bệnh không thể ở tương lai" in response.get_data(as_text=True)
    assert _count(Recovery, Recovery.person_id == person.id) == 0
    later = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    response = officer.post_form("/admin/testresult/new/", {"person": person.id, "kind": "pcr", "result": "negative",
                                                            "tested_at": later})
    assert response.status_code == 200 and "Thời điểm xét nghiệm không thể ở tương lai" in response.get_data(as_text=True)
    assert _count(TestResult, TestResult.person_id == person.id) == 0
    # A plausible dose is stored.
    response = officer.post_form("/admin/vaccination/new/", {"person": person.id, "vaccine": "pfizer",
                                                             "dose_number": "1", "vaccinated_on": "2021-08-02"})
    assert response.status_code == 302, explain(response)
    assert _count(Vaccination, Vaccination.person_id == person.id) == 1


# --- the resident import -----------------------------------------------------------------------------------

def test_resident_import_refuses_impossible_dates_at_their_cells(as_user, ctx):
    officer = as_user("ward.bennghe")
    base = "/admin/imports/residents/"
    born_later, dosed_early, dosed_later = ("0796" + "".join(secrets.choice("0123456789") for _ in range(8))
                                            for _ in range(3))
    later = (local_today() + timedelta(days=3)).strftime("%d/%m/%Y")
    data = xlsx([["Họ và tên", "Số CCCD", "Ngày sinh", "Mũi 1 - Loại vắc xin", "Mũi 1 - Ngày tiêm"],
                 ["Sinh Năm Ba Mươi", born_later, "01/01/2030", "Pfizer", "01/08/2021"],
                 ["Tiêm Quá Sớm", dosed_early, "01/01/1980", "Pfizer", "15/06/2020"],
                 ["Tiêm Ngày Mai", dosed_later, "01/01/1980", "Pfizer", later]])
    response = officer.post_form(base + "upload", {"file": (io.BytesIO(data), "ngay.xlsx")}, token_from=base,
                                 content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    url = response.headers["Location"]
    page = officer.get(url).get_data(as_text=True)
    assert "C2" in page and "Ngày sinh không thể ở tương lai (01/01/2030)." in page
    assert "E3" in page and "Ngày 15/06/2020 sớm hơn thời điểm bắt đầu tiêm vắc xin COVID-19" in page
    assert "E4" in page and f"Ngày tiêm không thể ở tương lai ({later})." in page
    officer.post_form(url + "confirm", {"mode": "skip"}, token_from=url)
    assert _count(Person, Person.id_number.in_([born_later, dosed_early, dosed_later])) == 0
