"""Resolving the many ways people write HCMC's district and ward names to their GSO codes.

Spreadsheets say "Q.1", "Q1", "quan 1", "District 1", "TP. Thủ Đức", "Thủ Đức", "P.2" or "Phường 02",
"TT Củ Chi"… (DOMAIN.md §5). We fold case, diacritics and punctuation, split the kind prefix ("quận", "q",
"phường", "p", "tt"…) from the core name, and look the core up in indexes built from the units in the
database, so a new GSO list needs no code change. A name that fits several units is an error, never a guess.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.errors import Invalid
from backoffice.extensions import db
from backoffice.models import District, Ward

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")


def fold(text: object) -> str:
    """Lower case, no diacritics (đ → d), punctuation to single spaces: "Quận/Huyện" → "quan huyen"."""
    value = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D")).lower()
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", value).strip()


# Kind prefixes as they are written, folded, longest first. Values: the kind they announce (None: any).
_DISTRICT_PREFIXES = [("thanh pho", "thanh pho"), ("tp", "thanh pho"), ("quan", "quan"), ("q", "quan"),
                      ("huyen", "huyen"), ("h", "huyen"), ("district", None), ("dist", None), ("city", "thanh pho")]
_DISTRICT_SUFFIXES = ["district", "city", "dist"]
_WARD_PREFIXES = [("thi tran", "thi tran"), ("tt", "thi tran"), ("phuong", "phuong"), ("p", "phuong"),
                  ("xa", "xa"), ("x", "xa"), ("ward", "phuong"), ("commune", "xa"), ("town", "thi tran")]
_WARD_SUFFIXES = ["ward", "commune", "town"]


def _core(text: object, prefixes: list[tuple[str, str | None]], suffixes: list[str]) -> tuple[str, str | None]:
    """(core name, announced kind): "P.02" → ("2", "phuong"), "TP. Thủ Đức" → ("thu duc", "thanh pho")."""
    words = _LETTER_DIGIT.sub(" ", fold(text)).split()
    kind = None
    for prefix, prefix_kind in prefixes:
        size = len(prefix.split())
        if len(words) > size and words[:size] == prefix.split():
            words, kind = words[size:], prefix_kind
            break
    if len(words) > 1 and words[-1] in suffixes:
        words = words[:-1]
    # "02" and "2" are the same ward; a number alone is the whole core.
    return " ".join(str(int(w)) if w.isdigit() else w for w in words), kind


class UnitError(Invalid):
    """A name that matches no unit, or several; the message is for the person who wrote it."""


@dataclass(frozen=True)
class Unit:
    code: int
    name: str
    kind: str  # folded: "quan", "huyen", "thanh pho", "phuong", "xa", "thi tran"
    district_code: int | None = None


class UnitResolver:
    """Indexes of HCMC's units by folded core name, built once per import (a few hundred rows)."""

    def __init__(self, districts: list[Unit], wards: list[Unit]):
        self.districts = {d.code: d for d in districts}
        self.wards = {w.code: w for w in wards}
        self._district_index: dict[str, list[Unit]] = {}
        for unit in districts:
            for key in {_core(unit.name, _DISTRICT_PREFIXES, _DISTRICT_SUFFIXES)[0], str(unit.code)}:
                self._district_index.setdefault(key, []).append(unit)
        self._ward_index: dict[tuple[int | None, str], list[Unit]] = {}
        for unit in wards:
            core = _core(unit.name, _WARD_PREFIXES, _WARD_SUFFIXES)[0]
            for key in ((unit.district_code, core), (None, core), (None, str(unit.code))):
                self._ward_index.setdefault(key, []).append(unit)
        # Files repeat the same few spellings thousands of times: remember each answer (errors too).
        self._cache: dict[tuple, Unit | UnitError] = {}

    @classmethod
    def from_database(cls) -> "UnitResolver":
        districts = [Unit(code, name, fold(kind)) for code, name, kind in
                     db.session.execute(select(District.code, District.name, District.kind))]
        wards = [Unit(code, name, fold(kind), district) for code, name, kind, district in
                 db.session.execute(select(Ward.code, Ward.name, Ward.kind, Ward.district_code))]
        return cls(districts, wards)

    def _cached(self, key: tuple, compute) -> Unit:
        if key not in self._cache:
            try:
                self._cache[key] = compute()
            except UnitError as exc:
                self._cache[key] = exc
        found = self._cache[key]
        if isinstance(found, UnitError):
            raise UnitError(str(found))
        return found

    def district(self, text: object) -> Unit:
        """The district written as `text` ("Q.1", "quan 1", "District 1", "TP. Thủ Đức", "760")."""
        return self._cached(("d", text), lambda: self._district(text))

    def ward(self, text: object, district_code: int | None = None) -> Unit:
        """The ward written as `text` ("P.2", "Phường 02", "Bến Nghé", "TT Củ Chi"), within `district_code`
        when given; a name shared by wards of several districts needs the district."""
        return self._cached(("w", text, district_code), lambda: self._ward(text, district_code))

    def known_ward(self, text: object) -> bool:
        """Whether `text` names a ward somewhere in the city (one or several)."""
        if isinstance(text, float) and text.is_integer():
            text = int(text)
        return (None, _core(str(text).strip(), _WARD_PREFIXES, _WARD_SUFFIXES)[0]) in self._ward_index

    def _district(self, text: object) -> Unit:
        if isinstance(text, float) and text.is_integer():
            text = int(text)
        raw = str(text).strip()
        # "Quận 1, TP. Hồ Chí Minh": the district is the first part that resolves.
        parts = [p for p in re.split(r"[,;]", raw) if p.strip()] or [raw]
        for part in parts:
            core, kind = _core(part, _DISTRICT_PREFIXES, _DISTRICT_SUFFIXES)
            found = self._district_index.get(core, [])
            if len(found) > 1 and kind:
                found = [u for u in found if fold(u.kind) == kind] or found
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise UnitError(_("\"%(value)s\" may be any of %(names)s; write the full name.", value=raw,
                                  names=", ".join(u.name for u in found)))
        raise UnitError(_("\"%(value)s\" is not a district of Ho Chi Minh City.", value=raw))

    def _ward(self, text: object, district_code: int | None) -> Unit:
        if isinstance(text, float) and text.is_integer():
            text = int(text)
        raw = str(text).strip()
        core, kind = _core(raw, _WARD_PREFIXES, _WARD_SUFFIXES)
        found = self._ward_index.get((district_code, core), [])
        if district_code is not None and not found:
            # A GSO ward code, or a ward of another district: say which, so the user can fix the right cell.
            elsewhere = self._ward_index.get((None, core), [])
            if len(elsewhere) == 1 and elsewhere[0].district_code == district_code:
                return elsewhere[0]
            if elsewhere:
                district = self.districts.get(district_code)
                raise UnitError(_("\"%(value)s\" is not in %(district)s (%(ward)s is in %(others)s).",
                                  value=raw, ward=elsewhere[0].name, district=district.name if district else district_code,
                                  others=", ".join(sorted({self.districts[u.district_code].name
                                                           for u in elsewhere}))))
        if district_code is None:
            found = self._ward_index.get((None, core), [])
        if len(found) > 1 and kind:
            found = [u for u in found if u.kind == kind] or found
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UnitError(_("\"%(value)s\" may be any of %(names)s; give the district.", value=raw,
                              names=", ".join(f"{u.name} ({self.districts[u.district_code].name})"
                                              for u in found[:6])))
        raise UnitError(_("\"%(value)s\" is not a ward of Ho Chi Minh City.", value=raw) if district_code is None
                        else _("\"%(value)s\" is not a ward of %(district)s.", value=raw,
                               district=self.districts[district_code].name))


__all__ = ["fold", "Unit", "UnitError", "UnitResolver"]
