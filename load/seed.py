"""Prepare a server for a run, through the same doors operators and phones use: staff
accounts made by `khaibao users create` (the CLI, run as a subprocess) or, against a
deployed service, given by the operator; checkpoints through the admin API; people who
declared and fetched their QR code, whose tokens the clerks will scan; arriving families
whose entry codes the border clerks will scan.

A domain whose endpoint is not there yet is skipped with a warning, so the harness runs
with whatever the service offers today.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from load.certificate_data import trust_and_items
from load.data import (
    INVALID_TOKEN_KINDS,
    SCANNED_PREFIX,
    Household,
    invalid_token,
    make_declaration,
    make_entry_family,
    make_households,
    provinces,
    settle_in,
    vietnam_today,
)
from load.fixtures import CertificateScan, Clerk, Fixtures, Monitored, SignedInCitizen
from load.seed_http import SeedError, citizen_token, gather_limited, send, staff_token
from load.seed_staff import (
    OFFICER_AREA,
    GivenStaff,
    Login,
    StaffAccount,
    StaffMaker,
    token_area,
    token_checkpoints,
)

log = logging.getLogger("load.seed")

CHECKPOINT_KINDS = ("airport", "hospital", "market", "office")
CHECKPOINT_NAMES = (
    "Sân bay Nội Bài - Ga quốc nội",
    "Bệnh viện Bạch Mai - Cổng số 1",
    "Chợ Bến Thành",
    "Tòa nhà Bitexco",
    "Bến xe Mỹ Đình",
    "Sân bay Tân Sơn Nhất - Ga T1",
    "Bệnh viện Chợ Rẫy",
    "Chợ Đồng Xuân",
)


@dataclass(frozen=True)
class SeedPlan:
    checkpoints: int = 8
    scanned_households: int = 120
    seed: int = 2021
    concurrency: int = 16
    entry_families: int = 40  # declared at the border before the run, for the scan rows
    monitored: int = 60  # monitoring episodes opened in the officer's ward


def officer_ward(officer_token: str) -> tuple[int, int]:
    """The ward whose people the seeded officer follows: the officer's own, the first ward
    of their province for an officer of a whole province, OFFICER_AREA for one of the whole
    country. The token says (an operator's officer on a deployed service is bound where
    the operator bound them)."""
    area = token_area(officer_token)
    if area is None:
        return OFFICER_AREA
    province, ward = area
    if ward is not None:
        return province, ward
    wards = provinces()[2].get(province)
    if not wards:
        raise SeedError(f"the officer's province {province} has no ward in vietnam-provinces")
    return province, wards[0]


def scanned_households(plan: SeedPlan, ward: tuple[int, int] | None) -> list[Household]:
    """The people who declare before the run and whose QR codes the clerks scan. With an
    officer, the first `plan.monitored` of them live in the officer's ward: the service
    lets an officer open episodes only for people who live in their area."""
    households = make_households(SCANNED_PREFIX, plan.scanned_households, seed=plan.seed)
    return households if ward is None else settle_in(households, ward, plan.monitored)


async def _open_episodes(
    client: httpx.AsyncClient,
    officer: str,
    area: tuple[int, int],
    people: list[tuple[str, str]],
    concurrency: int,
) -> list[Monitored]:
    """The officer opens an episode for each (person id, citizen token): contacts to watch
    at home, in the officer's ward."""

    def job(person_id: str, token: str) -> Callable[[], Awaitable[Monitored | None]]:
        async def run() -> Monitored | None:
            body = {
                "person_id": person_id,
                "reason": "contact",
                "place": "home",
                "address": {"province": area[0], "ward": area[1], "street": "1 Tràng Tiền"},
            }
            answer = await send(
                client,
                "POST",
                "/v1/monitoring",
                json=body,
                headers={"Authorization": f"Bearer {officer}"},
            )
            if answer.status_code not in (200, 201):
                log.warning("no episode: %s %s", answer.status_code, answer.text[:200])
                return None
            return Monitored(episode_id=str(answer.json()["id"]), citizen_token=token)

        return run

    opened = await gather_limited(concurrency, [job(p, t) for p, t in people])
    return [m for m in opened if m is not None]


async def _create_checkpoints(
    client: httpx.AsyncClient, admin: str, count: int, rng: random.Random
) -> list[str]:
    _, _, wards = provinces()
    ids: list[str] = []
    for index in range(count):
        province = 1 if index % 2 == 0 else 79
        body = {
            "name": CHECKPOINT_NAMES[index % len(CHECKPOINT_NAMES)] + f" #{index + 1}",
            "province": province,
            "ward": rng.choice(wards[province]),
            "kind": CHECKPOINT_KINDS[index % len(CHECKPOINT_KINDS)],
        }
        answer = await send(
            client,
            "POST",
            "/v1/checkpoints",
            json=body,
            headers={"Authorization": f"Bearer {admin}"},
        )
        if answer.status_code in (404, 405):
            log.warning("POST /v1/checkpoints is not there yet: no clerks in this run")
            return []
        if answer.status_code != 201:
            raise SeedError(f"checkpoint creation failed: {answer.status_code} {answer.text[:300]}")
        ids.append(str(answer.json()["id"]))
    return ids


@dataclass
class _Declared:
    citizen: SignedInCitizen
    tokens: list[str]


async def _declare_and_fetch_qr(
    client: httpx.AsyncClient, household: Household, rng: random.Random, today: date
) -> _Declared | None:
    """Sign in, declare for everyone in the household, fetch each person's QR token."""
    access = await citizen_token(client, household)
    headers = {"Authorization": f"Bearer {access}"}
    person_ids: list[str] = []
    tokens: list[str] = []
    for person in household.people:
        body = make_declaration(rng, person, today=today)
        key = str(uuid.uuid4())
        answer = await send(
            client,
            "POST",
            "/v1/declarations",
            json=body,
            headers={**headers, "Idempotency-Key": key},
        )
        if answer.status_code in (404, 405):
            return None
        if answer.status_code not in (200, 201):
            raise SeedError(f"declaration failed: {answer.status_code} {answer.text[:300]}")
        person_id = str(answer.json()["person_id"])
        person_ids.append(person_id)
        qr = await send(client, "GET", f"/v1/people/{person_id}/qr", headers=headers)
        if qr.status_code == 200:
            tokens.append(str(qr.json()["token"]))
    citizen = SignedInCitizen(phone=household.phone, access_token=access, person_ids=person_ids)
    return _Declared(citizen, tokens)


async def _entry_point(client: httpx.AsyncClient) -> str:
    """The first open border gate the service lists (the entry form names one)."""
    answer = await send(client, "GET", "/v1/entry/points")
    if answer.status_code != 200 or not answer.json().get("items"):
        return ""
    return str(answer.json()["items"][0]["id"])


async def declare_entry(
    client: httpx.AsyncClient, body: dict[str, Any], key: str
) -> dict[str, Any] | None:
    """An arriving family's form, anonymous, as the entry app sends it."""
    answer = await send(
        client, "POST", "/v1/entry-declarations", json=body, headers={"Idempotency-Key": key}
    )
    if answer.status_code in (404, 405):
        return None
    if answer.status_code not in (200, 201):
        raise SeedError(f"entry declaration failed: {answer.status_code} {answer.text[:300]}")
    found: dict[str, Any] = answer.json()
    return found


async def _declare_families(
    client: httpx.AsyncClient, plan: SeedPlan, point: str, today: date
) -> list[dict[str, Any]]:
    rng = random.Random(f"{plan.seed}:entry")
    # Far from the numbers the Locust families use (load.scenarios.arrivals).
    bodies = [
        make_entry_family(rng, 9_000_000 + n, today=today, point_of_entry=point)
        for n in range(plan.entry_families)
    ]

    def job(body: dict[str, Any]) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        return lambda: declare_entry(client, body, str(uuid.uuid4()))

    answers = await gather_limited(plan.concurrency, [job(b) for b in bodies])
    return [a for a in answers if a is not None]


async def _create_border_checkpoint(client: httpx.AsyncClient, admin: str) -> str | None:
    answer = await send(
        client,
        "POST",
        "/v1/checkpoints",
        json={"name": "Nội Bài T2 arrivals (load)", "province": 1, "ward": 70, "kind": "border"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    if answer.status_code != 201:
        log.warning("no border checkpoint: %s %s", answer.status_code, answer.text[:200])
        return None
    return str(answer.json()["id"])


async def seed(
    base_url: str,
    plan: SeedPlan,
    *,
    make_staff: StaffMaker | None = None,
    given: GivenStaff | None = None,
    today: date | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fixtures:
    """Seed through the API. Staff accounts come from `make_staff` (a server this run
    started: `khaibao users create` on its database) or `given` (a deployed service).
    `transport` is a test's app in this process; by default, HTTP to `base_url`."""
    if (make_staff is None) == (given is None):
        raise SeedError("seeding needs either a way to make staff or the operator's accounts")
    today = today or vietnam_today()
    rng = random.Random(f"{plan.seed}:seed")
    password = secrets.token_urlsafe(18)
    suffix = secrets.token_hex(3)
    if make_staff is not None:
        admin_login = Login(f"load-admin-{suffix}", password)
        analyst_login: Login | None = Login(f"load-analyst-{suffix}", password)
        make_staff(
            [
                (admin_login.username, "admin", []),
                (f"load-analyst-{suffix}", "analyst", []),
                (f"load-officer-{suffix}", "health_officer", []),
            ],
            password,
        )
        officer_login: Login | None = Login(f"load-officer-{suffix}", password)
    else:
        assert given is not None
        admin_login, analyst_login = given.admin, given.analyst
        officer_login = given.officer

    limits = httpx.Limits(max_connections=plan.concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60.0, limits=limits, transport=transport
    ) as client:
        admin = await staff_token(client, admin_login.username, admin_login.password)
        analyst = (
            await staff_token(client, analyst_login.username, analyst_login.password)
            if analyst_login
            else ""
        )
        clerks: list[Clerk] = []
        border_clerks: list[Clerk] = []
        if make_staff is not None:
            checkpoint_ids = await _create_checkpoints(client, admin, plan.checkpoints, rng)
            border_id = await _create_border_checkpoint(client, admin) if checkpoint_ids else None
            clerk_accounts: list[StaffAccount] = [
                (f"load-clerk-{suffix}-{i}", "checkpoint_staff", [cp])
                for i, cp in enumerate(checkpoint_ids)
            ]
            border_accounts: list[StaffAccount] = (
                [(f"load-border-{suffix}", "checkpoint_staff", [border_id])] if border_id else []
            )
            make_staff(clerk_accounts + border_accounts, password)
            for accounts, into in ((clerk_accounts, clerks), (border_accounts, border_clerks)):
                for name, _, cps in accounts:
                    token = await staff_token(client, name, password)
                    into.append(Clerk(checkpoint_id=cps[0], access_token=token))
        else:
            assert given is not None
            for logins, into in ((given.clerks, clerks), (given.border_clerks, border_clerks)):
                for login in logins:
                    token = await staff_token(client, login.username, login.password)
                    cps = token_checkpoints(token)
                    if not cps:
                        raise SeedError(f"{login.username} serves no checkpoint")
                    into.append(Clerk(checkpoint_id=cps[0], access_token=token))

        # The officer first: where the people they will follow live depends on their area.
        officer, ward = "", None
        if officer_login is not None:
            officer = await staff_token(client, officer_login.username, officer_login.password)
            ward = officer_ward(officer)
        households = scanned_households(plan, ward)

        def job(household: Household) -> Callable[[], Awaitable[_Declared | None]]:
            local = random.Random(f"{plan.seed}:{household.phone}")
            return lambda: _declare_and_fetch_qr(client, household, local, today)

        declared = await gather_limited(plan.concurrency, [job(h) for h in households])
        point = await _entry_point(client)
        families = await _declare_families(client, plan, point, today) if point else []
        certificates: list[CertificateScan] = []
        if clerks:
            pairs = [(c.checkpoint_id, c.access_token) for c in clerks]
            dcc, shc = await asyncio.to_thread(trust_and_items, base_url, admin, pairs)
            certificates = [
                CertificateScan(path=path, authorization=auth, body=body)
                for _, path, auth, body in dcc + shc
            ]
        monitored: list[Monitored] = []
        if ward is not None:
            people = [
                (person_id, d.citizen.access_token)
                for d in declared
                if d is not None
                for person_id in d.citizen.person_ids
            ][: plan.monitored]
            monitored = await _open_episodes(client, officer, ward, people, plan.concurrency)

    found = [d for d in declared if d is not None]
    if not found:
        log.warning("POST /v1/declarations is not there yet: no QR tokens to scan")
    valid = [token for d in found for token in d.tokens]
    invalid = (
        [
            invalid_token(rng, rng.choice(valid), INVALID_TOKEN_KINDS[i % len(INVALID_TOKEN_KINDS)])
            for i in range(max(8, len(valid) // 4))
        ]
        if valid
        else []
    )
    return Fixtures(
        base_url=base_url,
        admin_token=admin,
        analyst_token=analyst,
        clerks=clerks,
        valid_tokens=valid,
        invalid_tokens=invalid,
        citizens=[d.citizen for d in found],
        report_from=(today - timedelta(days=7)).isoformat(),
        report_to=(today + timedelta(days=1)).isoformat(),
        border_clerks=border_clerks,
        entry_point=point,
        entry_codes=[str(f["code"]) for f in families],
        entry_tokens=[str(f["token"]) for f in families],
        officer_token=officer,
        monitored=monitored,
        officer_ward=ward,
        certificate_scans=certificates,
    )


def seed_sync(
    base_url: str,
    plan: SeedPlan,
    *,
    make_staff: StaffMaker | None = None,
    given: GivenStaff | None = None,
) -> Fixtures:
    return asyncio.run(seed(base_url, plan, make_staff=make_staff, given=given))


__all__ = [
    "SeedPlan",
    "declare_entry",
    "officer_ward",
    "scanned_households",
    "seed",
    "seed_sync",
]
