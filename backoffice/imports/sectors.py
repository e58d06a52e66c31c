"""The sector vocabulary of imports: sector labels as offices write them, matched to a sector or refused.

Offices write "Quán ăn – giải khát", "Dịch vụ lưu trú, khách sạn", "TM-DV", "Siêu thị/Chợ". A cell is folded
(case, diacritics, punctuation), its abbreviations expanded ("tm" → "thuong mai"), then read as a sequence of
known phrases (longest first), generic words ("dịch vụ", "kinh doanh") aside. Every phrase must belong to ONE
sector: two sectors ("Siêu thị/Chợ") are refused naming both; a word nobody knows is refused naming the closest
labels. A sector decides the criteria set and the reports: it is never guessed, and never a silent "Khác".
"""
from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

from backoffice.domain import Sector
from backoffice.errors import Invalid
from backoffice.geo.resolve import fold

# The labels the template's dropdown offers (Vietnamese), one per sector.
LABELS_VI = {
    Sector.ENTERPRISE: "Doanh nghiệp, cơ sở sản xuất", Sector.OFFICE: "Văn phòng, cơ quan",
    Sector.SUPERMARKET: "Siêu thị, trung tâm thương mại, cửa hàng tiện lợi", Sector.MARKET: "Chợ truyền thống",
    Sector.FOOD_SERVICE: "Dịch vụ ăn uống", Sector.SCHOOL: "Trường học", Sector.OTHER: "Khác",
}

# Phrases (folded) that name a sector, alone or beside others of the same sector. Lodging has no criteria set
# of its own in the city's sets (DOMAIN.md §3): it is "Khác" by name, not by default.
PHRASES = {
    Sector.ENTERPRISE: ["doanh nghiep", "co so san xuat", "san xuat", "nha may", "xi nghiep", "xuong",
                        "thuong mai", "thuong mai dich vu", "xuat nhap khau", "kho bai", "kho van",
                        "khu cong nghiep", "khu che xuat",
                        "logistics", "xay dung", "enterprise", "production site", "production", "factory",
                        "manufacturing", "trading"],
    Sector.OFFICE: ["van phong", "co quan", "tru so", "hanh chinh", "van phong dai dien", "office", "agency",
                    "ngan hang", "bank"],
    Sector.SUPERMARKET: ["sieu thi", "sieu thi mini", "trung tam thuong mai", "cua hang tien loi",
                         "cua hang thuc pham", "cua hang bach hoa", "bach hoa", "tap hoa", "minimart", "mini mart",
                         "supermarket", "mall", "shopping mall", "convenience store"],
    Sector.MARKET: ["cho", "cho truyen thong", "cho dau moi", "cho si", "cho dan sinh", "market",
                    "traditional market", "wholesale market"],
    Sector.FOOD_SERVICE: ["an uong", "quan an", "nha hang", "giai khat", "ca phe", "quan ca phe", "tra sua",
                          "quan nhau", "bep an", "cang tin", "an sang", "food service", "food", "restaurant",
                          "cafe", "coffee", "canteen", "food and beverage", "f b"],
    Sector.SCHOOL: ["truong hoc", "truong", "co so giao duc", "giao duc", "mam non", "nha tre", "tieu hoc",
                    "trung hoc", "thcs", "thpt", "dai hoc", "cao dang", "trung tam ngoai ngu", "school",
                    "education", "kindergarten", "university"],
    Sector.OTHER: ["khac", "other", "luu tru", "khach san", "nha nghi", "homestay", "hotel", "lodging",
                   "accommodation"],
}

# Abbreviations as offices write them (one folded word → what it stands for).
ABBREVIATIONS = {"tm": "thuong mai", "dv": "dich vu", "sx": "san xuat", "dn": "doanh nghiep",
                 "tttm": "trung tam thuong mai", "vp": "van phong", "cq": "co quan", "ks": "khach san",
                 "nh": "nha hang", "cf": "ca phe", "chtl": "cua hang tien loi", "xnk": "xuat nhap khau",
                 "cty": "cong ty", "gd": "giao duc", "st": "sieu thi", "th": "truong hoc"}

# Words that say nothing about the sector: "Dịch vụ lưu trú" is lodging, "Kinh doanh ăn uống" food service.
GENERIC = {"dich vu", "kinh doanh", "co so", "hoat dong", "nganh", "linh vuc", "loai hinh", "cac", "va",
           "and", "services", "service", "business", "tong hop", "khu", "diem", "cua hang", "shop", "store",
           "cong ty", "tnhh", "co phan", "company"}  # the legal form says nothing of the sector either


class SectorError(Invalid):
    """A cell that names no sector, or several; `candidates` are the sectors the cell comes closest to."""

    def __init__(self, kind: str, value: str, candidates: list[Sector]):
        super().__init__(kind)
        self.kind, self.value, self.candidates = kind, value, candidates


@lru_cache(maxsize=1)
def _index() -> tuple[dict[tuple[str, ...], Sector], int]:
    index: dict[tuple[str, ...], Sector] = {}
    for sector, phrases in PHRASES.items():
        for phrase in [*phrases, fold(LABELS_VI[sector]), fold(sector.value.replace("_", " "))]:
            index.setdefault(tuple(phrase.split()), sector)
    for word in GENERIC:
        index.setdefault(tuple(word.split()), None)  # type: ignore[arg-type]
    return index, max(len(key) for key in index)


def _words(value: Any) -> list[str]:
    words: list[str] = []
    for word in fold(value).split():
        words += ABBREVIATIONS.get(word, word).split()
    return words


def match(value: Any) -> Sector:
    """The sector a cell names; SectorError("unknown" | "ambiguous", cell, candidates) otherwise."""
    return _match(value) if isinstance(value, (str, int, float)) else _match.__wrapped__(value)


@lru_cache(maxsize=4096)  # files repeat a few labels thousands of times
def _match(value: Any) -> Sector:
    text = " ".join(str(value).split())
    index, longest = _index()
    whole = tuple(fold(value).split())
    if whole in index and index[whole] is not None:  # a label or phrase as it is
        return index[whole]
    words = _words(value)
    found: list[Sector] = []
    unknown: list[str] = []
    position = 0
    while position < len(words):
        for size in range(min(longest, len(words) - position), 0, -1):
            key = tuple(words[position:position + size])
            if key in index:
                if index[key] is not None:
                    found.append(index[key])
                position += size
                break
        else:
            unknown.append(words[position])
            position += 1
    sectors = list(dict.fromkeys(found))
    if len(sectors) == 1 and not unknown:
        return sectors[0]
    if len(sectors) > 1:
        raise SectorError("ambiguous", text, sectors)
    raise SectorError("unknown", text, sectors or _closest(words))


def _closest(words: list[str]) -> list[Sector]:
    """The sectors of the phrases nearest to the cell's words (a typo such as "sieu thj", "nha hnag")."""
    index, _longest = _index()
    phrases = {" ".join(key): sector for key, sector in index.items() if sector is not None}
    near = difflib.get_close_matches(" ".join(words), list(phrases), n=6, cutoff=0.7)
    for word in words:
        near += difflib.get_close_matches(word, list(phrases), n=2, cutoff=0.8)
    return list(dict.fromkeys(phrases[phrase] for phrase in near))[:3]
