"""Sheets read with python-calamine after a survey that keeps every check of openpyxl's
path; what the survey cannot vouch for is read by openpyxl."""
from __future__ import annotations

import io
import random
import struct
import unicodedata
import zipfile
from datetime import date, datetime

import pytest
from flask_babel import force_locale
from openpyxl import Workbook

from backoffice import identifiers
from backoffice.imports import columns, fastread, reader
from imports_support import write, xlsx


@pytest.fixture(autouse=True)
def english(ctx):
    with force_locale("en"):
        yield


def _rows(table) -> list[tuple]:
    try:
        # compared without trailing empty cells: calamine gives every row the grid's width, openpyxl stops at
        # each row's last cell; the engine reads a missing cell as an empty one
        return [(r.number, _trimmed(r.values), r.formulas) for r in table if any(v is not None for v in r.values)]
    finally:
        table.close()


def _trimmed(values: list) -> list:
    # openpyxl gives a date cell as a datetime at midnight, calamine as a date: every parser reads both alike
    values = [v.date() if isinstance(v, datetime) and v == datetime(v.year, v.month, v.day) else v for v in values]
    while values and values[-1] is None:
        values.pop()
    return values


def test_calamine_reads_what_openpyxl_read(ctx, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet["C2"] = "DANH SÁCH"
    sheet.append([])
    sheet.append([None, None, "Tên", "MST", "Ngày", "Số", unicodedata.normalize("NFD", "Phường Bến Nghé")])
    sheet.append([None, None, "Công ty A", "0100047516", date(2021, 10, 1), 12, "x"])
    sheet.append([None, None, "=UPPER(\"a&b\")", 100047516, datetime(2021, 10, 1, 8, 30), 1.5, True])
    out = io.BytesIO()
    book.save(out)
    path = write(tmp_path, "a.xlsx", out.getvalue())
    _kind, caps = reader._check(path, "a.xlsx", reader.Limits())
    assert fastread.survey(path, caps, reader.Limits().max_other_part, reader.UNREAD_FOLDERS) is not None
    fast = _rows(reader.open_table(path, "a.xlsx", reader.Limits()))
    slow = _rows(reader._openpyxl_table(path, caps, reader.Limits(), None))
    assert fast == slow
    assert fast[-1][1][2] == "=UPPER(\"a&b\")" and fast[-1][2] == {2}
    assert fast[1][1][6] == "Phường Bến Nghé" and fast[2][1][3] == "0100047516"


def test_sparse_grid_is_never_given_to_calamine(ctx, tmp_path):
    """Cells at A1 and XFD1048576: calamine would allocate 500 GB and abort the process."""
    book = Workbook()
    book.active["A1"] = "Tên"
    book.active.cell(row=1_048_576, column=16_384).value = "xa"
    out = io.BytesIO()
    book.save(out)
    path = write(tmp_path, "s.xlsx", out.getvalue())
    _kind, caps = reader._check(path, "s.xlsx", reader.Limits())
    assert fastread.survey(path, caps, reader.Limits().max_other_part, reader.UNREAD_FOLDERS) is None
    rows = _rows(reader.open_table(path, "s.xlsx", reader.Limits()))
    assert rows[0][1][0] == "Tên" and rows[-1][0] == 1_048_576


def _lying(data: bytes, member: str, declared: int) -> bytes:
    """The archive with `member`'s declared size (local header and directory) set to `declared`."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    raw = bytearray(data)
    struct.pack_into("<I", raw, info.header_offset + 22, declared)
    position = raw.find(b"PK\x01\x02")
    while position >= 0:
        length = struct.unpack_from("<H", raw, position + 28)[0]
        if raw[position + 46:position + 46 + length].decode() == member:
            struct.pack_into("<I", raw, position + 24, declared)
        position = raw.find(b"PK\x01\x02", position + 4)
    return bytes(raw)


def test_a_lying_directory_is_refused_before_calamine(ctx, tmp_path):
    rows = [["Tên", "MST"]] + [[f"Công ty {i}" * 5, "0100047516"] for i in range(3000)]
    data = _lying(xlsx(rows), "xl/worksheets/sheet1.xml", 1000)
    path = write(tmp_path, "lie.xlsx", data)
    with pytest.raises(reader.FileRejected, match="xl/worksheets/sheet1.xml"):
        reader.open_table(path, "lie.xlsx", reader.Limits(max_sheet_part=64 * 1024))


def test_phone_fast_path_answers_as_clean_phone(ctx):
    rnd = random.Random(22)
    for _ in range(5000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(7, 11)))
        for value in (digits, "0" + digits, "+84 " + digits, "0" + digits[:3] + "." + digits[3:], int(digits)):
            try:
                expected = identifiers.clean_phone(value)
            except ValueError:
                expected = "refused"
            try:
                got = columns.phone(value)
            except ValueError:
                got = "refused"
            assert got == expected, value


def test_a_workbook_calamine_cannot_read_is_refused_cleanly(ctx, tmp_path):
    """Sizes the survey passes but a sheet whose checksum is wrong: calamine's own error never escapes, the reader
    falls back to openpyxl, which refuses the damaged file with the usual message."""
    book = Workbook()
    book.active.append(["Tên doanh nghiệp", "Mã số thuế"])
    book.active.append(["Công ty A", "0312345678"])
    out = io.BytesIO()
    book.save(out)
    data = bytearray(out.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    wrong = struct.pack("<I", info.CRC ^ 0xFFFFFFFF)
    local = info.header_offset + 14  # the local header's CRC-32
    data[local:local + 4] = wrong
    for at in range(len(data) - 46):
        if data[at:at + 4] == b"PK\x01\x02" and struct.unpack("<I", data[at + 42:at + 46])[0] == info.header_offset:
            data[at + 16:at + 20] = wrong  # the central directory's CRC-32 of the same part
    path = tmp_path / "crc.xlsx"
    path.write_bytes(bytes(data))
    try:
        table = reader.open_table(path, "crc.xlsx", reader.Limits())
        list(table)
        table.close()
    except reader.FileRejected as exc:
        assert str(exc)
