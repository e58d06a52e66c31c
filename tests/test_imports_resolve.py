"""District and ward names in the spellings people use (DOMAIN.md §5), resolved from the units in the database."""
from __future__ import annotations

import pytest

from backoffice.geo.resolve import UnitError, UnitResolver, fold


@pytest.fixture()
def units(ctx):
    return UnitResolver.from_database()


def test_fold():
    assert fold("Quận/Huyện") == "quan huyen"
    assert fold("  SĐT (*) ") == "sdt"
    assert fold("Thành phố Thủ Đức") == "thanh pho thu duc"


@pytest.mark.parametrize("text, code", [
    ("Quận 1", 760), ("Q.1", 760), ("Q1", 760), ("quan 1", 760), ("District 1", 760), ("QUẬN 01", 760), (760, 760),
    ("Quận 1, TP. Hồ Chí Minh", 760), ("TP. Thủ Đức", 769), ("Thủ Đức", 769), ("thanh pho thu duc", 769),
    ("Thu Duc City", 769), ("Huyện Củ Chi", 783), ("H. Củ Chi", 783), ("cu chi", 783), ("Q. Bình Thạnh", 765),
    ("Bình Thạnh District", 765), ("Quận 12", 761),
])
def test_district_spellings(units, text, code):
    assert units.district(text).code == code


def test_unknown_district(units):
    with pytest.raises(UnitError, match="Quận 2"):
        units.district("Quận 2")  # merged into Thủ Đức in 2021


@pytest.mark.parametrize("text, district, code", [
    ("P.2", 770, 27157), ("Phường 02", 770, 27157), ("phuong 2", 770, 27157), ("P2", 770, 27157),
    ("Ward 2", 770, 27157), ("2", 770, 27157), ("TT Củ Chi", 783, 27496), ("Thị trấn Củ Chi", 783, 27496),
    ("TT. Củ Chi", 783, 27496), ("Bến Nghé", None, 26740), ("P. Bến Nghé", 760, 26740), ("ben nghe", 760, 26740),
    ("Võ Thị Sáu", 770, 27139),
])
def test_ward_spellings(units, text, district, code):
    assert units.ward(text, district).code == code


def test_ward_without_district_is_ambiguous(units):
    with pytest.raises(UnitError) as error:
        units.ward("Phường 2")
    assert "Quận 3" in str(error.value)
    with pytest.raises(UnitError, match="Thành phố Thủ Đức"):
        units.ward("Tân Phú")  # a ward of Thủ Đức and of Quận 7


def test_ward_of_another_district(units):
    with pytest.raises(UnitError) as error:
        units.ward("Bến Nghé", 770)
    assert "Quận 3" in str(error.value) and "Quận 1" in str(error.value)
    with pytest.raises(UnitError):
        units.ward("Phường 99", 770)
