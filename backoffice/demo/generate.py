"""Generators of valid-looking identifiers and Vietnamese names for demo data and benchmarks."""
from __future__ import annotations

import random

from stdnum.vn import mst

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
            "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Quốc", "Thu", "Hoài", "Gia", "Bảo"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương", "Khoa",
         "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Ngân", "Phong", "Phúc", "Quân", "Tâm", "Thảo", "Trang",
         "Trí", "Tú", "Tuấn", "Uyên", "Việt", "Vy", "Xuân", "Yến"]
ORG_KINDS = {
    "enterprise": ["Công ty TNHH Sản xuất", "Công ty Cổ phần Cơ khí", "Xưởng may", "Công ty TNHH Bao bì"],
    "office": ["Văn phòng Công ty", "Trung tâm Dịch vụ", "Công ty Tư vấn"],
    "supermarket": ["Siêu thị", "Cửa hàng tiện lợi", "Cửa hàng Bách hóa"],
    "market": ["Chợ", "Ban quản lý chợ"],
    "food_service": ["Nhà hàng", "Quán cà phê", "Quán ăn", "Tiệm bánh"],
    "school": ["Trường Tiểu học", "Trường THCS", "Trường THPT", "Trường Mầm non"],
    "other": ["Hợp tác xã", "Cơ sở Dịch vụ"],
}
ORG_NAMES = ["Phương Nam", "Sài Gòn Xanh", "Bến Thành", "Hòa Bình", "Đại Việt", "Thành Công", "Ánh Dương", "Tân Tiến",
             "Hưng Thịnh", "Phú Mỹ", "An Khang", "Bình Minh", "Sông Hồng", "Trường Sơn", "Hoa Sen", "Mê Kông"]
STREETS = ["Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Pasteur", "Điện Biên Phủ", "Cách Mạng Tháng Tám",
           "Nguyễn Thị Minh Khai", "Võ Văn Tần", "Trần Hưng Đạo", "Lý Thường Kiệt", "Phan Xích Long"]
VACCINES = ["astrazeneca", "pfizer", "moderna", "sinopharm", "sputnik_v"]


def tax_code(rng: random.Random) -> str:
    while True:
        head = f"{rng.randint(1, 9)}{rng.randint(0, 99_999_999):08d}"
        try:
            check = mst.calc_check_digit(head)
        except Exception:  # a check digit of 10 makes no valid code: draw again
            continue
        code = head + check
        if mst.is_valid(code):
            return code


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def cccd(rng: random.Random, birth_year: int, female: bool) -> str:
    century = (0 if birth_year < 2000 else 2) + (1 if female else 0)
    return f"079{century}{birth_year % 100:02d}{rng.randint(0, 999_999):06d}"


def mobile(rng: random.Random) -> str:
    return f"+849{rng.choice('0134')}{rng.randint(0, 9_999_999):07d}"


def org_name(rng: random.Random, sector: str) -> str:
    return f"{rng.choice(ORG_KINDS[sector])} {rng.choice(ORG_NAMES)} {rng.randint(1, 999)}"


def address(rng: random.Random) -> str:
    return f"{rng.randint(1, 300)} {rng.choice(STREETS)}"
