"""The national 1405 QR text (PC-Covid): `SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT`, unsigned, so the
identity it declares is matched against the registry (`scanning.person_records.identity_matches`)."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from backoffice.scanning.credentials.base import Credential
from backoffice.scanning.rejections import ScanRejected

_D_STROKE = str.maketrans({"Đ": "D", "đ": "d"})


def normalise_name(name: str) -> str:
    """A name as the 1405 text writes it: upper case, no diacritics, single spaces ("Đặng  Thị Ánh" → "DANG THI
    ANH"). NFKD splits each accented letter into its base and combining marks, which are dropped; Đ/đ are
    letters of their own (no decomposition), hence the one special case."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_D_STROKE))
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper().split())


# ASCII digits only: \d would also take Arabic-Indic or full-width digits, which no registry holds.
_ID_RE = re.compile(r"^(\d{9}|\d{12}|[A-Z]\d{7,8})$", re.ASCII)
_QID_RE = re.compile(r"^\d{6,32}$", re.ASCII)


def _parse_national(text: str) -> Credential:
    """`SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT` (EXT optional). Unsigned: matched against the registry."""
    fields = text.split("|")
    if len(fields) not in (5, 6):
        raise ScanRejected("national_invalid", _l("expected 6 fields separated by |"))
    id_number, name, born, declared, qid = (f.strip() for f in fields[:5])
    ext = fields[5] if len(fields) == 6 else ""
    id_number = id_number.upper()
    if id_number and not _ID_RE.match(id_number):
        raise ScanRejected("national_invalid", _l("the ID number must be 9 or 12 digits or a passport number"))
    if qid and not _QID_RE.match(qid):
        raise ScanRejected("national_invalid", _l("the QID must be digits"))
    if not id_number and not qid:
        raise ScanRejected("national_invalid", _l("neither an ID number nor a QID"))
    if not name:
        raise ScanRejected("national_invalid", _l("the name is missing"))
    if born:
        try:
            date.fromisoformat(born) if len(born) == 10 else int(born)
        except ValueError:
            raise ScanRejected("national_invalid", _l("the birth date must be YYYY-MM-DD")) from None
    if declared not in ("", "0", "1"):
        raise ScanRejected("national_invalid", _l("the declaration type must be 0 or 1"))
    return Credential(kind="national", signed=False, id_number=id_number or None, full_name=name,
                      birth_date=born or None, id_declared=declared or None, qid=qid or None, ext=ext)


class NationalReader:
    kind = "national"

    def recognises(self, text: str) -> bool:
        return "|" in text

    def read(self, text: str, *, now: datetime) -> Credential:  # noqa: ARG002 - an unsigned text has no time
        return _parse_national(text)


READER = NationalReader()
