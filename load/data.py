"""Test data made up front: test phone numbers with fixed codes, Vietnamese people and the
declarations they would send.

Everything is derived from a seeded `random.Random`, so a run can be repeated exactly. The
address codes come from `vietnam-provinces` (the 34 provinces and their wards since 1 July
2025), drawn with rough population weights so Hà Nội and Hồ Chí Minh City dominate as they
would in a real surge.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from vietnam_provinces import Province, Ward

from api.demo_people import Gender, Person, Relation, make_cccd, make_dependant, make_name
from core.clock import local_day, utcnow
from people.vocabulary import SYMPTOMS

# Test numbers live in +849000xxxxx (the citizens of a load run) and +849001xxxxx (the
# people whose QR codes the checkpoint clerks scan); real subscribers are never reached.
CITIZEN_PREFIX = "+849000"
SCANNED_PREFIX = "+849001"

# One street more than the demo's list (api.demo_people.STREETS): the load runs' addresses,
# drawn from a seeded generator, stay as they were.
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
    return local_day(utcnow())


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
