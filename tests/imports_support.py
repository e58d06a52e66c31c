"""Workbooks for the import tests: real .xlsx files built with openpyxl, rows of organizations."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook

ORG_HEADER = ["Tên doanh nghiệp", "Mã số thuế", "Địa chỉ", "Quận/Huyện", "Phường/Xã", "Ngành", "Người liên hệ",
              "Số điện thoại", "Email", "Số lao động"]


def org_row(code: str, name: str | None = None, district: str = "Quận 1", ward: str = "Phường Bến Nghé",
            **overrides: Any) -> list[Any]:
    row = {"name": name or f"Công ty Thử nghiệm {code}", "tax_code": code, "address": "1 Lê Lợi",
           "district": district, "ward": ward, "sector": "Dịch vụ ăn uống", "contact": "Nguyễn Văn An",
           "phone": "0903123456", "email": f"lienhe{code}@example.vn", "workers": 12}
    row.update(overrides)
    return list(row.values())


def xlsx(rows: list[list[Any]], *, before: list[list[Any]] = (), merge: str | None = None,
         trailing_blank: int = 0, sheet: str = "Danh sách") -> bytes:
    """A workbook whose first sheet holds `before` (title rows), then `rows` (header first)."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in [*before, *rows]:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    last = ws.max_row
    for offset in range(1, trailing_blank + 1):  # rows that exist in the file but hold nothing
        ws.cell(row=last + offset, column=1).value = ""
        ws.cell(row=last + offset, column=2).number_format = "@"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path
