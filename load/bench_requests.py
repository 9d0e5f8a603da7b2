"""What each `khaibao bench` scenario sends: the requests built from the seeded fixtures,
written for wrk's scenario.lua or as bytes for the open-loop client."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from load.certificate_data import trust_and_items
from load.data import (
    SCANNED_PREFIX,
    make_declaration,
    make_entry_family,
    make_households,
    vietnam_today,
)
from load.faq import search_paths
from load.fixtures import Fixtures
from load.openloop import http_request
from load.seed import SeedPlan, scanned_households
from load.seed_staff import OFFICER_AREA, create_officer_with_cli

GROUPINGS = ("day", "province", "ward", "status", "symptom")

# (method, path, Authorization header value or "", JSON body or "")
Item = tuple[str, str, str, str]


def lua_data(items: list[Item], *, idempotent: bool, run_id: str, if_none_match: str = "") -> str:
    """The data file scenario.lua loads: JSON bodies in long brackets need no escaping."""
    out = ["items = {"]
    for method, path, authorization, body in items:
        if "]==]" in body or '"' in path + authorization:
            raise ValueError("request data cannot be written as Lua")
        out.append(f'{{"{method}", "{path}", "{authorization}", [==[{body}]==]}},')
    out.append("}")
    if "]==]" in if_none_match:
        raise ValueError("request data cannot be written as Lua")
    out.append(f"if_none_match = [==[{if_none_match}]==]")
    out.append(f"idempotent = {'true' if idempotent else 'false'}")
    out.append(f'run_id = "{run_id}"')
    return "\n".join(out) + "\n"


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def declaration_items(fixtures: Fixtures, plan: SeedPlan, variants: int = 4) -> list[Item]:
    """Each seeded citizen declares for the people of their own household. Variant-major
    order puts the same person's declarations far apart in the stream."""
    households = {h.phone: h for h in scanned_households(plan, fixtures.officer_ward)}
    rng = random.Random(f"{plan.seed}:bench")
    today = vietnam_today()
    items: list[Item] = []
    for _ in range(variants):
        for citizen in fixtures.citizens:
            household = households[citizen.phone]
            for person in household.people:
                body = _json(make_declaration(rng, person, today=today))
                items.append(("POST", "/v1/declarations", f"Bearer {citizen.access_token}", body))
    return items


def naive_items(declarations: list[Item]) -> list[Item]:
    """The same bodies for the naive peer, which asks no one who they are."""
    return [(method, path, "", body) for method, path, _, body in declarations]


def bare_noop_items(noops: list[Item]) -> list[Item]:
    return noops  # the same path and bodies; the peer's server answers them


ENTRY_BODIES = 200


def entry_items(fixtures: Fixtures, plan: SeedPlan) -> list[Item]:
    """Arriving families of three, each form a new family (a new Idempotency-Key each
    request; the passports repeat after ENTRY_BODIES forms, as a family travels again)."""
    if not fixtures.entry_point:
        return []
    rng = random.Random(f"{plan.seed}:bench-entry")
    today = vietnam_today()
    return [
        (
            "POST",
            "/v1/entry-declarations",
            "",
            _json(make_entry_family(rng, n, today=today, point_of_entry=fixtures.entry_point)),
        )
        for n in range(ENTRY_BODIES)
    ]


def entry_scan_items(fixtures: Fixtures) -> list[Item]:
    """Border clerks scanning arrivals: by QR token and by the code read aloud, in turn."""
    if not fixtures.border_clerks:
        return []
    items: list[Item] = []
    pairs = list(zip(fixtures.entry_tokens, fixtures.entry_codes, strict=True))
    for index, (token, code) in enumerate(pairs):
        clerk = fixtures.border_clerks[index % len(fixtures.border_clerks)]
        path = f"/v1/checkpoints/{clerk.checkpoint_id}/entry-scans"
        auth = f"Bearer {clerk.access_token}"
        items.append(("POST", path, auth, _json({"token": token})))
        items.append(("POST", path, auth, _json({"code": code})))
    return items


def noop_items(declarations: list[Item]) -> list[Item]:
    return [("POST", "/bench/noop", "", body) for _, _, _, body in declarations]


def resolved(noops: list[Item]) -> list[Item]:
    return [(method, "/bench/noop-resolved", auth, body) for method, _, auth, body in noops]


def qr_items(fixtures: Fixtures) -> list[Item]:
    return [
        ("GET", f"/v1/people/{person_id}/qr", f"Bearer {citizen.access_token}", "")
        for citizen in fixtures.citizens
        for person_id in citizen.person_ids
    ]


def scan_items(fixtures: Fixtures) -> list[Item]:
    if not fixtures.clerks:
        return []
    items: list[Item] = []
    for index, token in enumerate(fixtures.valid_tokens):
        clerk = fixtures.clerks[index % len(fixtures.clerks)]
        path = f"/v1/checkpoints/{clerk.checkpoint_id}/scans"
        items.append(("POST", path, f"Bearer {clerk.access_token}", _json({"token": token})))
    return items


def certificate_items(fixtures: Fixtures) -> tuple[list[Item], list[Item]]:
    """Scans of certificates from abroad signed for this run, trusted over the admin API."""
    if not fixtures.clerks:
        return [], []
    clerks = [(clerk.checkpoint_id, clerk.access_token) for clerk in fixtures.clerks]
    return trust_and_items(fixtures.base_url, fixtures.admin_token, clerks)


MAP_DATES = 5


def map_items() -> list[Item]:
    """The provinces on today and the days before: answers rendered once, then from memory."""
    today = vietnam_today()
    return [
        ("GET", f"/v1/public/regions?level=province&date={today - timedelta(days=n)}", "", "")
        for n in range(MAP_DATES)
    ]


def map_etag(base_url: str, item: Item) -> str:
    """The ETag a phone holds after its first visit, for the revalidation row."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.get(item[1])
        response.raise_for_status()
        return response.headers["etag"]


def report_items(fixtures: Fixtures) -> list[Item]:
    window = f"from={fixtures.report_from}&to={fixtures.report_to}"
    return [
        (
            "GET",
            f"/v1/reports/declarations?{window}&group_by={g}",
            f"Bearer {fixtures.analyst_token}",
            "",
        )
        for g in GROUPINGS
    ]


def faq_items() -> list[Item]:
    """Searches as a stranger types them: no sign-in."""
    return [("GET", path, "", "") for path in search_paths()]


def make_officers(env: dict[str, str], base_url: str) -> tuple[str, str]:
    """Access tokens of two health officers made by `khaibao users create`: one bound to
    the seeded outbreak ward (OFFICER_AREA), one to its whole province."""
    password, suffix = secrets.token_urlsafe(18), secrets.token_hex(3)
    province, ward = OFFICER_AREA
    names = (f"bench-ward-officer-{suffix}", f"bench-province-officer-{suffix}")
    create_officer_with_cli(env, names[0], password, province=province, ward=ward)
    create_officer_with_cli(env, names[1], password, province=province, ward=None)
    tokens = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for name in names:
            answer = client.post("/v1/auth/token", json={"username": name, "password": password})
            answer.raise_for_status()
            tokens.append(str(answer.json()["access_token"]))
    return tokens[0], tokens[1]


def worklist_items(base_url: str, token: str) -> tuple[list[Item], float]:
    """What an officer opens, in turn: the list of their area (the API's default page), the
    page of those needing attention, and the list's second page by its cursor. With the mean
    rows per answer, read once from each page before the run."""
    auth = f"Bearer {token}"
    paths = ["/v1/monitoring", "/v1/monitoring?needs_attention=true"]
    rows = []
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": auth}) as client:
        for path in list(paths):
            page = client.get(path)
            page.raise_for_status()
            rows.append(len(page.json()["items"]))
            cursor = page.json()["next"]
            if path == paths[0] and cursor:
                paths.append(f"/v1/monitoring?cursor={quote(cursor)}")
        if len(paths) == 3:
            page = client.get(paths[2])
            page.raise_for_status()
            rows.append(len(page.json()["items"]))
    return [("GET", path, auth, "") for path in paths], sum(rows) / len(rows)


def open_loop_requests(
    items: list[Item], *, host: str, idempotent: bool, run_id: str
) -> Callable[[int], bytes]:
    """Request bytes for the open-loop client, prebuilt except for the Idempotency-Key."""

    def make(index: int) -> bytes:
        method, path, authorization, body = items[index % len(items)]
        headers = {"Authorization": authorization} if authorization else {}
        if idempotent:
            headers["Idempotency-Key"] = f"{run_id}-open-{index}"
        return http_request(
            method, path, host=host, headers=headers, body=body.encode() if body else None
        )

    return make


def fallback_bodies(plan: SeedPlan) -> list[Item]:
    """Declaration-shaped bodies for the no-op when no citizen could declare."""
    rng = random.Random(plan.seed)
    today = vietnam_today()
    households = make_households(SCANNED_PREFIX, 50, seed=plan.seed)
    return [
        ("POST", "/bench/noop", "", _json(make_declaration(rng, p, today=today)))
        for h in households
        for p in h.people
    ]
