"""`khaibao demo`: a made-up population, so a fresh install has something to look at.

Four provinces, a few wards each, 30 days of declarations with an outbreak's curve (green,
yellow and red), checkpoints with their staff, today's scans and check-ins, three
confirmed cases whose contacts turn yellow, and the cases of the two weeks before (for the
public map). Everything is written by the service's own code:
today's activity over HTTP to the app, run in this process (sign-in with test codes, QR
codes, scans, check-ins, cases); the 29 days before through the declaration service, which
takes the moment of a declaration. Nothing is written to the database directly.

Refused with `KHAIBAO_ENV=production`. Idempotent: a finished demo leaves the account
`demo.analyst`, and a second run that finds it adds nothing. A run cut short can be run
again; declarations replay by their idempotency keys, checkpoints are found by name.
"""

from __future__ import annotations

import argparse
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import jwt

from accounts import repository as accounts_repository
from accounts import staff
from api.cli import CommandError
from api.demo_people import Person, make_dependant, make_holder
from checkpoints import repository as checkpoints_repository
from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from core.errors import Conflict
from core.principals import Area, Principal, shell_operator
from core.settings import Settings, get_settings
from declarations.schemas import DeclarationIn
from declarations.service import submit_declaration
from publicmap.service import refresh as refresh_public_map

DAYS = 30
HOUSEHOLDS = 60
SEED = 2021
# Test numbers of the demo's citizens (+849009xxxxx): a range no subscriber holds, given
# fixed codes only inside the demo's own in-process app.
PHONE_PREFIX = "+849009"
MARKER = "demo.analyst"
STAFF_PASSWORD_BYTES = 12
EARLIER_CASES = 30

# (province, its wards, weight): where the demo's people live.
PLACES: tuple[tuple[int, tuple[int, ...], float], ...] = (
    (1, (70, 73, 4), 0.35),  # Hà Nội: Hoàn Kiếm, Cửa Nam, Ba Đình
    (79, (26743, 26740, 26506), 0.35),  # Hồ Chí Minh: Bến Thành, Sài Gòn, Vũng Tàu
    (48, (20242, 20257), 0.18),  # Đà Nẵng: Hải Châu, Hòa Cường
    (31, (11560, 11533), 0.12),  # Hải Phòng: Thuỷ Nguyên, Hoà Bình
)
CHECKPOINTS: tuple[dict[str, Any], ...] = (
    {"name": "Chợ Đồng Xuân (demo)", "province": 1, "ward": 70, "kind": "market"},
    {"name": "Bệnh viện Bạch Mai (demo)", "province": 1, "ward": 4, "kind": "hospital"},
    {"name": "Chợ Bến Thành (demo)", "province": 79, "ward": 26743, "kind": "market"},
    {"name": "Ga Sài Gòn (demo)", "province": 79, "ward": 26740, "kind": "station"},
    {"name": "Sân bay Đà Nẵng (demo)", "province": 48, "ward": 20242, "kind": "airport"},
    {"name": "Trường THPT Thuỷ Nguyên (demo)", "province": 31, "ward": 11560, "kind": "school"},
)
SYMPTOM_SETS = (("fever",), ("cough",), ("fever", "cough"), ("sore_throat",), ("fatigue",))


@dataclass(frozen=True)
class Household:
    phone: str
    code: str
    people: tuple[Person, ...]


def _refuse_production(settings: Settings) -> None:
    if settings.env == "production":
        raise CommandError(
            "khaibao demo writes made-up people: it refuses to run with KHAIBAO_ENV=production."
        )


def households() -> list[Household]:
    """The same people every run (a seeded generator), living in the demo's places."""
    rng = random.Random(SEED)
    out = []
    for index in range(HOUSEHOLDS):
        phone = f"{PHONE_PREFIX}{index:05d}"
        province, wards, _ = rng.choices(PLACES, [w for *_, w in PLACES])[0]
        holder = make_holder(rng, phone, province, rng.choice(wards))
        dependants = tuple(make_dependant(rng, holder) for _ in range(rng.choice((0, 0, 1, 1, 2))))
        out.append(Household(phone, phone[-6:][::-1], (holder, *dependants)))
    return out


def outbreak_share(days_ago: int) -> float:
    """The share of declarations that are not green: a wave peaking ten days ago."""
    return 0.06 + 0.30 * max(0.0, 1 - abs(days_ago - 10) / 12)


def declaration(rng: random.Random, person: Person, day: date, days_ago: int) -> dict[str, Any]:
    """A form the default rules judge green, yellow (symptoms, or an affected area) or red
    (symptoms with contact with a confirmed case), in an outbreak's proportions."""
    symptoms: list[str] = []
    exposure = {"confirmed_case": False, "from_affected_area": False}
    if rng.random() < outbreak_share(days_ago):
        symptoms = list(rng.choice(SYMPTOM_SETS))
        if rng.random() < 0.25:
            exposure["confirmed_case"] = True  # red
        elif rng.random() < 0.2:
            symptoms, exposure["from_affected_area"] = [], True  # yellow without symptoms
    return {
        "person": person.as_json(),
        "address": {"province": person.province, "ward": person.ward, "street": person.street},
        "symptoms": symptoms,
        "exposure": exposure,
    }


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=VIETNAM).astimezone(UTC)


def _history(people: list[tuple[Household, Person]], today: date) -> Iterator[Any]:
    """(household, person, day, days_ago, form) for the 29 days before today: each person
    declares every two to four days, as people did when asked to."""
    rng = random.Random(f"{SEED}:history")
    for household, person in people:
        offset = rng.randint(0, 3)
        for days_ago in range(DAYS - 1 - offset, 0, -rng.randint(2, 4)):
            day = today - timedelta(days=days_ago)
            yield household, person, day, days_ago, declaration(rng, person, day, days_ago)


class Demo:
    def __init__(self, ctx: Context, client: httpx.AsyncClient) -> None:
        self.ctx = ctx
        self.client = client
        self.today = local_day(utcnow())
        self.households = households()
        self.headers: dict[str, dict[str, str]] = {}
        self.person_ids: dict[str, str] = {}  # id number -> person id
        self.counts: dict[str, int] = {}

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    async def call(self, method: str, url: str, expect: int, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        if response.status_code != expect:
            raise CommandError(
                f"the demo's {method} {url.split('?')[0]} was answered {response.status_code}: "
                f"{response.json().get('detail', '')}"
            )
        return response.json() if response.content else None

    async def sign_in_citizens(self) -> None:
        for household in self.households:
            await self.call("POST", "/v1/auth/otp", 202, json={"phone": household.phone})
            tokens = await self.call(
                "POST",
                "/v1/auth/token",
                200,
                json={"phone": household.phone, "otp": household.code},
            )
            self.headers[household.phone] = {"Authorization": f"Bearer {tokens['access_token']}"}

    def _account(self, household: Household) -> Principal:
        token = self.headers[household.phone]["Authorization"].removeprefix("Bearer ")
        subject = jwt.decode(token, options={"verify_signature": False})["sub"]
        return Principal(str(subject), "citizen")

    async def past_declarations(self) -> None:
        people = [(h, p) for h in self.households for p in h.people]
        for household, person, day, _, form in _history(people, self.today):
            body = DeclarationIn.model_validate(form, context={"today": day})
            key = f"demo:{person.id_number}:{day.isoformat()}"
            result = await submit_declaration(
                self.ctx, self._account(household), body, key, now=_noon(day)
            )
            self.count("declarations" if not result.replayed else "replayed")

    async def todays_declarations(self) -> None:
        rng = random.Random(f"{SEED}:today:{self.today}")
        for household in self.households:
            for person in household.people:
                form = declaration(rng, person, self.today, 0)
                key = f"demo:{person.id_number}:{self.today.isoformat()}"
                headers = {**self.headers[household.phone], "Idempotency-Key": key}
                answer = await self.client.post("/v1/declarations", json=form, headers=headers)
                if answer.status_code not in (200, 201):
                    raise CommandError(f"a demo declaration was refused: {answer.status_code}")
                self.person_ids[person.id_number] = answer.json()["person_id"]
                self.count("declarations")

    async def staff_account(self, username: str, role: Any, **extra: Any) -> dict[str, str]:
        password = secrets.token_urlsafe(STAFF_PASSWORD_BYTES)
        try:
            await staff.create_staff(
                self.ctx,
                username=username,
                password=password,
                role=role,
                **extra,
                by=shell_operator(),
            )
        except Conflict:  # a run cut short made it: give it a password this run knows
            await staff.reset_password(self.ctx, username, password, by=shell_operator())
        tokens = await self.call(
            "POST", "/v1/auth/token", 200, json={"username": username, "password": password}
        )
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    async def checkpoints(self) -> list[dict[str, Any]]:
        admin = await self.staff_account("demo.admin", "admin")
        made = []
        for spec in CHECKPOINTS:
            existing = [
                c
                for c in await checkpoints_repository.checkpoints(
                    self.ctx.store, province=spec["province"], limit=10_000
                )
                if c["name"] == spec["name"]
            ]
            if existing:
                made.append({"id": existing[0]["_id"], **spec})
                continue
            created = await self.call("POST", "/v1/checkpoints", 201, json=spec, headers=admin)
            made.append({**spec, "id": created["id"], "venue_token": created["venue_token"]})
            self.count("checkpoints")
        for checkpoint in made:
            if "venue_token" not in checkpoint:
                poster = await self.call(
                    "GET", f"/v1/checkpoints/{checkpoint['id']}/qr", 200, headers=admin
                )
                checkpoint["venue_token"] = poster["venue_token"]
        return made

    async def activity(self, checkpoints: list[dict[str, Any]]) -> list[str]:
        """Today: citizens check in at venues of their province; staff scan codes at the
        gates. Returns person ids of people checked in, for the cases to come."""
        rng = random.Random(f"{SEED}:activity")
        checked_in: list[str] = []
        for index, checkpoint in enumerate(checkpoints, start=1):
            gate = await self.staff_account(
                f"demo.gate{index}", "checkpoint_staff", checkpoints=[checkpoint["id"]]
            )
            locals_ = [
                (h, p)
                for h in self.households
                for p in h.people
                if p.province == checkpoint["province"]
            ]
            for household, person in rng.sample(locals_, min(len(locals_), 14)):
                person_id = self.person_ids[person.id_number]
                headers = self.headers[household.phone]
                await self.call(
                    "POST",
                    "/v1/checkins",
                    201,
                    json={"venue_token": checkpoint["venue_token"], "person_id": person_id},
                    headers=headers,
                )
                checked_in.append(person_id)
                self.count("check-ins")
                code = await self.call("GET", f"/v1/people/{person_id}/qr", 200, headers=headers)
                await self.call(
                    "POST",
                    f"/v1/checkpoints/{checkpoint['id']}/scans",
                    200,
                    json={"token": code["token"]},
                    headers=gate,
                )
                self.count("scans")
        return checked_in

    async def cases(self, checked_in: list[str]) -> None:
        officer = await self.staff_account("demo.officer", "health_officer")
        await self.staff_account("demo.officer.hanoi", "health_officer", area=Area(1))
        rng = random.Random(f"{SEED}:cases")
        # The two weeks before today: enough cases for the public map (/map) to have a
        # picture, confirmed on the day they were (within the tracing lookback).
        others = sorted(set(self.person_ids.values()) - set(checked_in))
        for person_id in rng.sample(others, min(len(others), EARLIER_CASES)):
            day = self.today - timedelta(days=rng.randint(1, 13))
            at = datetime.combine(day, time(10), tzinfo=VIETNAM).astimezone(UTC)
            case = await self.call(
                "POST",
                "/v1/cases",
                201,
                json={
                    "person_id": person_id,
                    "confirmed_at": at.isoformat().replace("+00:00", "Z"),
                },
                headers=officer,
            )
            self.count("cases")
            self.count("contacts", int(case["contacts"]))
        for person_id in rng.sample(sorted(set(checked_in)), 3):
            case = await self.call(
                "POST", "/v1/cases", 201, json={"person_id": person_id}, headers=officer
            )
            self.count("cases")
            self.count("contacts", int(case["contacts"]))

    async def run(self) -> str:
        await self.sign_in_citizens()
        await self.past_declarations()
        await self.todays_declarations()
        checkpoints = await self.checkpoints()
        await self.cases(await self.activity(checkpoints))
        # Publish the public map now: a server started within the refresh period would
        # otherwise answer from the snapshot this process built before there was data.
        await refresh_public_map(self.ctx)
        password = secrets.token_urlsafe(STAFF_PASSWORD_BYTES)
        await staff.create_staff(
            self.ctx, username=MARKER, password=password, role="analyst", by=shell_operator()
        )
        return password


def demo_settings(settings: Settings) -> Settings:
    """The operator's settings, with the demo's phones given fixed codes and the limits that
    a whole town signing in from one address, and a month declared at once, would hit
    lifted, for this process only."""
    codes = ",".join(f"{h.phone}:{h.code}" for h in households())
    return settings.model_copy(
        update={
            "test_otp": ",".join(filter(None, (settings.test_otp, codes))),
            "otp_per_address_per_hour": 1_000_000,
            "requests_per_address_per_minute": 1_000_000,
            # A month of a household's declarations is written in one real hour.
            "declarations_per_account_per_hour": 1_000_000,
            "declarations_per_person_per_day": 1_000_000,
        }
    )


async def seed_demo(settings: Settings) -> tuple[dict[str, int], str | None]:
    """Run the demo against the database `settings` names. Returns what it added and the
    analyst's password, or ({}, None) when a finished demo is already there."""
    from api.app import create_app

    _refuse_production(settings)
    app = create_app(demo_settings(settings))
    async with app.router.lifespan_context(app):
        ctx: Context = app.state.context
        if await accounts_repository.staff_by_username(ctx.store, MARKER) is not None:
            return {}, None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            demo = Demo(ctx, client)
            password = await demo.run()
            return demo.counts, password


def _demo(args: argparse.Namespace) -> int:
    import asyncio

    settings = get_settings()
    _refuse_production(settings)
    counts, password = asyncio.run(seed_demo(settings))
    if password is None:
        print(
            f"The demo population is already there: nothing added. Sign in to /dashboard as "
            f"{MARKER} (new password: khaibao users reset-password --username {MARKER})."
        )
        return 0
    print("Added " + ", ".join(f"{n} {what}" for what, n in counts.items()) + ".")
    print(f"Dashboard: {settings.public_url}/dashboard, username {MARKER}, password {password}")
    return 0


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="add a made-up population (30 days, 4 provinces); not in production",
        description="Add a made-up population, so a fresh install has something to look at: "
        "30 days of declarations in 4 provinces, checkpoints and their staff, today's scans, "
        "confirmed cases and their contacts. Prints the dashboard's address (from "
        "KHAIBAO_PUBLIC_URL) and the demo analyst's password. Refused with "
        "KHAIBAO_ENV=production; a second run adds nothing.",
    )
    demo.set_defaults(handler=_demo)
