"""Reading an .xlsx with python-calamine (Rust), once a survey of the archive has shown it is safe to.

calamine is 10-20 times faster than openpyxl, but it trusts what openpyxl is kept from trusting:
- it inflates each part as far as its deflate stream goes, whatever the directory declares;
- it builds each sheet as one dense grid from the first to the last cell reference, so a few KB with cells at
  A1 and XFD1048576 ask for 500 GB and abort the process;
- it reads a formula cell's cached value (or nothing), and does not say the cell held a formula.
So before calamine opens anything, `survey` inflates every part itself (zlib on the raw bytes of the part, as
calamine will inflate them), stops each at its cap, and scans each sheet calamine may load for its cell
references (the grid's size) and its formula cells (where they are, what they say). Whatever the survey cannot
vouch for (cells without a reference, namespace prefixes, shared formulas, other compression methods, a grid
larger than MAX_CELLS) is read by the openpyxl path as before: slower, never less safe.
"""
from __future__ import annotations

import posixpath
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from xml.sax.saxutils import unescape

from defusedxml import ElementTree as SafeTree

# A dense grid of this many cells costs calamine ~32 bytes each (plus the strings): ~130 MB. 200,000 rows of
# 11 columns are 2.2 million.
MAX_CELLS = 4_000_000
_PIECE = 1 << 20

_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
_ROW_REF = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"')
_COL_REF = re.compile(rb'<c r="([A-Z]{1,3})[0-9]')
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_FORMULA_TEXT = re.compile(rb"<f(?:\s[^>]*)?>([^<]*)</f>")
_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


# What zipfile raises on a central directory it cannot read: a version it does not know (NotImplementedError), a
# name that is not UTF-8 (ValueError), a truncated or lying record. Every one is a damaged file, never the server's.
UNREADABLE_ZIP = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError,
                  struct.error)


class Unsafe(Exception):
    """A part inflated past its cap (the caller refuses the file, naming the part)."""

    def __init__(self, part: str, limit: int):
        super().__init__(part)
        self.part, self.limit = part, limit


class _Unsure(Exception):
    """Something calamine may read differently from how the survey reads it: use openpyxl."""


@dataclass
class Survey:
    sheets: dict[str, str]  # sheet name → its part, as the workbook lists them
    formulas: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)  # sheet → (row, col) → "=…"


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _inflate(handle, info: zipfile.ZipInfo, cap: int) -> Iterator[bytes]:
    """The part's bytes as calamine inflates them: the raw data the directory points at, to its end."""
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Unsure(info.filename)
    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise _Unsure(info.filename)
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    left, produced = info.compress_size, 0
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while left > 0 and not (inflater and inflater.eof):
        raw = handle.read(min(left, _PIECE))
        if not raw:
            return
        left -= len(raw)
        while raw:
            # max_length: never more than a piece, nor past the cap (+1 to see it crossed), in memory at once
            piece = inflater.decompress(raw, min(_PIECE, cap - produced + 1)) if inflater else raw
            raw = inflater.unconsumed_tail if inflater and not inflater.eof else b""
            produced += len(piece)
            if produced > cap:
                raise Unsafe(info.filename, cap)
            yield piece


def _scan_sheet(pieces: Iterator[bytes]) -> dict[tuple[int, int], str]:
    """The formula cells of a sheet; _Unsure when its grid is too large or a cell escapes the scan."""
    formulas: dict[tuple[int, int], str] = {}
    carry, max_row, max_col = b"", 0, 0
    for piece in _with_end(pieces):
        data = carry + piece if piece is not None else carry
        if piece is not None:
            cut = data.rfind(b"<c")  # cells are whole in each segment: the tail waits for the next piece
            if cut <= 0:
                carry = data
                continue
            segment, carry = data[:cut], data[cut:]
        else:
            segment, carry = data, b""
        rows = _ROW_REF.findall(segment)
        if len(rows) != len(_CELL.findall(segment)):
            raise _Unsure("cell without a reference")  # calamine would place it by counting
        if rows:
            max_row = max(max_row, max(map(int, rows)))
            columns = set(_COL_REF.findall(segment))  # a few distinct letters, however many cells
            max_col = max(max_col, max(map(_column, columns)))
            if max_row * max_col > MAX_CELLS:
                raise _Unsure("grid too large")
        for match in _FORMULA.finditer(segment):
            start = segment.rfind(b"<c r=", 0, match.start())
            ref = _CELL_REF.match(segment, start) if start >= 0 else None
            text = _FORMULA_TEXT.match(segment, match.start())
            if ref is None or text is None or not text.group(1):
                raise _Unsure("shared or unplaced formula")
            formula = "=" + unescape(text.group(1).decode("utf-8"), _ENTITIES)
            formulas[(int(ref.group(2)), _column(ref.group(1)) - 1)] = formula
    return formulas


def _with_end(pieces: Iterator[bytes]) -> Iterator[bytes | None]:
    yield from pieces
    yield None


def _sheet_parts(archive: zipfile.ZipFile, caps: dict[str, int]) -> dict[str, str]:
    """Sheet name → part, through xl/workbook.xml and its relationships, as calamine finds them."""
    names = set(archive.namelist())
    try:
        book = SafeTree.fromstring(archive.read("xl/workbook.xml")[:caps.get("xl/workbook.xml", 0) + 1])
        rels = SafeTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except Exception:  # missing, broken or hostile: openpyxl decides what the file is
        raise _Unsure("workbook") from None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    sheets = {}
    for sheet in book.iter():
        if sheet.tag.endswith("}sheet") and sheet.get(_REL) in targets:
            target = targets[sheet.get(_REL)]
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
            if part not in names:
                raise _Unsure("sheet part")
            sheets[sheet.get("name")] = part
    if not sheets:
        raise _Unsure("no sheets")
    return sheets


def survey(path: Path, caps: dict[str, int], default_cap: int, skip: tuple[str, ...]) -> Survey | None:
    """Inflate every part (but `skip`ped folders, which calamine never reads) within its cap and scan the
    sheets; a Survey when calamine may read the file, None when openpyxl must. Raises Unsafe."""
    try:
        with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            sheets = _sheet_parts(archive, caps)
            sheet_of = {part: name for name, part in sheets.items()}
            result = Survey(sheets)
            for info in archive.infolist():
                if info.filename.startswith(skip) or info.is_dir():
                    continue
                pieces = _inflate(handle, info, caps.get(info.filename, default_cap))
                if info.filename in sheet_of:
                    result.formulas[sheet_of[info.filename]] = _scan_sheet(pieces)
                else:
                    for _piece in pieces:
                        pass
            return result
    except _Unsure:
        return None
    except (*UNREADABLE_ZIP, zlib.error):
        return None  # openpyxl will say the workbook is damaged, as it always did


def _reraise_unless_calamine(exc: BaseException) -> None:
    """calamine's errors are Exceptions, but a panic inside its Rust code reaches Python as pyo3's PanicException,
    a BaseException: both mean the file, not the server. Anything else (an interrupt, an exit) goes on."""
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc


class Unreadable(Exception):
    """calamine could not read a sheet the survey passed (damaged data, not a size): openpyxl decides."""


def visible_sheets(path: Path) -> list[str] | None:
    """The visible worksheets' names, in order, or None when calamine cannot open the file."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum
    try:
        book = CalamineWorkbook.from_path(str(path))
        names = [m.name for m in book.sheets_metadata
                 if m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet]
        book.close()
        return names
    except BaseException as exc:
        _reraise_unless_calamine(exc)
        return None


def rows(path: Path, sheet: str, formulas: dict[tuple[int, int], str]) -> tuple[Iterator[tuple[int, list[Any],
                                                                                                 set[int]]], int]:
    """(row number, values as openpyxl gives them, formula columns) of `sheet`, and its number of rows."""
    from python_calamine import CalamineWorkbook
    try:
        book = CalamineWorkbook.from_path(str(path))
        try:
            data = book.get_sheet_by_name(sheet)
        finally:
            book.close()
    except BaseException as exc:  # calamine's errors (a bad checksum, a missing node): the file is damaged
        _reraise_unless_calamine(exc)
        raise Unreadable(str(exc)) from None
    # iter_rows yields every row from the sheet's first (empty ones too), but the columns from the grid's first
    first_col = data.start[1] if data.start else 0
    return _rows(data, first_col, formulas), (data.end[0] + 1 if data.end else 0)


def _rows(data, first_col: int, formulas: dict[tuple[int, int], str]):
    pad = [None] * first_col
    by_row: dict[int, dict[int, str]] = {}
    for (row, col), formula in formulas.items():
        by_row.setdefault(row, {})[col] = formula
    normalize, is_normalized = unicodedata.normalize, unicodedata.is_normalized
    for offset, cells in enumerate(data.iter_rows()):
        number = offset + 1
        while by_row and min(by_row) < number:  # formulas without a cached value, above calamine's grid
            row = min(by_row)
            yield row, *_formula_row(by_row.pop(row))
        values = pad + cells if pad else cells
        for index, value in enumerate(values):
            kind = type(value)
            if kind is str:
                if not value:
                    values[index] = None  # calamine's empty cell; openpyxl's is None
                elif not value.isascii() and not is_normalized("NFC", value):
                    values[index] = normalize("NFC", value)
            elif kind is float and value.is_integer() and abs(value) < 2**53:
                values[index] = int(value)  # openpyxl gives whole numbers as int
        marked = by_row.pop(number, {}) if by_row else {}
        for col, formula in marked.items():
            if col >= len(values):
                values.extend([None] * (col + 1 - len(values)))
            values[col] = formula  # as openpyxl reads it with data_only=False: the formula, not its result
        yield number, values, set(marked)
    for row in sorted(by_row):  # and below it
        yield row, *_formula_row(by_row[row])


def _formula_row(marked: dict[int, str]) -> tuple[list[Any], set[int]]:
    values: list[Any] = [None] * (max(marked) + 1)
    for col, formula in marked.items():
        values[col] = formula
    return values, set(marked)
