"""Safe spreadsheet and CSV output: the one home of formula-injection defence for every export.

A text starting with `=`, `+`, `-`, `@`, a tab or a carriage return is what Excel and LibreOffice treat as
a formula (CVE-2021-33838 and its neighbours hit contact-tracing exports exactly this way). In .xlsx we
store such text as an explicit string cell; in CSV, where no cell type exists, we prefix a quote.
"""
from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Iterable, Iterator, Sequence

from flask import Response
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from werkzeug.utils import secure_filename

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def looks_like_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def has_illegal(value: Any) -> bool:
    return isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value) is not None


def csv_safe(value: Any) -> Any:
    """Neutralise a CSV cell that a spreadsheet would evaluate."""
    if looks_like_formula(value):
        return "'" + value
    return value


def _legal(text: str) -> str:
    """Control characters (a NUL in an audited path…) are not allowed in a worksheet: openpyxl raises
    IllegalCharacterError and the whole export failed. Show them as U+FFFD."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)


def xlsx_cell(ws, value: Any, *, bold: bool = False) -> WriteOnlyCell:
    """A write-only cell whose text is never interpreted as a formula."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # Excel has no time zones; callers pass local time
    if isinstance(value, str):
        value = _legal(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # openpyxl would otherwise store it as a formula
    if bold:
        cell.font = Font(bold=True)
    return cell


def set_text(cell, value: Any) -> None:
    """Assign a value to a normal (not write-only) cell, keeping formula-looking text as text."""
    cell.value = _legal(value) if isinstance(value, str) else value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"


def write_table(ws, headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int] | None = None) -> None:
    """Header row (bold, frozen, with autofilter) and data rows into a write-only worksheet."""
    if widths:
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    ws.append([xlsx_cell(ws, h, bold=True) for h in headers])
    count = 0
    for row in rows:
        ws.append([xlsx_cell(ws, v) for v in row])
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(headers)))}{count + 1}"


@contextmanager
def write_only_workbook() -> Iterator[Workbook]:
    """A write-only workbook that is closed even when building it fails.

    Each write-only sheet streams into a temporary file through an open generator; left open by an error
    (a bad date in a report's query, a failing row), it was closed only when garbage collected, writing its end
    tag into a file already closed ('Exception ignored in … _write_rows')."""
    wb = Workbook(write_only=True)
    try:
        yield wb
    except BaseException:
        try:
            wb.save(io.BytesIO())  # closes every sheet and removes its temporary file; the result is dropped
        except Exception:  # noqa: BLE001  (the first error is the one to report)
            pass
        raise


def xlsx_bytes(sheet_title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
               widths: Sequence[int] | None = None) -> bytes:
    out = io.BytesIO()
    with write_only_workbook() as wb:
        ws = wb.create_sheet(title=sheet_title[:31])
        write_table(ws, headers, rows, widths)
        wb.save(out)
    return out.getvalue()


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_safe(h) for h in headers])
    for row in rows:
        writer.writerow([csv_safe(_plain(v)) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM so Excel reads UTF-8 Vietnamese


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def download(data: bytes, filename: str, mimetype: str) -> Response:
    """A file to save, never kept by a browser or proxy cache: exports carry personal data."""
    name = secure_filename(filename) or "export"
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}",
                                                      "Cache-Control": "no-store"})
