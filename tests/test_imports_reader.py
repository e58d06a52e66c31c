"""Safe opening: what is refused before openpyxl reads anything, and what is read from odd but honest files."""
from __future__ import annotations

import io
import zipfile

import pytest
from flask_babel import force_locale

from backoffice.imports import reader
from imports_support import write, xlsx



@pytest.fixture(autouse=True)
def english(ctx):
    """Messages are asserted in English; the wizard test checks the Vietnamese default."""
    with force_locale("en"):
        yield

def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<sheetData>" + b" " * (300 * 2**20) + b"</sheetData>")
    return out.getvalue()


def test_zip_bomb_refused_before_parsing(ctx, tmp_path):
    data = _bomb()
    assert len(data) < 2 * 2**20  # 300 MB of XML in well under 2 MB
    with pytest.raises(reader.FileRejected, match="zip bomb"):
        reader.open_table(write(tmp_path, "bomb.xlsx", data), "bomb.xlsx", reader.Limits())


def test_declared_total_size_limit(ctx, tmp_path):
    data = xlsx([["Tên", "MST"], ["A", "0100047516"]])
    with pytest.raises(reader.FileRejected):
        reader.check_file(write(tmp_path, "a.xlsx", data), "a.xlsx", reader.Limits(max_uncompressed=1000))


def test_renamed_files_refused(ctx, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    with pytest.raises(reader.FileRejected, match="not an Excel workbook"):
        reader.check_file(write(tmp_path, "photo.xlsx", png), "photo.xlsx", reader.Limits())
    with pytest.raises(reader.FileRejected, match="not a CSV"):
        reader.check_file(write(tmp_path, "book.csv", xlsx([["a"]])), "book.csv", reader.Limits())
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(reader.FileRejected, match="not an Excel workbook"):
        reader.check_file(write(tmp_path, "a.xlsx", plain_zip.getvalue()), "a.xlsx", reader.Limits())
    with pytest.raises(reader.FileRejected, match=r"\.xlsx"):
        reader.check_file(write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 64), "old.xls",
                          reader.Limits())


def test_size_limit_and_empty(ctx, tmp_path):
    with pytest.raises(reader.FileRejected, match="limit"):
        reader.check_file(write(tmp_path, "a.csv", b"x" * 2000), "a.csv", reader.Limits(max_bytes=1000))
    with pytest.raises(reader.FileRejected, match="empty"):
        reader.check_file(write(tmp_path, "e.csv", b""), "e.csv", reader.Limits())


def test_row_cap(ctx, tmp_path):
    rows = [["Tên", "MST"]] + [[f"A{i}", "0100047516"] for i in range(30)]
    table = reader.open_table(write(tmp_path, "big.xlsx", xlsx(rows)), "big.xlsx", reader.Limits(max_rows=5))
    with pytest.raises(reader.FileRejected, match="more than 5 rows"):
        list(table)
    table.close()


def test_formula_cells_are_seen(ctx, tmp_path):
    table = reader.open_table(write(tmp_path, "f.xlsx", xlsx([["a", "b"], ["=1+1", "=A2"], ["x", "y"]])),
                              "f.xlsx", reader.Limits())
    rows = list(table)
    table.close()
    assert rows[1].formulas == {0, 1} and rows[1].values[0] == "=1+1"
    assert rows[2].formulas == set()


def test_csv_utf8_semicolons_and_windows_1258(ctx, tmp_path):
    text = "Tên doanh nghiệp;Mã số thuế\r\nCông ty Ánh Dương;0100047516\r\n"
    table = reader.open_table(write(tmp_path, "a.csv", ("\ufeff" + text).encode()), "a.csv", reader.Limits())
    assert [r.values for r in table][1] == ["Công ty Ánh Dương", "0100047516"]
    legacy = "Tên;MST\r\nCông ty Ánh Dương;0100047516\r\n".encode("cp1258")
    table = reader.open_table(write(tmp_path, "b.csv", legacy), "b.csv", reader.Limits())
    assert [r.values for r in table][1][0] == "Công ty Ánh Dương"
