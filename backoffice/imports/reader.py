"""Opening an uploaded spreadsheet safely, and reading its rows.

Nothing parses the file before it passed, in order: the extension (.xlsx or .csv), the magic bytes, the size
limit, and for .xlsx a zip-bomb check on the central directory (member count, declared uncompressed total,
compression ratio, and the declared size of EACH part against a cap for its kind). The per-part cap is what
bounds memory: openpyxl's read-only mode streams worksheets row by row, but loads the shared strings, the styles
and the workbook part whole (a 100 MB sharedStrings.xml, 11 MB zipped, took ~600 MB; its strings cost 4-6 times
their XML). Python's zipfile never inflates a member beyond its declared size, and openpyxl is given an archive
that counts the bytes of every part it inflates and stops at the part's cap anyway (`_BoundedZip`), so a lying
directory changes nothing. openpyxl then reads with defusedxml (installed, so openpyxl uses it for every XML
part), in read-only mode with `data_only=False` so formula cells are seen as formulas, and `reset_dimensions()`
because the stored dimension of a sheet is whatever the writing program claimed.

Most files are not read by openpyxl any more but by python-calamine (10-20 times faster),
once `fastread.survey` has inflated every part within its cap and scanned the sheets' grids and formulas;
openpyxl reads what the survey cannot vouch for. calamine parses XML with quick-xml, which expands no DTD.
"""
from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any, Iterator

from flask_babel import gettext as _
from defusedxml import ElementTree as SafeTree
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils import get_column_letter

from backoffice.imports import fastread

import defusedxml  # noqa: F401  (openpyxl switches to defusedxml when it is importable; fail loudly if not)


class FileRejected(ValueError):
    """The file cannot be imported at all; the message says why, in the user's language."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_uncompressed: int = 400 * 1024 * 1024
    max_ratio: int = 150  # per member larger than 1 MB; sheet XML compresses 10-30×, bombs 1000×
    max_members: int = 2000
    max_rows: int = 200_000
    # Each inflated part, by how openpyxl reads it. A worksheet is streamed row by row (only time grows with it;
    # 200,000 rows of 10 columns with inline strings are ~150 MB). The shared strings are loaded whole, at 4-6
    # times their size: 200,000 rows of unique names, addresses and contacts need ~55 MB. Anything else
    # (styles, workbook, theme, relationships) is parsed whole into objects and is a few KB in real files.
    max_sheet_part: int = 256 * 1024 * 1024
    max_strings_part: int = 64 * 1024 * 1024
    max_other_part: int = 16 * 1024 * 1024


XLSX_MAGIC = b"PK\x03\x04"


def check_file(path: Path, filename: str, limits: Limits) -> str:
    """Refuse what is not a reasonable .xlsx or .csv; returns "xlsx" or "csv"."""
    return _check(path, filename, limits)[0]


def _check(path: Path, filename: str, limits: Limits) -> tuple[str, dict[str, int]]:
    """`check_file`, and for an .xlsx the cap of each of its parts."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise FileRejected(_("Only Excel workbooks (.xlsx) and CSV files (.csv) can be imported."))
    size = path.stat().st_size
    if size == 0:
        raise FileRejected(_("The file is empty."))
    if size > limits.max_bytes:
        raise FileRejected(_("The file is %(size)d MB; the limit is %(limit)d MB.", size=size // 2**20 + 1,
                             limit=limits.max_bytes // 2**20))
    with path.open("rb") as handle:
        head = handle.read(8192)
    if suffix == ".xlsx":
        if not head.startswith(XLSX_MAGIC):
            raise FileRejected(_("This file is not an Excel workbook (.xlsx), whatever its name says. "
                                 "Old .xls files must be saved as .xlsx first."))
        return "xlsx", _check_zip(path, limits)
    if b"\x00" in head or head.startswith(XLSX_MAGIC) or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected(_("This file is not a CSV text file, whatever its name says."))
    return "csv", {}


class PartTooLarge(Exception):
    """A part inflated past its cap while openpyxl read it (not a ValueError: openpyxl rewraps those)."""

    def __init__(self, part: str, limit: int):
        super().__init__(part)
        self.part, self.limit = part, limit


def _part_too_large(part: str, size: int | None, limit: int) -> FileRejected:
    if size is None:
        return FileRejected(_("The part %(part)s of the workbook unpacks to more than %(limit)d MB, the most "
                              "accepted for it (a possible \"zip bomb\"); it was not read.", part=part,
                              limit=limit // 2**20))
    return FileRejected(_("The part %(part)s of the workbook unpacks to %(size)d MB; at most %(limit)d MB is "
                          "accepted for it (a possible \"zip bomb\"); it was not opened.", part=part,
                          size=-(-size // 2**20), limit=limit // 2**20))


STRINGS_TYPE = "sharedStrings+xml"
SHEET_TYPE = "worksheet+xml"
UNREAD_FOLDERS = ("xl/media/", "xl/embeddings/")  # pictures and objects: read-only openpyxl never inflates them


def part_caps(archive: zipfile.ZipFile, limits: Limits) -> dict[str, int]:
    """The cap of every part, by what [Content_Types].xml declares it to be: a part declared as the shared
    strings gets that cap even if it is named like a sheet (openpyxl finds the strings by their declaration)."""
    declared: dict[str, str] = {}
    try:
        info = archive.getinfo("[Content_Types].xml")
        if info.file_size <= limits.max_other_part:
            with archive.open(info) as source:
                root = SafeTree.fromstring(source.read(limits.max_other_part + 1))
            for item in root:
                if item.tag.endswith("Override") and item.get("PartName"):
                    declared[item.get("PartName").lstrip("/")] = item.get("ContentType", "")
    except (KeyError, SafeTree.ParseError, ValueError, OSError, zipfile.BadZipFile):
        pass  # a missing or broken manifest: openpyxl refuses the file; every part gets the strict cap
    except Exception:  # defusedxml's refusals (entities, DTDs): the manifest is hostile, the file damaged
        raise FileRejected(_("The workbook is damaged and cannot be opened.")) from None
    caps = {}
    for member in archive.infolist():
        name, kind = member.filename, declared.get(member.filename, "")
        if kind.endswith(STRINGS_TYPE) or (not kind and "sharedstrings" in name.lower()):
            caps[name] = limits.max_strings_part
        elif kind.endswith(SHEET_TYPE) or (not kind and name.startswith("xl/worksheets/")
                                           and name.endswith(".xml")) or name.startswith(UNREAD_FOLDERS):
            caps[name] = limits.max_sheet_part
        else:
            caps[name] = limits.max_other_part
    return caps


def _check_zip(path: Path, limits: Limits) -> dict[str, int]:
    """The zip-bomb checks on the central directory; returns each part's cap for `_BoundedZip`."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {m.filename for m in members}
            if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
                raise FileRejected(_("This file is not an Excel workbook (.xlsx), whatever its name says. "
                                     "Old .xls files must be saved as .xlsx first."))
            if len(names) != len(members):
                # Two parts under one name: readers disagree on which one is the workbook (openpyxl takes the
                # last, calamine the first), so what was checked need not be what is read.
                raise FileRejected(_("The workbook is damaged and cannot be opened: two of its parts have the same "
                                     "name."))
            if len(members) > limits.max_members:
                raise FileRejected(_("The workbook unpacks to far more data than a spreadsheet of its size "
                                     "should (a possible \"zip bomb\"); it was not opened."))
            caps = part_caps(archive, limits)
    except FileRejected:
        raise
    except fastread.UNREADABLE_ZIP:
        raise FileRejected(_("The workbook is damaged and cannot be opened.")) from None
    for member in members:
        if member.file_size > caps[member.filename]:
            raise _part_too_large(member.filename, member.file_size, caps[member.filename])
    total = sum(m.file_size for m in members)
    too_packed = any(m.file_size > 2**20 and m.file_size > limits.max_ratio * max(m.compress_size, 1)
                     for m in members)
    if total > limits.max_uncompressed or too_packed:
        raise FileRejected(_("The workbook unpacks to far more data than a spreadsheet of its size should "
                             "(a possible \"zip bomb\"); it was not opened."))
    return caps


class _CountedPart(io.RawIOBase):
    """One part as openpyxl reads it, counting inflated bytes: past the part's cap it stops with PartTooLarge."""

    def __init__(self, raw: IO[bytes], part: str, cap: int):
        super().__init__()
        self._raw, self._part, self._cap, self._count = raw, part, cap, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), self._cap - self._count + 1))
        self._count += len(data)
        if self._count > self._cap:
            raise PartTooLarge(self._part, self._cap)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _BoundedZip(zipfile.ZipFile):
    """The archive openpyxl reads through: every part it opens (or reads whole) is a `_CountedPart`."""

    def __init__(self, file: IO[bytes], caps: dict[str, int], default_cap: int):
        super().__init__(file)
        self._caps, self._default_cap = caps, default_cap

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):
        raw = super().open(name, mode, pwd, force_zip64=force_zip64)
        if mode != "r":
            return raw
        part = name.filename if isinstance(name, zipfile.ZipInfo) else name
        return io.BufferedReader(_CountedPart(raw, part, self._caps.get(part, self._default_cap)), 1 << 16)


@dataclass
class Row:
    number: int  # the row number the spreadsheet shows
    values: list[Any]
    formulas: set[int]  # 0-based column indexes holding formulas


class Table:
    """Rows of one sheet (or a CSV file) as the user sees them."""

    def __init__(self, kind: str, sheet_name: str, rows: Iterator[Row], estimated_rows: int | None,
                 closer=None):
        self.kind, self.sheet_name, self._rows = kind, sheet_name, rows
        self.estimated_rows = estimated_rows
        self._closer = closer

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def close(self) -> None:
        if self._closer:
            self._closer()


def open_table(path: Path, filename: str, limits: Limits, pick_sheet=None) -> Table:
    """Check, open and return the rows of the sheet `pick_sheet(first_rows_by_sheet)` chooses (default: first)."""
    kind, caps = _check(path, filename, limits)
    if kind == "csv":
        return Table("csv", Path(filename).name, _csv_rows(path, limits), None)
    try:
        plan = fastread.survey(path, caps, limits.max_other_part, UNREAD_FOLDERS)
    except fastread.Unsafe as exc:
        raise _part_too_large(exc.part, None, exc.limit) from None
    if plan is not None:
        table = _calamine_table(path, plan, limits, pick_sheet)
        if table is not None:
            return table
    return _openpyxl_table(path, caps, limits, pick_sheet)


def _calamine_table(path: Path, plan: fastread.Survey, limits: Limits, pick_sheet) -> Table | None:
    """The sheet read by calamine, once the survey vouched for every part (None: calamine cannot open it)."""
    names = [name for name in (fastread.visible_sheets(path) or []) if name in plan.sheets]
    if not names:
        return None
    chosen = names[0]
    try:
        if pick_sheet and len(names) > 1:
            heads = {}
            for name in names[:5]:
                rows, _height = fastread.rows(path, name, plan.formulas.get(name, {}))
                heads[name] = [values for _, (_n, values, _f) in zip(range(10), rows)]
            chosen = pick_sheet(heads)
        rows, height = fastread.rows(path, chosen, plan.formulas.get(chosen, {}))
    except fastread.Unreadable:
        return None  # damaged: openpyxl reads it or says why, as it always did
    return Table("xlsx", chosen, _counted((Row(*row) for row in rows), limits), height if height > 1 else None)


def _openpyxl_table(path: Path, caps: dict[str, int], limits: Limits, pick_sheet) -> Table:
    """The sheet read by openpyxl (what the survey could not vouch for), through the counting archive."""
    handle = path.open("rb")  # a file object: openpyxl would judge a path by its (staging) extension
    try:
        # load_workbook(), with the counting archive in place of the one it opens (as openpyxl's own
        # load_workbook does: construct the reader, read, take its workbook).
        excel = ExcelReader(handle, read_only=True, data_only=False)
        excel.archive.close()
        excel.archive = _BoundedZip(handle, caps, limits.max_other_part)
        excel.read()
        workbook = excel.wb
    except PartTooLarge as exc:
        handle.close()
        raise _part_too_large(exc.part, None, exc.limit) from None
    except MemoryError:  # not a damaged file: the import's memory limit (jobs.py) says so itself
        handle.close()
        raise
    except Exception:  # openpyxl raises many types for broken parts; none of them is the user's to read
        handle.close()
        raise FileRejected(_("The workbook is damaged and cannot be opened.")) from None

    def close() -> None:
        workbook.close()
        handle.close()

    sheets = [ws for ws in workbook.worksheets if getattr(ws, "sheet_state", "visible") == "visible"
              and hasattr(ws, "iter_rows")]
    if not sheets:
        close()
        raise FileRejected(_("The workbook has no worksheet."))
    chosen = sheets[0]
    if pick_sheet and len(sheets) > 1:
        try:
            heads = {ws.title: [_values(r) for r in ws.iter_rows(max_row=10)] for ws in sheets[:5]}
        except PartTooLarge as exc:
            close()
            raise _part_too_large(exc.part, None, exc.limit) from None
        title = pick_sheet(heads)
        chosen = next((ws for ws in sheets if ws.title == title), chosen)
    estimated = chosen.max_row if chosen.max_row and chosen.max_row > 1 else None
    chosen.reset_dimensions()
    return Table("xlsx", chosen.title, _xlsx_rows(chosen, limits), estimated, close)


def _values(cells) -> list[Any]:
    return [getattr(c, "value", None) for c in cells]


def _xlsx_rows(ws, limits: Limits) -> Iterator[Row]:
    try:
        yield from _xlsx_rows_unbounded(ws, limits)
    except PartTooLarge as exc:
        raise _part_too_large(exc.part, None, exc.limit) from None


def _xlsx_rows_unbounded(ws, limits: Limits) -> Iterator[Row]:
    def rows() -> Iterator[Row]:
        for number, cells in enumerate(ws.iter_rows(), start=1):
            values, formulas = [], set()
            for index, cell in enumerate(cells):
                value = getattr(cell, "value", None)
                if getattr(cell, "data_type", None) == "f":
                    formulas.add(index)
                elif isinstance(value, str):
                    value = unicodedata.normalize("NFC", value)
                values.append(value)
            yield Row(number, values, formulas)
    yield from _counted(rows(), limits)


def _counted(rows: Iterator[Row], limits: Limits) -> Iterator[Row]:
    """The rows, refused past the row cap (counting rows that hold something)."""
    data_rows = 0
    for row in rows:
        if any(v is not None and v != "" for v in row.values):
            data_rows += 1
            if data_rows > limits.max_rows + 10:  # + the title and header rows
                raise FileRejected(_("The file has more than %(n)d rows; split it into smaller files.",
                                     n=limits.max_rows))
        yield row


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1258"):  # Excel's "CSV UTF-8", then Vietnamese Windows
        try:
            return unicodedata.normalize("NFC", data.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise FileRejected(_("The CSV file is neither UTF-8 nor Windows-1258 text."))


def _csv_rows(path: Path, limits: Limits) -> Iterator[Row]:
    text = _decode(path.read_bytes())
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    data_rows = 0
    # newline="": the csv module reads line ends itself (a lone CR in a cell is otherwise an error).
    rows = enumerate(csv.reader(io.StringIO(text, newline=""), dialect), start=1)
    while True:
        try:
            number, values = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field beyond csv's size limit, a NUL: the file, not the server
            raise FileRejected(_("The CSV file cannot be read near row %(row)d (%(error)s).",
                                 row=data_rows + 1, error=str(exc))) from None
        if any(v.strip() for v in values):
            data_rows += 1
            if data_rows > limits.max_rows + 10:
                raise FileRejected(_("The file has more than %(n)d rows; split it into smaller files.",
                                     n=limits.max_rows))
        # A CSV has no formulas: text starting with "=" is text, and the exports keep it inert.
        yield Row(number, [v if v.strip() else None for v in values], set())


def column_letter(index: int) -> str:
    return get_column_letter(index + 1)


def cell_text(value: Any) -> str:
    """A cell as it reads in the error report and the preview."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M") if value.time() != time() else value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
