"""Bad-input campaign, parsers: property-based tests (hypothesis) on every parser of outside text.

Each parser has a contract for bad input, and nothing else may escape it:
- QR payloads (`scanning.payload.parse_scan_text`): a `ParsedPayload` or `ScanRejected` with a known reason code; a
  valid signed payload changed anywhere (a character of its text, or a byte under the base32) is rejected;
- identifiers: the canonical form (ASCII) or `ValueError`;
- import cells: the canonical value or `ValueError`; header matching and the unit resolver never raise
  anything but `UnitError`; the file reader answers `FileRejected` or rows;
- rule files (criteria sets, health-status rules): arbitrary or mutated YAML gives problems or a rule set.

Example counts are bounded so the whole campaign (this module and test_bad_input_http) stays well under a minute;
the number of inputs each parser was given is printed at the end of the module.
"""
from __future__ import annotations

import base64
import re
import string
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backoffice import identifiers
from backoffice.config import PROJECT_ROOT
from backoffice.criteria import loader as criteria_loader
from backoffice.extensions import db
from backoffice.geo.resolve import UnitError, UnitResolver, fold
from backoffice.imports import columns, reader
from backoffice.imports.columns import match_header
from backoffice.imports.kinds import kinds
from backoffice.models import Person
from backoffice.health import status as health
from backoffice.scanning.payload import PREFIX, REASONS, ParsedPayload, ScanRejected, parse_scan_text
from backoffice.rulebook import Problem
from campaign_support import report_fixture, tried

_campaign = report_fixture("bad-input campaign, parsers")

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MEDIUM = settings(max_examples=80, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text as scanners, spreadsheets and people produce it: any Unicode, with the separators that matter here.
any_text = st.text(st.characters(codec="utf-8"), max_size=80)
noisy_text = st.one_of(any_text, st.text(alphabet=string.printable + "|<:ĐđÀÁẠẢÃ٠١٢३४۵²", max_size=60))
cell_values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                        st.floats(allow_nan=True, allow_infinity=True), noisy_text,
                        st.dates(), st.datetimes())


# --- QR payloads -------------------------------------------------------------------------------------------
def _parse(text: str) -> ParsedPayload | None:
    """parse_scan_text's whole contract: a payload, or ScanRejected with a known code and a message."""
    tried("qr payload (parse_scan_text)")
    try:
        return parse_scan_text(text)
    except ScanRejected as exc:
        assert exc.code in REASONS
        assert isinstance(exc.message, str) and exc.message
        assert 400 <= exc.status < 500
        return None


@pytest.fixture(scope="module")
def signed(app):
    """A valid signed payload of a seeded resident (and the resident's reference)."""
    from backoffice.scanning.payload import issue_personal_payload
    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.qr_ref.is_not(None)).order_by(Person.id))
        text = issue_personal_payload(person, with_status=True)
        assert parse_scan_text(text).qr_ref == person.qr_ref
        return text, person.qr_ref


@FAST
@given(text=st.one_of(any_text, st.text(max_size=1200), st.builds(lambda t: PREFIX + t, any_text),
                      st.builds(lambda t: PREFIX + t, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                                              min_size=60, max_size=200))))
@example("\x00")
@example(PREFIX)
@example("|" * 5)
@example("A" * 2000)
def test_arbitrary_text_is_parsed_or_rejected(ctx, text):
    _parse(text)


mutation = st.tuples(st.sampled_from(["replace", "delete", "insert", "swap", "truncate", "case"]),
                     st.integers(min_value=0, max_value=10**6), st.characters(codec="utf-8"))


def _mutate(text: str, op: str, where: int, char: str) -> str:
    if not text:
        return char
    i = where % len(text)
    if op == "replace":
        return text[:i] + char + text[i + 1:]
    if op == "delete":
        return text[:i] + text[i + 1:]
    if op == "insert":
        return text[:i] + char + text[i:]
    if op == "swap":
        j = (i + 1) % len(text)
        chars = list(text)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if op == "truncate":
        return text[:i]
    return text[:i] + text[i].swapcase() + text[i + 1:]


@FAST
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_any_changed_character_of_a_signed_payload_is_rejected(ctx, signed, mutations):
    original, _ref = signed
    text = original
    for op, where, char in mutations:
        text = _mutate(text, op, where, char)
    # Keyboard-wedge scanners' Enter/Tab/spaces around the text are trimmed by design: not a change.
    assume(text.strip(" \r\n\t") != original)
    assert _parse(text) is None, f"a changed payload was accepted: {text!r}"


@FAST
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_under_the_encoding_is_rejected(ctx, signed, position, flip):
    original, _ref = signed
    data = bytearray(base64.b32decode(original[len(PREFIX):] + "=" * (-len(original[len(PREFIX):]) % 8)))
    data[position % len(data)] ^= flip
    text = PREFIX + base64.b32encode(bytes(data)).decode("ascii").rstrip("=")
    tried("qr payload (parse_scan_text)")
    with pytest.raises(ScanRejected) as caught:
        parse_scan_text(text)
    assert caught.value.code in {"malformed", "bad_signature", "unknown_key", "retired_key", "not_in_future"}


# --- the national 1405 text --------------------------------------------------------------------------------
digits = st.text(alphabet="0123456789", min_size=1, max_size=14)
field = st.one_of(digits, any_text.map(lambda t: t.replace("|", "")), st.just(""))


@FAST
@given(fields=st.lists(field, min_size=0, max_size=8), separator=st.sampled_from(["|", "||", "|\n", " | "]))
def test_national_text_of_any_shape_is_parsed_or_rejected(ctx, fields, separator):
    text = separator.join(fields) + ("|" if len(fields) < 2 else "")
    parsed = _parse(text)
    if parsed is not None and parsed.kind == "national":
        tried("national 1405 text")
        assert parsed.full_name
        assert parsed.id_number or parsed.qid
        assert parsed.id_declared in (None, "0", "1")


@FAST
@given(id_number=st.one_of(st.from_regex(r"\A[0-9]{12}\Z"), st.from_regex(r"\A[0-9]{9}\Z"),
                           st.from_regex(r"\A[A-Z][0-9]{7,8}\Z")),
       name=st.from_regex(r"\A[A-Z]{1,8}( [A-Z]{1,8}){0,3}\Z"), born=st.dates(date(1900, 1, 1), date(2021, 12, 31)),
       declared=st.sampled_from(["0", "1"]), qid=st.from_regex(r"\A[0-9]{6,20}\Z"),
       ext=st.text(alphabet=string.digits + "<", max_size=30))
def test_valid_national_text_round_trips(ctx, id_number, name, born, declared, qid, ext):
    tried("national 1405 text")
    parsed = parse_scan_text(f"{id_number}|{name}|{born.isoformat()}|{declared}|{qid}|{ext}")
    assert (parsed.kind, parsed.signed) == ("national", False)
    assert (parsed.id_number, parsed.full_name, parsed.birth_date, parsed.id_declared, parsed.qid, parsed.ext) == (
        id_number, name, born.isoformat(), declared, qid, ext)


# --- identifiers -------------------------------------------------------------------------------------------
identifier_input = st.one_of(cell_values, st.from_regex(r"\A[0-9 .\-]{8,16}\Z"), st.from_regex(r"\A\+?84[0-9 ]{8,11}\Z"),
                             st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩０１２３４５６７８９", min_size=9, max_size=13))
_TAX = re.compile(r"\A[0-9]{10}(-[0-9]{3})?\Z")
_PHONE = re.compile(r"\A\+84[0-9]{7,10}\Z")
_IDS = {"cccd": re.compile(r"\A[0-9]{12}\Z"), "cmnd": re.compile(r"\A[0-9]{9}\Z"),
        "passport": re.compile(r"\A[A-Z][0-9]{7,8}\Z")}


@FAST
@given(value=identifier_input)
@example(value="٠١٠٠٠٤٧٥١٦")  # Arabic-Indic digits of a valid tax code
def test_tax_code_is_canonical_ascii_or_value_error(ctx, value):
    tried("identifiers.clean_tax_code")
    try:
        code = identifiers.clean_tax_code(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert _TAX.match(code), code
    assert identifiers.clean_tax_code(code) == code


@FAST
@given(value=identifier_input)
def test_phone_is_e164_or_value_error(ctx, value):
    tried("identifiers.clean_phone")
    try:
        phone = identifiers.clean_phone(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert phone is None or _PHONE.match(phone), phone
    if phone:
        assert identifiers.clean_phone(phone) == phone


@FAST
@given(value=identifier_input, id_type=st.sampled_from([None, "", "cccd", "cmnd", "passport", "other"]))
@example(value="٠٧٩٠٩٣٠٢٩٣١٧", id_type=None)  # Arabic-Indic digits
@example(value="０７９０９３０２９３１７", id_type="cccd")  # full-width digits
def test_id_number_is_canonical_ascii_or_value_error(ctx, value, id_type):
    tried("identifiers.clean_id_number")
    try:
        number, kind = identifiers.clean_id_number(value, id_type)
    except ValueError as exc:
        assert str(exc)
        return
    assert _IDS[kind].match(number), (number, kind)
    assert identifiers.clean_id_number(number, kind) == (number, kind)


# --- import cells, headers, units, files -------------------------------------------------------------------
CELL_PARSERS = {
    "text": columns.text, "positive_int": columns.positive_int, "email": columns.email, "a_date": columns.a_date,
    "past_date": columns.past_date, "tax_code": columns.tax_code, "phone": columns.phone,
    "id_number": columns.id_number,
}


@FAST
@given(name=st.sampled_from(sorted(CELL_PARSERS)), value=cell_values)
@example(name="positive_int", value="1²")
@example(name="a_date", value="٤٤٤٧٠")
@example(name="a_date", value=2958465.9)
def test_import_cell_parsers_answer_a_value_or_value_error(ctx, name, value):
    tried(f"import cell ({name})")
    try:
        parsed = CELL_PARSERS[name](value)
    except ValueError as exc:
        message = str(exc)
        # The message is shown in the row's error report: one of ours, never Python's own.
        assert message and "invalid literal" not in message and "could not convert" not in message, message
        return
    if name == "positive_int":
        assert isinstance(parsed, int) and 0 < parsed <= 10_000_000
    elif name in ("a_date", "past_date"):
        assert isinstance(parsed, date)


@FAST
@given(kind=st.sampled_from(["organizations", "staff", "residents"]), value=cell_values)
def test_import_columns_of_every_kind_answer_a_value_or_value_error(ctx, kind, value):
    for column in kinds()[kind].columns:
        tried(f"import column ({kind})")
        try:
            column.parse(value)
        except ValueError as exc:
            assert str(exc) and "invalid literal" not in str(exc), (column.key, str(exc))


@FAST
@given(kind=st.sampled_from(["organizations", "staff", "residents"]),
       headers=st.lists(st.one_of(cell_values, st.sampled_from(["Mã số thuế", "Tên đơn vị", "Số điện thoại",
                                                                "Họ và tên", "quan", "Phường/Xã", "Email"])),
                        max_size=12))
def test_header_matching_never_fails(ctx, kind, headers):
    tried("import header matching")
    cols = kinds()[kind].columns
    mapping, ignored = match_header(headers, cols)
    assert set(mapping) <= set(range(len(headers)))
    keys = [c.key for c in mapping.values()]
    assert len(keys) == len(set(keys)), "one column matched twice"
    assert all(isinstance(i, str) for i in ignored)


@pytest.fixture(scope="module")
def resolver(app):
    with app.app_context():
        return UnitResolver.from_database()


@FAST
@given(district=cell_values, ward=cell_values, within=st.sampled_from([None, 760, 770, 769, 787]))
@example(district="Q.1", ward="P. Bến Nghé", within=760)
@example(district="", ward="", within=None)
def test_unit_resolver_answers_a_unit_or_unit_error(ctx, resolver, district, ward, within):
    tried("geo.resolve (district, ward)")
    for call in (lambda: resolver.district(district), lambda: resolver.ward(ward, within)):
        try:
            unit = call()
        except UnitError as exc:
            assert str(exc)
            continue
        assert unit.code in resolver.districts or unit.code in resolver.wards
    assert isinstance(fold(ward), str)


def _csv_bytes(rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    import csv
    import io
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding, errors="replace")


@MEDIUM
@given(data=st.one_of(
    st.binary(max_size=600),
    st.builds(_csv_bytes, st.lists(st.lists(noisy_text, max_size=6), max_size=8), st.sampled_from([",", ";", "\t"]),
              st.sampled_from(["utf-8", "utf-8-sig", "cp1258"]))),
    suffix=st.sampled_from([".csv", ".xlsx", ".xls", "", ".CSV"]))
def test_import_reader_answers_rows_or_file_rejected(ctx, data, suffix):
    tried("import file reader")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            table = reader.open_table(path, "tệp" + suffix, reader.Limits(max_rows=50))
            try:
                for row in table:
                    assert isinstance(row.values, list)
            finally:
                table.close()
        except reader.FileRejected as exc:
            assert str(exc)


def _xlsx_with(values: list[list[object]]) -> bytes:
    import io

    from openpyxl import Workbook
    workbook = Workbook()
    sheet = workbook.active
    for row in values:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


xlsx_cell = st.one_of(st.none(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                      noisy_text.map(lambda t: "".join(c for c in t if c.isprintable())), st.dates())


@SLOW
@given(rows=st.lists(st.lists(xlsx_cell, max_size=6), max_size=6), position=st.integers(min_value=0),
       flip=st.integers(1, 255), corrupt=st.booleans())
def test_import_reader_on_real_and_damaged_workbooks(ctx, rows, position, flip, corrupt):
    tried("import file reader (xlsx)")
    data = bytearray(_xlsx_with(rows))
    if corrupt:
        data[position % len(data)] ^= flip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.xlsx"
        path.write_bytes(bytes(data))
        try:
            table = reader.open_table(path, "book.xlsx", reader.Limits(max_rows=50))
            try:
                list(table)
            finally:
                table.close()
        except reader.FileRejected as exc:
            assert str(exc)


# --- rule files ------------------------------------------------------------------------------------------------
RULE_FILES = {
    "criteria": sorted((PROJECT_ROOT / "rules" / "criteria").glob("*.yaml")),
    "health_status": sorted((PROJECT_ROOT / "rules" / "health_status").glob("*.yaml")),
}


def _load(kind: str, text: str) -> tuple[object, list[Problem], list]:
    """Load a rule document of `kind` from a rules folder and run its test cases, as `rules check|test` and
    the app do: (loaded set or None, problems, test outcomes)."""
    tried(f"rule YAML ({kind})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / kind / "mutated.yaml"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        module = criteria_loader if kind == "criteria" else health
        loaded, problems = (criteria_loader.parse_file(path) if kind == "criteria" else health.load_file(path))
        outcomes = module.run_tests(tmp) if loaded is not None else []
    assert (loaded is None) == bool(problems), "problems and a loaded set at once"
    assert all(isinstance(p, Problem) and str(p) for p in problems)
    return loaded, problems, outcomes


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text,
                         st.dates(), st.sampled_from(["yes", "no", "on", "true", "2021-02-30", "{x.y}", "{0[1]}"]))
yaml_docs = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["id", "version", "valid_from", "valid_to", "title", "vi", "en", "levels", "groups", "criteria", "when",
         "points", "tests", "outcomes", "colour", "reason", "vaccines", "params", "scoring", "mode", "expect",
         "answer", "fact", "otherwise", "doses_required", "name", "day", "answers", "facts"]) | any_text,
        inner, max_size=5)), max_leaves=20)


@MEDIUM
@given(kind=st.sampled_from(sorted(RULE_FILES)), doc=yaml_docs)
@example(kind="health_status", doc={"id": "x"})
def test_arbitrary_rule_documents_give_problems(ctx, kind, doc):
    _load(kind, yaml.safe_dump(doc, allow_unicode=True))


line_mutation = st.tuples(st.sampled_from(["replace_value", "delete_line", "duplicate_line", "char", "indent",
                                           "truncate"]),
                          st.integers(min_value=0), yaml_scalars.map(lambda v: yaml.safe_dump(v).split("\n")[0]),
                          st.characters(codec="utf-8"))


def _mutate_yaml(text: str, op: str, where: int, value: str, char: str) -> str:
    lines = text.split("\n")
    i = where % len(lines)
    if op == "replace_value" and ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {value}"
    elif op == "delete_line":
        del lines[i]
    elif op == "duplicate_line":
        lines.insert(i, lines[i])
    elif op == "indent":
        lines[i] = "  " + lines[i]
    elif op == "truncate":
        lines = lines[:i]
    else:
        j = where % max(len(text), 1)
        return text[:j] + char + text[j + 1:]
    return "\n".join(lines)


@MEDIUM
@given(kind=st.sampled_from(sorted(RULE_FILES)), pick=st.integers(min_value=0),
       mutations=st.lists(line_mutation, min_size=1, max_size=3))
def test_mutated_rule_files_give_problems_never_a_crash(ctx, kind, pick, mutations):
    files = RULE_FILES[kind]
    text = files[pick % len(files)].read_text(encoding="utf-8")
    for op, where, value, char in mutations:
        text = _mutate_yaml(text, op, where, value, char)
    _load(kind, text)


def test_real_rule_files_load_cleanly(ctx):
    """The baseline of the mutations: the shipped files themselves load without a problem."""
    for kind, files in RULE_FILES.items():
        for path in files:
            loaded, problems, outcomes = _load(kind, path.read_text(encoding="utf-8"))
            assert loaded is not None and problems == [], (path, problems)
            assert outcomes and all(o.passed for o in outcomes), [o for o in outcomes if not o.passed]


# Edits a person makes to a real file, each once a crash: a date that does not exist, a placeholder that
# reaches into a fact (attribute or index), a number too large for a date.
TARGETED = [
    ("criteria", r"valid_from: \S+", "valid_from: 2021-02-30"),
    ("criteria", r"valid_from: \S+", "valid_from: 2021-13-01"),
    ("health_status", r"valid_from: \S+", "valid_from: 2021-02-30"),
    ("health_status", r'reason: "Recovered \{recovered_days\}', 'reason: "Recovered {recovered_days.real}'),
    ("health_status", r'reason: "Recovered \{recovered_days\}', 'reason: "Recovered {recovered_days[0]}'),
    ("health_status", r"days_ago: \d+", "days_ago: 99999999999"),
]


@pytest.mark.parametrize("kind, pattern, replacement", TARGETED)
def test_targeted_rule_edits_give_problems(ctx, kind, pattern, replacement):
    for path in RULE_FILES[kind]:
        text = path.read_text(encoding="utf-8")
        changed = re.sub(pattern, replacement, text, count=1)
        if changed != text:
            loaded, problems, outcomes = _load(kind, changed)
            assert problems or not all(o.passed for o in outcomes), (path, replacement)
            return
    pytest.skip(f"no {pattern!r} in the {kind} files")
