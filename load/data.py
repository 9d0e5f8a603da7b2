"""Test data made up front: test phone numbers with fixed codes, Vietnamese people and the
declarations they would send.

Everything is derived from a seeded `random.Random`, so a run can be repeated exactly. The
address codes come from `vietnam-provinces` (the 34 provinces and their wards since 1 July
2025), drawn with rough population weights so Hà Nội and Hồ Chí Minh City dominate as they
would in a real surge.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal

from vietnam_provinces import Province, Ward

Gender = Literal["male", "female"]
Relation = Literal["self", "child", "parent"]
# The symptoms a declaration may name (the API's `Symptom`; a test keeps the two equal).
SYMPTOMS = (
    "fever",
    "cough",
    "shortness_of_breath",
    "sore_throat",
    "fatigue",
    "loss_of_taste_or_smell",
    "pneumonia",
)
# Vietnam's clock (UTC+7, no daylight saving), by which the service judges dates.
VIETNAM = timezone(timedelta(hours=7), "ICT")

# Test numbers live in +849000xxxxx (the citizens of a load run) and +849001xxxxx (the
# people whose QR codes the checkpoint clerks scan); real subscribers are never reached.
CITIZEN_PREFIX = "+849000"
SCANNED_PREFIX = "+849001"

# Names as the demo's people have them (api.demo_people), kept here because load/ speaks
# HTTP and imports nothing of the service; the street list has one street more.
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
STREETS = (
    "Tràng Tiền",
    "Lê Lợi",
    "Nguyễn Huệ",
    "Trần Hưng Đạo",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Điện Biên Phủ",
    "Phan Đình Phùng",
    "Hùng Vương",
    "Quang Trung",
    "Võ Thị Sáu",
    "Nguyễn Trãi",
    "Lê Duẩn",
    "Cách Mạng Tháng Tám",
    "Bạch Đằng",
    "Hoàng Diệu",
)
CHRONIC_CONDITIONS = ("hypertension", "diabetes", "heart", "lung", "kidney", "liver", "cancer")
VEHICLES = ("bus", "train", "plane", "car", "motorbike", "boat")
COUNTRIES = ("SG", "TH", "KR", "JP", "CN", "US", "LA", "KH", "MY", "AU")

# Millions of residents, rounded, for the provinces that differ most from the rest; the
# others weigh 2.5. Only the shape matters: big cities produce most declarations.
_POPULATION = {1: 8.7, 79: 14.0, 31: 4.7, 48: 3.1, 92: 4.2, 38: 4.3, 40: 3.8, 25: 4.0}


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


@lru_cache(maxsize=1)
def provinces() -> tuple[tuple[int, ...], tuple[float, ...], dict[int, tuple[int, ...]]]:
    """(province codes, their weights, ward codes of each province)."""
    codes = tuple(int(p.code) for p in Province.iter_all())
    weights = tuple(_POPULATION.get(code, 2.5) for code in codes)
    wards: dict[int, list[int]] = {code: [] for code in codes}
    for ward in Ward.iter_all():
        wards[int(ward.province_code)].append(int(ward.code))
    return codes, weights, {code: tuple(found) for code, found in wards.items()}


def vietnam_today() -> date:
    """The day in Vietnam, which the service judges trip dates and birth years by."""
    return datetime.now(VIETNAM).date()


def phone_number(prefix: str, index: int) -> str:
    return f"{prefix}{index:05d}"


def fixed_code(phone: str) -> str:
    """The fixed one-time code of a test number: its last six digits, reversed."""
    return phone[-6:][::-1]


def otp_variable(phones: list[str]) -> str:
    """The value of KHAIBAO_TEST_OTP that gives every listed phone its fixed code."""
    return ",".join(f"{phone}:{fixed_code(phone)}" for phone in phones)


def make_person(
    rng: random.Random,
    *,
    phone: str | None,
    relation: Relation = "self",
    near: Person | None = None,
    birth_years: tuple[int, int] = (1950, 2005),
) -> Person:
    """A person; `near` puts a dependant at the same address with the same family name."""
    codes, weights, wards = provinces()
    gender: Gender = rng.choice(("male", "female"))
    birth_year = rng.randint(*birth_years)
    if near is not None:
        province, ward, street = near.province, near.ward, near.street
        surname: str | None = near.full_name.split(" ", 1)[0]
    else:
        province = rng.choices(codes, weights)[0]
        ward = rng.choice(wards[province])
        street = f"{rng.randint(1, 400)} {rng.choice(STREETS)}"
        surname = None
    return Person(
        full_name=make_name(rng, gender, surname),
        id_number=make_cccd(rng, province, gender, birth_year),
        birth_year=birth_year,
        gender=gender,
        relation=relation,
        phone=phone,
        province=province,
        ward=ward,
        street=street,
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


def make_declaration(rng: random.Random, person: Person, *, today: date) -> dict[str, Any]:
    """One declaration as the app sends it. Most people are well and stayed home; a few have
    symptoms, an exposure or a trip, in roughly the proportions a surge would bring."""
    codes, weights, _ = provinces()
    symptoms: list[str] = []
    if rng.random() < 0.12:
        symptoms = sorted(rng.sample(SYMPTOMS, rng.randint(1, 3)))
    exposure = {
        "confirmed_case": rng.random() < 0.02,
        "suspected_case": rng.random() < 0.03,
        "from_affected_area": rng.random() < 0.05,
        "symptomatic_contact": rng.random() < 0.04,
    }
    domestic: list[dict[str, Any]] = []
    if rng.random() < 0.15:
        to_province = rng.choices(codes, weights)[0]
        domestic.append(
            {
                "vehicle": rng.choice(VEHICLES),
                "from_province": person.province,
                "to_province": to_province,
                "date": (today - timedelta(days=rng.randint(0, 13))).isoformat(),
            }
        )
    countries = sorted(rng.sample(COUNTRIES, 1)) if rng.random() < 0.04 else []
    chronic = [rng.choice(CHRONIC_CONDITIONS)] if rng.random() < 0.1 else []
    pregnant = person.gender == "female" and 1980 < person.birth_year < 2005 and rng.random() < 0.05
    return {
        "person": person.as_json(),
        "address": {"province": person.province, "ward": person.ward, "street": person.street},
        "symptoms": symptoms,
        "exposure": exposure,
        "chronic_conditions": chronic,
        "pregnant": pregnant,
        "travel": {"countries": countries, "domestic": domestic},
    }


@dataclass(frozen=True)
class Household:
    """One phone's account: the holder and the dependants they declare for."""

    phone: str
    code: str
    holder: Person
    dependants: tuple[Person, ...]

    @property
    def people(self) -> tuple[Person, ...]:
        return (self.holder, *self.dependants)


def make_households(prefix: str, count: int, *, seed: int) -> list[Household]:
    rng = random.Random(f"{seed}:{prefix}")
    households = []
    for index in range(count):
        phone = phone_number(prefix, index)
        holder = make_person(rng, phone=phone)
        dependants = tuple(make_dependant(rng, holder) for _ in range(rng.choice((0, 0, 1, 2))))
        households.append(Household(phone, fixed_code(phone), holder, dependants))
    return households


def settle_in(households: list[Household], ward: tuple[int, int], people: int) -> list[Household]:
    """The first households, until they hold `people` people, moved whole (streets kept) to
    `ward` (province, ward): the people a health officer of that ward may follow, as the
    service lets an officer open episodes only for people who live in their area."""
    moved: list[Household] = []
    for household in households:
        if sum(len(h.people) for h in moved) >= people:
            break
        province, code = ward
        holder = replace(household.holder, province=province, ward=code)
        dependants = tuple(replace(d, province=province, ward=code) for d in household.dependants)
        moved.append(replace(household, holder=holder, dependants=dependants))
    return moved + households[len(moved) :]


INVALID_TOKEN_KINDS = ("garbage", "tampered", "truncated", "wrong_alg")


def invalid_token(rng: random.Random, valid: str, kind: str) -> str:
    """A token a checkpoint must deny: forged, damaged, or not a token at all."""
    if kind == "garbage":
        return "".join(rng.choice("ABCDEFGHabcdefgh0123456789-_") for _ in range(120))
    header, _, rest = valid.partition(".")
    payload, _, signature = rest.partition(".")
    if kind == "tampered":
        flipped = "A" if signature[:1] != "A" else "B"
        return f"{header}.{payload}.{flipped}{signature[1:]}"
    if kind == "truncated":
        return f"{header}.{payload}"
    # "alg": "none" with the signature dropped: the classic downgrade.
    return f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."


ENTRY_NATIONALITIES = ("KR", "JP", "US", "AU", "SG", "TH", "FR", "DE")
ENTRY_GIVEN_NAMES = ("Min-jun", "Ji-woo", "Seo-yeon", "Leo", "Yuki", "Sam", "Ann")


def make_entry_family(
    rng: random.Random, index: int, *, today: date, point_of_entry: str, size: int = 3
) -> dict[str, Any]:
    """An arriving family's entry form (`POST /v1/entry-declarations`): a traveller and
    `size - 1` companions with passports of their own, arriving today at `point_of_entry`,
    staying in a real ward. Passports carry `index`, so each family is a different one."""
    codes, weights, wards = provinces()
    province = rng.choices(codes, weights)[0]
    nationality = rng.choice(ENTRY_NATIONALITIES)
    surname = rng.choice(("Kim", "Lee", "Park", "Smith", "Tanaka", "Martin", "Nguyen"))
    people = [
        {
            "full_name": f"{surname} {ENTRY_GIVEN_NAMES[n % len(ENTRY_GIVEN_NAMES)]}",
            "passport_number": f"P{index:07d}{n}",
            "nationality": nationality,
            "birth_year": rng.randint(1950, 2004) if n < 2 else rng.randint(2008, 2020),
            "gender": rng.choice(("male", "female")),
        }
        for n in range(size)
    ]
    traveller = {**people[0], "phone": f"+8210{index:08d}"}
    return {
        "traveller": traveller,
        "companions": people[1:],
        "trip": {
            "point_of_entry": point_of_entry,
            "arrival_date": today.isoformat(),
            "transport": {"mode": "air", "number": f"VN{rng.randint(100, 999)}", "seat": "23A"},
            "departure_country": nationality,
            "transit_countries": [],
            "countries_last_14_days": [nationality],
        },
        "stay": {
            "province": province,
            "ward": rng.choice(wards[province]),
            "street": rng.choice(STREETS),
            "until": (today + timedelta(days=7)).isoformat(),
        },
        "symptoms": [],
        "exposure": {
            "confirmed_case": False,
            "suspected_case": False,
            "from_affected_area": False,
            "symptomatic_contact": False,
        },
    }
