"""The demo's made-up people: Vietnamese names, identity numbers as issued since 2016, and
households of a phone holder and the dependants they declare for.

Kept apart from `load/`, which only the load tools import: the demo is part of the service's
command, load generation is not. `load.data` keeps a copy of the makers (load/ imports
nothing of the service); tests/load/test_tools_apart.py checks both draw the same people.
Seeded, so every run makes the same people."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

Gender = Literal["male", "female"]
Relation = Literal["self", "child", "parent"]

SURNAMES = (("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Hoàng", 5), ("Huỳnh", 5),
            ("Phan", 4), ("Vũ", 4), ("Võ", 4), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2),
            ("Ngô", 2), ("Dương", 1), ("Lý", 1))  # fmt: skip
MIDDLE_NAMES: dict[Gender, tuple[str, ...]] = {
    "male": ("Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Công", "Gia", "Hoàng", "Xuân"),
    "female": ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương", "Kim", "Hồng", "Bích", "Mai"),
}
GIVEN_NAMES: dict[Gender, tuple[str, ...]] = {
    "male": ("Hùng", "Dũng", "Tuấn", "Nam", "Long", "Huy", "Khánh", "Phúc", "Quang", "Sơn",
             "Thắng", "Trung", "Việt", "Bảo", "Đạt", "Hiếu", "Kiên", "Lâm", "Nghĩa", "Tài"),
    "female": ("Lan", "Hương", "Mai", "Hà", "Linh", "Trang", "Thảo", "Ngân", "Yến", "Hằng",
               "Nhung", "Vy", "Chi", "Quỳnh", "Duyên", "Oanh", "Thủy", "Trâm", "Uyên", "Giang"),
}  # fmt: skip
STREETS = ("Tràng Tiền", "Lê Lợi", "Nguyễn Huệ", "Trần Hưng Đạo", "Hai Bà Trưng",
           "Lý Thường Kiệt", "Điện Biên Phủ", "Phan Đình Phùng", "Hùng Vương", "Quang Trung",
           "Võ Thị Sáu", "Nguyễn Trãi", "Lê Duẩn", "Bạch Đằng", "Hoàng Diệu")  # fmt: skip


@dataclass(frozen=True)
class Person:
    full_name: str
    id_number: str
    birth_year: int
    gender: Gender
    relation: Relation
    phone: str | None
    province: int
    ward: int
    street: str

    def as_json(self) -> dict[str, Any]:
        """The `person` of a declaration, as the app sends it."""
        person: dict[str, Any] = {
            "full_name": self.full_name,
            "relation": self.relation,
            "id_number": self.id_number,
            "birth_year": self.birth_year,
            "gender": self.gender,
            "nationality": "VN",
        }
        if self.phone is not None:
            person["phone"] = self.phone
        return person


def make_name(rng: random.Random, gender: Gender, surname: str | None = None) -> str:
    family = surname or rng.choices([s for s, _ in SURNAMES], [w for _, w in SURNAMES])[0]
    return f"{family} {rng.choice(MIDDLE_NAMES[gender])} {rng.choice(GIVEN_NAMES[gender])}"


def make_cccd(rng: random.Random, province: int, gender: Gender, birth_year: int) -> str:
    """A citizen identity card number: 3-digit province of birth registration, a digit for
    gender and century, two digits of the birth year, six more."""
    century = 0 if birth_year < 2000 else 2
    gender_digit = century + (1 if gender == "female" else 0)
    return f"{province:03d}{gender_digit}{birth_year % 100:02d}{rng.randrange(1_000_000):06d}"


def make_holder(rng: random.Random, phone: str, province: int, ward: int) -> Person:
    """An adult with a phone, who declares for themselves and their household."""
    gender: Gender = rng.choice(("male", "female"))
    birth_year = rng.randint(1950, 2005)
    return Person(
        full_name=make_name(rng, gender),
        id_number=make_cccd(rng, province, gender, birth_year),
        birth_year=birth_year,
        gender=gender,
        relation="self",
        phone=phone,
        province=province,
        ward=ward,
        street=f"{rng.randint(1, 400)} {rng.choice(STREETS)}",
    )


def make_dependant(rng: random.Random, holder: Person) -> Person:
    """A child or an elderly parent without a phone, at the holder's address."""
    relation: Relation = "child" if rng.random() < 0.6 else "parent"
    gender: Gender = rng.choice(("male", "female"))
    birth_year = rng.randint(2012, 2024) if relation == "child" else rng.randint(1935, 1960)
    return Person(
        full_name=make_name(rng, gender, holder.full_name.split(" ", 1)[0]),
        id_number=make_cccd(rng, holder.province, gender, birth_year),
        birth_year=birth_year,
        gender=gender,
        relation=relation,
        phone=None,
        province=holder.province,
        ward=holder.ward,
        street=holder.street,
    )
