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
import base64
import json
import logging
import os
import random
import secrets
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

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
    vietnam_today,
)
from load.fixtures import CertificateScan, Clerk, Fixtures, Monitored, SignedInCitizen

log = logging.getLogger("load.seed")
T = TypeVar("T")

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


Role = str
StaffAccount = tuple[str, Role, list[str]]  # username, role, checkpoint ids
# The ward the load's health officer serves (Hà Nội, Hoàn Kiếm), and its episodes' address.
OFFICER_AREA = (1, 70)


@dataclass(frozen=True)
class Login:
    username: str
    password: str

    @classmethod
    def parse(cls, text: str) -> Login:
        """`username:password` (the password may hold colons)."""
        username, colon, password = text.strip().partition(":")
        if not colon or not username or not password:
            raise SeedError("an account is given as username:password")
        return cls(username, password)


@dataclass(frozen=True)
class GivenStaff:
    """Accounts an operator made on a deployed service (`khaibao users create` there):
    the admin, optionally an analyst, and checkpoint staff whose checkpoints are read from
    their access tokens. Nothing is created on the target but checkpoints and data."""

    admin: Login
    analyst: Login | None = None
    clerks: tuple[Login, ...] = ()
    border_clerks: tuple[Login, ...] = ()
    officer: Login | None = None  # a health officer bound to one ward


class SeedError(RuntimeError):
    pass


async def _gather_limited(limit: int, jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


SEND_ATTEMPTS = 6


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, sent again after a transport error (a keep-alive connection the server
    closed as it was reused, on a machine too busy to keep up) or a 503 that says when to
    come back (the server shedding load), as the apps do. Declarations carry an
    Idempotency-Key, so sending one again is safe."""
    for attempt in range(SEND_ATTEMPTS):
        last = attempt == SEND_ATTEMPTS - 1
        try:
            answer = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            if last:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if answer.status_code != 503 or "retry-after" not in answer.headers or last:
            return answer
        await asyncio.sleep(float(answer.headers["retry-after"]))
    raise AssertionError("unreachable")


def create_staff_with_cli(env: dict[str, str], accounts: list[StaffAccount], password: str) -> None:
    """`khaibao users create` for each account, with the server's settings (its database),
    the password on standard input as an operator gives it. Argon2 hashing stays out of the
    measured run. A health officer serves OFFICER_AREA."""
    for username, role, checkpoints in accounts:
        options = ["--role", role, "--username", username]
        for checkpoint_id in checkpoints:
            options += ["--checkpoint", checkpoint_id]
        if role == "health_officer":
            options += ["--province", str(OFFICER_AREA[0]), "--ward", str(OFFICER_AREA[1])]
        _users_create(env, options, password)


def create_officer_with_cli(
    env: dict[str, str], username: str, password: str, *, province: int, ward: int | None
) -> None:
    """A health officer bound to a province, or to one ward of it."""
    options = ["--role", "health_officer", "--username", username, "--province", str(province)]
    if ward is not None:
        options += ["--ward", str(ward)]
    _users_create(env, options, password)


def _users_create(env: dict[str, str], options: list[str], password: str) -> None:
    command = [sys.executable, "-m", "api.cli", "users", "create", *options]
    done = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        command,
        input=password + "\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        username = options[options.index("--username") + 1]
        raise SeedError(f"khaibao users create {username}: {done.stderr.strip()[-300:]}")


def token_checkpoints(access_token: str) -> list[str]:
    """The checkpoints a staff member serves, as their access token says (`cps`). Read, not
    verified: the service verifies it on every request."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise SeedError("a staff access token that is not a JWT") from exc
    return [str(c) for c in claims.get("cps", [])]


def token_area(access_token: str) -> tuple[int, int] | None:
    """The (province, ward) an officer's token is bound to, if a ward."""
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    area = claims.get("area")
    if isinstance(area, list) and len(area) == 2 and area[1] is not None:
        return int(area[0]), int(area[1])
    return None


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
            answer = await _send(
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

    opened = await _gather_limited(concurrency, [job(p, t) for p, t in people])
    return [m for m in opened if m is not None]


async def _staff_token(client: httpx.AsyncClient, username: str, password: str) -> str:
    answer = await _send(
        client, "POST", "/v1/auth/token", json={"username": username, "password": password}
    )
    if answer.status_code != 200:
        raise SeedError(f"staff sign-in failed: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["access_token"])


async def citizen_token(client: httpx.AsyncClient, household: Household) -> str:
    return await phone_token(client, household.phone, household.code)


async def phone_token(client: httpx.AsyncClient, phone: str, code: str) -> str:
    """A citizen's access token: a test number signs in with its fixed code."""
    sent = await _send(client, "POST", "/v1/auth/otp", json={"phone": phone})
    if sent.status_code != 202:
        raise SeedError(f"OTP request failed: {sent.status_code} {sent.text[:200]}")
    answer = await _send(client, "POST", "/v1/auth/token", json={"phone": phone, "otp": code})
    if answer.status_code != 200:
        raise SeedError(f"citizen sign-in failed: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["access_token"])


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
        answer = await _send(
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
        answer = await _send(
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
        qr = await _send(client, "GET", f"/v1/people/{person_id}/qr", headers=headers)
        if qr.status_code == 200:
            tokens.append(str(qr.json()["token"]))
    citizen = SignedInCitizen(phone=household.phone, access_token=access, person_ids=person_ids)
    return _Declared(citizen, tokens)


async def _entry_point(client: httpx.AsyncClient) -> str:
    """The first open border gate the service lists (the entry form names one)."""
    answer = await _send(client, "GET", "/v1/entry/points")
    if answer.status_code != 200 or not answer.json().get("items"):
        return ""
    return str(answer.json()["items"][0]["id"])


async def declare_entry(
    client: httpx.AsyncClient, body: dict[str, Any], key: str
) -> dict[str, Any] | None:
    """An arriving family's form, anonymous, as the entry app sends it."""
    answer = await _send(
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

    answers = await _gather_limited(plan.concurrency, [job(b) for b in bodies])
    return [a for a in answers if a is not None]


async def _create_border_checkpoint(client: httpx.AsyncClient, admin: str) -> str | None:
    answer = await _send(
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


StaffMaker = Callable[[list[StaffAccount], str], None]


async def seed(
    base_url: str,
    plan: SeedPlan,
    *,
    make_staff: StaffMaker | None = None,
    given: GivenStaff | None = None,
    today: date | None = None,
) -> Fixtures:
    """Seed through the API. Staff accounts come from `make_staff` (a server this run
    started: `khaibao users create` on its database) or `given` (a deployed service)."""
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
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:
        admin = await _staff_token(client, admin_login.username, admin_login.password)
        analyst = (
            await _staff_token(client, analyst_login.username, analyst_login.password)
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
                    token = await _staff_token(client, name, password)
                    into.append(Clerk(checkpoint_id=cps[0], access_token=token))
        else:
            assert given is not None
            for logins, into in ((given.clerks, clerks), (given.border_clerks, border_clerks)):
                for login in logins:
                    token = await _staff_token(client, login.username, login.password)
                    cps = token_checkpoints(token)
                    if not cps:
                        raise SeedError(f"{login.username} serves no checkpoint")
                    into.append(Clerk(checkpoint_id=cps[0], access_token=token))

        households = make_households(SCANNED_PREFIX, plan.scanned_households, seed=plan.seed)

        def job(household: Household) -> Callable[[], Awaitable[_Declared | None]]:
            local = random.Random(f"{plan.seed}:{household.phone}")
            return lambda: _declare_and_fetch_qr(client, household, local, today)

        declared = await _gather_limited(plan.concurrency, [job(h) for h in households])
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
        officer, monitored = "", []
        if officer_login is not None:
            officer = await _staff_token(client, officer_login.username, officer_login.password)
            area = token_area(officer) or OFFICER_AREA
            people = [
                (person_id, d.citizen.access_token)
                for d in declared
                if d is not None
                for person_id in d.citizen.person_ids
            ][: plan.monitored]
            monitored = await _open_episodes(client, officer, area, people, plan.concurrency)

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


def staff_maker(env: dict[str, str]) -> StaffMaker:
    """Staff made by the CLI with the settings of the server this run started."""
    return lambda accounts, password: create_staff_with_cli(env, accounts, password)


__all__ = [
    "GivenStaff",
    "Login",
    "SeedError",
    "SeedPlan",
    "citizen_token",
    "create_officer_with_cli",
    "declare_entry",
    "phone_token",
    "seed",
    "seed_sync",
    "staff_maker",
]
