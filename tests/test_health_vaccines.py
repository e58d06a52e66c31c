"""Vaccine products come from one vocabulary, the rule file's `vaccines:` (code, name, synonyms).
Typed names resolve case-, space-, punctuation- and diacritic-insensitively; the admin form offers a select list;
the resident import maps names and refuses an unknown product at its cell; migration 0009 maps stored spellings
(and keeps, and lists, what it cannot map); a dose typed "AstraZeneca" 20 days ago makes its resident green."""
from __future__ import annotations

import io
import os
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from backoffice.extensions import db
from backoffice.models import Person, Vaccination
from backoffice.health import status as health
from backoffice.health import rules as health_rules
from backoffice.health import tally as health_tally
from backoffice.health import vaccines
from backoffice.timeutil import local_today, now_utc
from factories import new_id_number, new_person
from pages_support import dedicated_app, explain, select_options
from imports_support import xlsx

RULE_FILE = Path(__file__).resolve().parent.parent / "rules" / "health_status" / "hcm-1913.yaml"


@pytest.mark.parametrize("typed, code", [
    ("AstraZeneca", "astrazeneca"), ("Astra Zeneca", "astrazeneca"), ("ASTRA-ZENECA", "astrazeneca"),
    ("vaxzevria", "astrazeneca"), ("AZ", "astrazeneca"), ("ChAdOx1", "astrazeneca"), (" astrazeneca ", "astrazeneca"),
    ("Pfizer", "pfizer"), ("Comirnaty", "pfizer"), ("BioNTech", "pfizer"), ("Spikevax", "moderna"),
    ("Vero Cell", "sinopharm"), ("verocell", "sinopharm"), ("BBIBP-CorV", "sinopharm"), ("Sputnik", "sputnik_v"),
    ("sputnik_v", "sputnik_v"), ("Gam-COVID-Vac", "sputnik_v"), ("CIGB-66", "abdala"), ("Ábdala", "abdala"),
    ("Johnson & Johnson", "janssen"), ("J&J", "janssen"), ("j & j", "janssen"), ("Ad26.COV2.S", "janssen"),
])
def test_typed_names_resolve_to_codes(ctx, typed, code):
    assert vaccines.resolve(typed) == code


@pytest.mark.parametrize("typed", ["Covaxin", "", "   ", None, "vắc xin"])
def test_an_unknown_product_is_refused_naming_the_known_ones(ctx, typed):
    with pytest.raises(vaccines.UnknownVaccine) as caught:
        vaccines.resolve(typed)
    assert "AstraZeneca (Vaxzevria)" in str(caught.value) and "Janssen" in str(caught.value)


def test_every_product_of_the_rules_is_in_the_vocabulary(ctx):
    rule_set = health_rules.rule_set_for(local_today())
    assert [code for code, _name in vaccines.vocabulary().choices()] == list(rule_set.spec.vaccines)


def _rule_file(tmp_path: Path, old: str, new: str) -> Path:
    source = RULE_FILE.read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / "hcm-1913.yaml"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_schema_refuses_a_synonym_of_two_products(tmp_path):
    # "Vaxzevria" given to Pfizer too; and a spelling that only differs by case and spaces counts as the same.
    path = _rule_file(tmp_path, '"Comirnaty", ', '"Comirnaty", "vax zevria", ')
    rule_set, problems = health_rules.load_file(path)
    assert rule_set is None
    assert any("vax zevria" in p.message and "astrazeneca" in p.message for p in problems), problems


def test_the_schema_refuses_a_code_the_column_cannot_hold(tmp_path):
    path = _rule_file(tmp_path, "  abdala:\n", "  Abdala-Cuba:\n")
    rule_set, problems = health_rules.load_file(path)
    assert rule_set is None and any("Abdala-Cuba" in p.message for p in problems), problems


# --- the admin form ------------------------------------------------------------------------------------------

def _resident() -> Person:
    return new_person("Trần Thị Vắc Xin", 26740, green=False, birth_date=None, id_number=new_id_number("0792"))


def test_admin_form_offers_the_vocabulary_and_refuses_free_text(as_user, ctx):
    officer = as_user("ward.bennghe")
    options = select_options(officer.get("/admin/vaccination/new/").get_data(as_text=True), "vaccine")
    assert options[:2] == [("astrazeneca", "AstraZeneca (Vaxzevria)"), ("pfizer", "Pfizer-BioNTech (Comirnaty)")]
    assert len(options) == 7
    person = _resident()
    day = (local_today() - timedelta(days=20)).isoformat()
    refused = officer.post_form("/admin/vaccination/new/", {"person": person.id, "vaccine": "AstraZeneca",
                                                            "dose_number": "1", "vaccinated_on": day})
    assert refused.status_code == 200
    assert db.session.scalar(select(Vaccination.id).where(Vaccination.person_id == person.id)) is None
    stored = officer.post_form("/admin/vaccination/new/", {"person": person.id, "vaccine": "astrazeneca",
                                                           "dose_number": "1", "vaccinated_on": day})
    assert stored.status_code == 302, explain(stored)
    db.session.expire_all()
    assert [v.vaccine for v in db.session.get(Person, person.id).vaccinations] == ["astrazeneca"]
    assert health.evaluate(db.session.get(Person, person.id), now_utc()).green
    # The list names the product, not its code.
    page = officer.get("/admin/vaccination/").get_data(as_text=True)  # newest first
    assert "AstraZeneca (Vaxzevria)" in page


# --- the resident import -------------------------------------------------------------------------------------

def _upload(browser, data: bytes) -> str:
    base = "/admin/imports/residents/"
    response = browser.post_form(base + "upload", {"file": (io.BytesIO(data), "cu-dan.xlsx")}, token_from=base,
                                 content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def _new_ids(n: int) -> list[str]:
    ids = []
    while len(ids) < n:
        candidate = "0793" + "".join(secrets.choice("0123456789") for _ in range(8))
        if candidate not in ids and db.session.scalar(select(Person.id).where(Person.id_number == candidate)) is None:
            ids.append(candidate)
    return ids


def test_import_maps_names_and_synonyms_and_refuses_an_unknown_product(app, as_user, ctx):
    officer = as_user("ward.bennghe")
    typed, spaced, unknown = _new_ids(3)
    twenty = (local_today() - timedelta(days=20)).strftime("%d/%m/%Y")
    url = _upload(officer, xlsx([
        ["Họ và tên", "Số CCCD", "Mũi 1 - Loại vắc xin", "Mũi 1 - Ngày tiêm", "Mũi 2 - Loại vắc xin",
         "Mũi 2 - Ngày tiêm"],
        ["Nguyễn Gõ Tay", typed, "AstraZeneca", twenty, None, None],
        ["Lê Cách Chữ", spaced, "astra zeneca", "01/08/2021", "COMIRNATY", "01/10/2021"],
        ["Phạm Không Rõ", unknown, "Covaxin", "01/08/2021", None, None],
    ]))
    page = officer.get(url).get_data(as_text=True)
    # The unknown product is the error of its cell (C4), in Vietnamese, naming the products known.
    assert "C4" in page and "Covaxin" in page and "AstraZeneca (Vaxzevria)" in page
    assert "không phải là vắc xin" in page
    assert officer.post_form(url + "confirm", {"mode": "skip"}, token_from=url).status_code == 302
    db.session.expire_all()
    stored = dict(db.session.execute(select(Person.id_number, Person.id).where(
        Person.id_number.in_([typed, spaced, unknown]))).all())
    assert unknown not in stored  # never stored to be silently ignored
    doses = db.session.execute(select(Vaccination.person_id, Vaccination.vaccine).where(
        Vaccination.person_id.in_(stored.values())).order_by(Vaccination.person_id, Vaccination.dose_number)).all()
    assert [v for _p, v in doses] == ["astrazeneca", "astrazeneca", "pfizer"]
    # The scan colour of the resident whose dose was typed "AstraZeneca" 20 days ago: green, on the scan path,
    # in the reports' tally, and on the ward officer's card (colours_for).
    pid = stored[typed]
    status = health.colours_for([pid], now_utc())[pid]
    assert status.green and status.outcome == "vaccinated"
    assert health_tally.statuses_by_person(select(Person.id).where(Person.id == pid), now_utc())[pid].green


# --- migration 0009 on a real database --------------------------------------------------------------------

def _migrate_and_check(app, url: str) -> None:
    with dedicated_app(app, SQLALCHEMY_DATABASE_URI=url) as fresh, fresh.app_context():
        upgrade(revision="0002")
        now = now_utc()
        day = local_today() - timedelta(days=20)
        with db.engine.begin() as conn:
            for n, (typed) in enumerate(["AstraZeneca", "Vero Cell", "pfizer", "Covaxin", "J & J"], start=1):
                conn.execute(text("INSERT INTO persons (id, id_number, id_type, full_name, address, qr_ref, "
                                  "created_at, updated_at) VALUES (:id, :num, 'cccd', 'Người Thử', '', :ref, :now, "
                                  ":now)"), {"id": n, "num": f"07909900000{n}", "ref": f"ref{n}", "now": now})
                conn.execute(text("INSERT INTO vaccinations (person_id, vaccine, dose_number, vaccinated_on) "
                                  "VALUES (:id, :vaccine, 1, :day)"), {"id": n, "vaccine": typed, "day": day})
        upgrade(revision="0009")
        stored = dict(db.session.execute(select(Vaccination.person_id, Vaccination.vaccine)).all())
        assert stored == {1: "astrazeneca", 2: "sinopharm", 3: "pfizer", 4: "Covaxin", 5: "janssen"}
        # The resident whose dose was typed "AstraZeneca" is green after the migration.
        assert health.colours_for([1], now_utc())[1].green
        # What could not be mapped is kept and listed for correction.
        assert vaccines.unknown_vaccines() == [("Covaxin", 1)]
        result = fresh.test_cli_runner().invoke(args=["people", "unknown-vaccines"])
        assert result.exit_code == 1 and "'Covaxin'\t1 dose(s)" in result.output
        db.session.remove()


def test_migration_0009_on_sqlite(app, tmp_path):
    _migrate_and_check(app, f"sqlite:///{tmp_path / 'vocabulary.sqlite3'}")


def _postgres_server() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.mark.skipif(_postgres_server() is None, reason="TEST_DATABASE_URL is not a PostgreSQL database")
def test_migration_0009_on_postgresql(app):
    server = make_url(_postgres_server())
    name = f"bo_vocab_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _migrate_and_check(app, server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_no_unknown_vaccines_in_the_demo_data(ctx, app):
    assert vaccines.unknown_vaccines() == []
    result = app.test_cli_runner().invoke(args=["people", "unknown-vaccines"])
    assert result.exit_code == 0, result.output
