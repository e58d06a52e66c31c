"""The downloadable template: Vietnamese headers with an English note on each, dropdowns (data validation)
for district, ward and sector, an example row, an instructions sheet, and the lists the dropdowns use."""
from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from backoffice.exports import set_text
from backoffice.extensions import db
from backoffice.imports.kinds import Kind
from backoffice.models import District, Ward

DATA_ROWS = 5000  # rows the dropdowns cover
LISTS = "Danh mục"

INSTRUCTIONS = [
    ("Hướng dẫn nhập dữ liệu", "How to fill in this file"),
    ("1. Điền mỗi dòng một bản ghi vào trang \"Danh sách\", bắt đầu từ dòng 3; xóa dòng ví dụ (dòng 2).",
     "1. One record per row on the \"Danh sách\" sheet from row 3; delete the example (row 2)."),
    ("2. Cột có dấu (*) là bắt buộc. Ô để trống khi cập nhật: giữ nguyên giá trị đang có.",
     "2. Columns marked (*) are required. An empty cell in an update keeps the current value."),
    ("3. Quận/Huyện, Phường/Xã, Ngành: chọn trong danh sách, hoặc gõ cách viết thông dụng (Q.1, P.2, TT Củ Chi).",
     "3. District, ward, sector: pick from the list, or type a common spelling (Q.1, P.2, TT Củ Chi)."),
    ("4. Mã số thuế: 10 chữ số, chi nhánh thêm -001…-999. Số điện thoại: 0… hoặc +84…. Ngày: ngày/tháng/năm.",
     "4. Tax code: 10 digits, -001…-999 for a branch. Phone: 0… or +84…. Dates: day/month/year."),
    ("5. Không dùng công thức: hãy nhập giá trị. Tiêu đề có thể nằm ở một trong 10 dòng đầu.",
     "5. No formulas: type values. The header may be on any of the first 10 rows."),
    ("6. Tải tệp lên: hệ thống kiểm tra và cho xem trước (mới / cập nhật / không đổi / lỗi) trước khi ghi.",
     "6. Upload: the system checks the file and shows a preview (new / update / unchanged / error) before "
     "anything is written; you then confirm."),
]


def build(kind: Kind) -> bytes:
    wb = Workbook()
    data = wb.active
    data.title = "Danh sách"
    lists = wb.create_sheet(LISTS)
    guide = wb.create_sheet("Hướng dẫn")
    bold, grey = Font(bold=True), Font(italic=True, color="666666")
    for index, column in enumerate(kind.columns, start=1):
        cell = data.cell(row=1, column=index)
        set_text(cell, column.header + (" (*)" if column.required else ""))
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.comment = Comment(column.note, "Back office")
        example = data.cell(row=2, column=index)
        set_text(example, column.example)
        example.font = grey
        if column.is_date or isinstance(column.example, date):
            example.number_format = "DD/MM/YYYY"
        if column.key in ("tax_code", "id_number", "phone"):
            for row in range(2, DATA_ROWS + 2):  # text cells keep leading zeros
                data.cell(row=row, column=index).number_format = "@"
        data.column_dimensions[get_column_letter(index)].width = column.width
    data.freeze_panes = "A2"
    _dropdowns(kind, data, lists)
    for row, (vietnamese, english) in enumerate(INSTRUCTIONS, start=1):
        set_text(guide.cell(row=row, column=1), vietnamese)
        set_text(guide.cell(row=row, column=2), english)
        if row == 1:
            guide.cell(row=1, column=1).font = guide.cell(row=1, column=2).font = Font(bold=True, size=13)
    guide.column_dimensions["A"].width = guide.column_dimensions["B"].width = 90
    lists.sheet_state = "hidden"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _dropdowns(kind: Kind, data, lists) -> None:
    positions = {column.key: index for index, column in enumerate(kind.columns, start=1)}
    values: dict[str, list[str]] = {}
    if "district" in positions:
        values["district"] = list(db.session.scalars(select(District.name).order_by(District.code)))
    if "ward" in positions:
        values["ward"] = sorted(set(db.session.scalars(select(Ward.name))))
    if "sector" in positions:
        from backoffice.imports.kinds.organizations import SECTOR_VI
        values["sector"] = list(SECTOR_VI.values())
    for n in range(1, 4):
        if f"vaccine_{n}" in positions:
            from backoffice.health.vaccines import vocabulary  # the rules' products, by the names they resolve
            values[f"vaccine_{n}"] = list(vocabulary().names.values())
    if "gender" in positions:
        values["gender"] = ["Nam", "Nữ", "Khác"]
    for list_column, (key, options) in enumerate(values.items(), start=1):
        letter = get_column_letter(list_column)
        set_text(lists.cell(row=1, column=list_column), key)
        for row, option in enumerate(options, start=2):
            set_text(lists.cell(row=row, column=list_column), option)
        # A warning, not a stop: other spellings ("Q.1", "P.2") are accepted by the import.
        validation = DataValidation(type="list", formula1=f"'{LISTS}'!${letter}$2:${letter}${len(options) + 1}",
                                    allow_blank=True, errorStyle="warning", showErrorMessage=True,
                                    error="Giá trị không có trong danh sách / not in the list")
        target = get_column_letter(positions[key])
        validation.add(f"{target}2:{target}{DATA_ROWS + 1}")
        data.add_data_validation(validation)
