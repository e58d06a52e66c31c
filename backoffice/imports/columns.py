"""Declarative column specs, header matching, and the cell parsers they use.

A kind of import (organizations, staff, residents) is mostly a list of `Column`s: the Vietnamese header of the
template, the synonyms people write instead (matched regardless of case, spacing and diacritics), whether a
value is required, and a parser that turns what a spreadsheet holds (numbers stored as text, numbers that lost
their leading zero, Excel date serials, `+84` phones…) into a canonical value or raises ValueError with a
message for the person who typed it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Callable

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from openpyxl.utils.datetime import from_excel
from phonenumbers.phonemetadata import PhoneMetadata

from backoffice import identifiers
from backoffice.geo.resolve import fold

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # Vietnamese header of the template
    note: str  # English explanation, shown as the header cell's comment
    synonyms: tuple[str, ...] = ()
    required: bool = False
    parse: Callable[[Any], Any] = field(default=lambda v: text(v))
    example: Any = None
    width: int = 18
    is_date: bool = False  # staged as ISO text between preview and apply

    def names(self) -> set[str]:
        return {fold(self.header)} | {fold(s) for s in self.synonyms}


# --- header matching -----------------------------------------------------------------------------------------

def header_index(columns: list[Column]) -> dict[str, Column]:
    index: dict[str, Column] = {}
    for column in columns:
        for name in column.names():
            index.setdefault(name, column)
    return index


def match_header(values: list[Any], columns: list[Column]) -> tuple[dict[int, Column], list[str]]:
    """Which column each cell of a header row is (exact folded match first, then the longest synonym the
    header starts with, so "Số điện thoại liên hệ" is the phone); returns (mapping, ignored headers)."""
    index = header_index(columns)
    names = sorted(index, key=len, reverse=True)
    mapping: dict[int, Column] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for position, value in enumerate(values):
        if value is None or str(value).strip() == "":
            continue
        folded = fold(value)
        column = index.get(folded) or next((index[n] for n in names if folded.startswith(n + " ")), None)
        if column is None or column.key in taken:
            ignored.append(_SPACES.sub(" ", str(value)).strip())
            continue
        mapping[position] = column
        taken.add(column.key)
    return mapping, ignored


# --- cell parsers --------------------------------------------------------------------------------------------

def text(value: Any, max_length: int = 255) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime, date)):
        value = value.strftime("%d/%m/%Y")
    result = _SPACES.sub(" ", str(value)).strip()
    if len(result) > max_length:
        raise ValueError(_("At most %(n)d characters (this has %(m)d).", n=max_length, m=len(result)))
    return result


def text_of(max_length: int) -> Callable[[Any], str]:
    return lambda value: text(value, max_length)


def positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(_("Expected a whole number greater than zero."))
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(_("Expected a whole number greater than zero."))
        value = int(value)
    if isinstance(value, str):
        cleaned = re.sub(r"[\s.,]", "", value)  # "1.200" and "1,200" are both twelve hundred in a VN sheet
        if not (cleaned.isascii() and cleaned.isdigit()):  # "²".isdigit() is true, and int() refuses it
            raise ValueError(_("Expected a whole number greater than zero, not \"%(value)s\".", value=value))
        value = int(cleaned)
    if not isinstance(value, int) or value <= 0:
        raise ValueError(_("Expected a whole number greater than zero."))
    if value > 10_000_000:
        raise ValueError(_("%(n)d is not a plausible number of workers.", n=value))
    return value


_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    """The normalised domain when email_validator accepts it (asked once per domain: files repeat them)."""
    try:
        return validate_email("a@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


def email(value: Any) -> str:
    candidate = text(value, 254)
    local, at, domain = candidate.rpartition("@")
    # The common case, a plain ASCII local part, needs email_validator for the domain only; anything else
    # (quoted or internationalised local parts) goes through it whole.
    if at and len(local) <= 64 and _LOCAL_PART.match(local):
        normalized = _domain(domain)
        if normalized:
            return f"{local}@{normalized}"
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(_("\"%(value)s\" is not an e-mail address.", value=candidate)) from None


_DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y")


def a_date(value: Any) -> date:
    """A date cell, an Excel date serial that lost its format (44470 = 2021-10-01), or d/m/Y text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return from_excel(value).date()
        raise ValueError(_("%(value)s is not a date.", value=value))
    candidate = text(value, 32)
    if candidate.isdigit() and len(candidate) == 5:
        return from_excel(int(candidate)).date()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
    raise ValueError(_("\"%(value)s\" is not a date; write it as day/month/year, e.g. 15/10/2021.",
                       value=candidate))


def past_date(value: Any) -> date:
    from backoffice.timeutil import local_today
    result = a_date(value)
    if result > local_today():
        raise ValueError(_("%(date)s is in the future.", date=result.strftime("%d/%m/%Y")))
    if result.year < 1900:
        raise ValueError(_("%(date)s is too far in the past.", date=result.strftime("%d/%m/%Y")))
    return result


def tax_code(value: Any) -> str:
    return identifiers.clean_tax_code(value)


_SIMPLE_PHONE = re.compile(r"(\+84|0)[\s.\-]?((?:\d[\s.\-]?){6,10}\d)", re.ASCII)
_NOT_DIGIT = re.compile(r"\D")


@lru_cache(maxsize=1)
def _vn_patterns() -> tuple[re.Pattern, set[int], list[tuple[re.Pattern, set[int]]]]:
    """The patterns phonenumbers validates a Vietnamese number with (its own metadata)."""
    meta = PhoneMetadata.metadata_for_region("VN")
    general = meta.general_desc
    kinds = [d for d in (meta.fixed_line, meta.mobile, meta.toll_free, meta.premium_rate, meta.shared_cost,
                         meta.personal_number, meta.voip, meta.pager, meta.uan, meta.voicemail)
             if d is not None and d.national_number_pattern]
    return (re.compile(general.national_number_pattern), set(general.possible_length),
            [(re.compile(d.national_number_pattern), set(d.possible_length or general.possible_length))
             for d in kinds])


def _valid_vn(national: str) -> bool:
    general, lengths, kinds = _vn_patterns()
    return (len(national) in lengths and general.fullmatch(national) is not None
            and any(len(national) in sizes and pattern.fullmatch(national) for pattern, sizes in kinds))


def phone(value: Any) -> str | None:
    """identifiers.clean_phone, with a fast path for what sheets hold most (0903 123 456, +84 90…, a number
    cell that lost its 0): phonenumbers' parse costs ~0.3 ms a cell, a third of an import's reading. A value
    the fast path does not accept goes to clean_phone, which answers it (and words its refusal)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        candidate = "0" + str(value)
    elif isinstance(value, str):
        candidate = value.strip()
    else:
        return identifiers.clean_phone(value)
    match = _SIMPLE_PHONE.fullmatch(candidate)
    if match:
        national = _NOT_DIGIT.sub("", match.group(2))
        if _valid_vn(national):
            return "+84" + national
    return identifiers.clean_phone(value)


def id_number(value: Any) -> tuple[str, str]:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    digits = re.sub(r"\s", "", str(value))
    if digits.isdigit() and len(digits) == 11:
        # A CCCD in a number cell loses the zero of its province code (079…); 11 digits is nothing else.
        return identifiers.clean_id_number(digits, "cccd")
    return identifiers.clean_id_number(value)


def choice(options: dict[str, str], message: Callable[[str], str]) -> Callable[[Any], str]:
    """A value from a vocabulary, given by any folded synonym of an option."""
    folded = {fold(k): v for k, v in options.items()}

    def parse(value: Any) -> str:
        key = fold(value)
        if key in folded:
            return folded[key]
        raise ValueError(message(text(value, 500)))

    return parse
