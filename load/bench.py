"""`khaibao bench`: what one machine holds, as one markdown table.

Starts the service itself on 127.0.0.1 (embedded SQLite in a temporary directory, or the
MongoDB named by KHAIBAO_DATABASE_URL), seeds it, and drives each endpoint with wrk at a
fixed number of connections (closed loop: as fast as answers come back) for `--duration`
seconds:

* `POST /bench/noop`, a bench-only route that parses and validates a declaration-shaped body
  and answers 201: the ceiling of this stack (uvicorn + middleware + FastAPI + pydantic) on
  this machine, measured in the same run; every other row is also given as a share of it;
* declaration submit (a new Idempotency-Key per request), QR fetch, checkpoint scan, report;
* the public map's provinces (`GET /v1/public/regions`, five dates, answered from memory)
  and the same answer revalidated with `If-None-Match` (304, no body);
* FAQ search over 10,000 published answers (`load.faq`, seeded once through the
  store by `load.inprocess.faq`);
* the monitoring worklist over 100,000 episodes nationally (seeded once through the store by
  `load.inprocess.worklist`), as an officer of one ward and one of a province see it, with
  the rows each answer carries and so rows/s;
* declaration submit again on a second server with group commit off (the baseline);
* submit and scan at half of the rate just measured, from an open-loop client
  (`load.openloop`) that sends on a fixed schedule, for latency at a realistic load.

With `--rounds N` the closed-loop rows run N times on the same server, and each share is the
median of that scenario's shares of the same round's no-op: the machine's drift between
rounds moves both and cancels, where one no-op measured minutes before a scenario does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from load.certificate_data import trust_and_items
from load.cli import add_bench_arguments
from load.data import (
    SCANNED_PREFIX,
    make_declaration,
    make_entry_family,
    make_households,
    vietnam_today,
)
from load.faq import ENTRIES as FAQ_ENTRIES
from load.faq import search_paths
from load.fixtures import Fixtures
from load.inprocess.faq import seed_faq_sync
from load.inprocess.storage_bench import storage_bench, storage_table
from load.inprocess.worklist import EPISODES as WORKLIST_EPISODES
from load.inprocess.worklist import Seeded, seed_worklist_sync
from load.openloop import OpenLoopResult, http_request, run_open_loop
from load.outcomes import percentile
from load.profile import PY_SPY_MISSING, start_py_spy, summarise_collapsed
from load.seed import OFFICER_AREA, SeedPlan, create_officer_with_cli, seed_sync, staff_maker
from load.server import (
    HOST,
    NAIVE_APP_FACTORY,
    Server,
    load_phones,
    niced,
    server_environment,
)

REPORTS = Path(__file__).resolve().parent / "reports"
SCENARIO_LUA = Path(__file__).resolve().parent / "wrk" / "scenario.lua"
WRK_MISSING = (
    "error: `khaibao bench` drives the service with wrk, which is not installed.\n"
    "  Debian/Ubuntu: sudo apt-get install wrk    macOS: brew install wrk\n"
    "  or run `make bench`, which installs it with apt-get first."
)
GROUPINGS = ("day", "province", "ward", "status", "symptom")
OVERLOAD_FACTOR = 2.0
OVERLOAD_CONNECTIONS = 1024

# (method, path, Authorization header value or "", JSON body or "")
Item = tuple[str, str, str, str]


# -- results ------------------------------------------------------------------------------


@dataclass
class Measurement:
    scenario: str
    request: str
    rps: float  # successful (2xx) answers per second
    p50_ms: float | None
    p99_ms: float | None
    error_rate: float
    requests: int
    method: str = "closed"  # wrk, as fast as answers come back; "open": fixed arrival rate
    offered_rps: float | None = None
    statuses: dict[str, int] | None = None
    note: str = ""
    cpu_ms: float | None = None  # server CPU time per request
    # With --rounds: the median of this scenario's per-round shares of the no-op.
    share: float | None = None
    rows_per_answer: float | None = None  # a list's rows in each answer (the worklist)

    @property
    def rows_per_second(self) -> float | None:
        return None if self.rows_per_answer is None else self.rps * self.rows_per_answer


OK_STATUSES = frozenset(range(200, 300))
SHED_STATUSES = frozenset({429, 503})


@dataclass
class Overload:
    """An open-loop run well above the measured maximum: what the service does with more
    than it can take (shed quickly with 503 + Retry-After, keep admitted latency bounded)."""

    scenario: str
    offered_rps: float
    admitted_rps: float
    shed_share: float
    admitted_p50_ms: float | None
    admitted_p99_ms: float | None
    shed_p99_ms: float | None
    other_errors: int
    connections: int
    client_wait_p99_ms: float | None = None


def overload_from(scenario: str, result: OpenLoopResult, connections: int) -> Overload:
    total = result.answered + result.failures
    shed = result.count_of(SHED_STATUSES)
    admitted = result.count_of(OK_STATUSES)
    return Overload(
        scenario=scenario,
        offered_rps=result.rate,
        admitted_rps=admitted / result.duration,
        shed_share=shed / total if total else 0.0,
        admitted_p50_ms=result.p_of(OK_STATUSES, 0.50),
        admitted_p99_ms=result.p_of(OK_STATUSES, 0.99),
        shed_p99_ms=result.p_of(SHED_STATUSES, 0.99),
        other_errors=total - shed - admitted,
        connections=connections,
        client_wait_p99_ms=percentile(result.client_wait_ms, 0.99),
    )


def overload_table(rows: list[Overload]) -> str:
    lines = [
        "| overload | offered | admitted/s | shed | admitted p50 | admitted p99 "
        "| shed answer p99 | other errors | client-side wait p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.scenario}, {r.connections} connections | {r.offered_rps:,.0f}/s "
        f"| {r.admitted_rps:,.0f} | {r.shed_share * 100:.0f}% | {_ms(r.admitted_p50_ms)} "
        f"| {_ms(r.admitted_p99_ms)} | {_ms(r.shed_p99_ms)} | {r.other_errors} "
        f"| {_ms(r.client_wait_p99_ms)} |"
        for r in rows
    ]
    return "\n".join(lines)


def parse_wrk(output: str) -> dict[str, Any]:
    """The JSON line the Lua `done()` prints, prefixed KHAIBAO_RESULT."""
    for line in output.splitlines():
        if line.startswith("KHAIBAO_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("KHAIBAO_RESULT "))
            return result
    raise ValueError("wrk printed no KHAIBAO_RESULT line:\n" + output[-2000:])


def from_wrk(scenario: str, request: str, result: dict[str, Any]) -> Measurement:
    seconds = max(result["duration_us"], 1) / 1e6
    statuses = {str(k): int(v) for k, v in result.get("statuses", {}).items()}
    # A 304 is the answer a revalidation wants (the public map's If-None-Match row).
    ok = sum(n for status, n in statuses.items() if status.startswith("2") or status == "304")
    socket_errors = sum(
        int(result[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    attempts = int(result["requests"]) + socket_errors
    errors = attempts - ok
    return Measurement(
        scenario=scenario,
        request=request,
        rps=ok / seconds,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        error_rate=errors / attempts if attempts else 0.0,
        requests=attempts,
        statuses=statuses,
    )


def from_open_loop(scenario: str, request: str, result: OpenLoopResult) -> Measurement:
    ok = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
    return Measurement(
        scenario=scenario,
        request=request,
        rps=ok / result.duration,
        p50_ms=result.p(0.50),
        p99_ms=result.p(0.99),
        error_rate=result.error_rate,
        requests=result.answered + result.failures,
        method="open",
        offered_rps=result.rate,
        statuses={str(k): v for k, v in sorted(result.statuses.items())},
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms")


def _cpu(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def build_table(rows: list[Measurement], ceiling: float | None) -> str:
    """The markdown table: one row per measurement, each also as a share of the no-op."""
    lines = [
        "| scenario | request | load | requests/s | p50 | p99 | errors | vs no-op | CPU/req |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        load = f"fixed {row.offered_rps:.0f}/s" if row.method == "open" else "max (closed loop)"
        share = row.share
        if share is None and ceiling and row.method == "closed":
            share = row.rps / ceiling
        requests = row.request
        if row.rows_per_second is not None:
            requests += (
                f", {row.rows_per_answer:.0f} rows per answer: {row.rows_per_second:,.0f} rows/s"
            )
        requests += f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.scenario} | {requests} | {load} | {row.rps:,.0f} | {_ms(row.p50_ms)} | "
            f"{_ms(row.p99_ms)} | {row.error_rate * 100:.2f}% | {_share(share)} | "
            f"{_cpu(row.cpu_ms)} |"
        )
    return "\n".join(lines)


@dataclass
class Target:
    name: str
    wanted: str
    measured: str
    met: bool | None  # None: not measured


def peer_ratio(
    found: dict[str, Measurement],
    by_round: dict[str, list[Measurement]] | None,
    key: str,
    peer: str,
) -> tuple[float, list[float]] | None:
    """`key`'s requests/s over `peer`'s: the median of the per-round ratios when there are
    several rounds (each pair measured back to back), else the one ratio. With the list of
    per-round ratios, for the note."""
    shares = round_shares(by_round or {}, key, peer)
    if shares:
        return shares[median_index(shares)], shares
    row, other = found.get(key), found.get(peer)
    if row is None or other is None or not other.rps:
        return None
    return row.rps / other.rps, [row.rps / other.rps]


# (our row, the peer's row, wanted ratio, label): issue 25's targets.
PEER_TARGETS = (
    ("submit", "naive_submit", 1.0, "submit vs the naive peer's submit"),
    ("noop", "bare_noop", 0.8, "no-op vs the bare FastAPI no-op"),
)


def peer_targets(
    found: dict[str, Measurement], by_round: dict[str, list[Measurement]] | None
) -> list[Target]:
    targets = []
    for key, peer, wanted, label in PEER_TARGETS:
        ratio = peer_ratio(found, by_round, key, peer)
        if ratio is None:
            targets.append(Target(label, f"≥ {wanted:.1f}×", "not measured", None))
            continue
        value, rounds = ratio
        listed = f" (rounds {', '.join(f'{r:.2f}' for r in rounds)})" if len(rounds) > 1 else ""
        targets.append(Target(label, f"≥ {wanted:.1f}×", f"{value:.2f}×{listed}", value >= wanted))
    return targets


def evaluate_targets(
    found: dict[str, Measurement], by_round: dict[str, list[Measurement]] | None = None
) -> list[Target]:
    ceiling = found.get("noop")

    def share(key: str, wanted: float, label: str) -> Target:
        row = found.get(key)
        if ceiling is None or row is None or ceiling.rps == 0:
            return Target(label, f"≥ {wanted:.0%} of no-op", "not measured", None)
        value = row.share if row.share is not None else row.rps / ceiling.rps
        return Target(label, f"≥ {wanted:.0%} of no-op", f"{value:.0%}", value >= wanted)

    def latency(key: str, label: str) -> Target:
        row = found.get(key)
        if row is None or row.p99_ms is None:
            return Target(label, "p99 ≤ 50 ms", "not measured", None)
        ok = row.p99_ms <= 50 and row.error_rate == 0
        return Target(label, "p99 ≤ 50 ms", f"p99 {row.p99_ms:.1f} ms", ok)

    targets = [
        *peer_targets(found, by_round),
        share("submit", 0.60, "declaration submit"),
        share("scan", 0.70, "checkpoint scan"),
        share("map", 0.80, "public map, provinces"),
        share("map_304", 0.80, "public map, 304"),
        latency("submit_half", "submit at half the max rate"),
        latency("scan_half", "scan at half the max rate"),
    ]
    on, off = found.get("submit_gc_on"), found.get("submit_baseline")
    if on is None or off is None or off.rps == 0:
        targets.append(Target("group commit", "≥ 2× without", "not measured", None))
    else:
        ratio = on.rps / off.rps
        targets.append(Target("group commit", "≥ 2× without", f"{ratio:.1f}×", ratio >= 2))
    return targets


def targets_markdown(targets: list[Target]) -> str:
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    lines = ["| target | wanted | measured | |", "|---|---|---|---|"]
    lines += [f"| {t.name} | {t.wanted} | {t.measured} | {verdict[t.met]} |" for t in targets]
    return "\n".join(lines)


# -- request data ---------------------------------------------------------------------------


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
    households = {
        h.phone: h for h in make_households(SCANNED_PREFIX, plan.scanned_households, seed=plan.seed)
    }
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


def peer_line(
    found: dict[str, Measurement], by_round: dict[str, list[Measurement]] | None = None
) -> str:
    """Khaibao against the naive peer (load/naive.py), each pair measured back to back."""
    parts = []
    for key, peer, _, label in PEER_TARGETS:
        ratio = peer_ratio(found, by_round, key, peer)
        if ratio is not None:
            parts.append(f"{label} **{ratio[0]:.2f}×**")
    if not parts:
        return ""
    many = (
        " (median of the per-round ratios)"
        if by_round and len(by_round.get("noop", [])) > 1
        else ""
    )
    return f"Against the naive peer, same run, interleaved{many}: {'; '.join(parts)}.\n\n"


def faq_line(found: dict[str, Measurement]) -> str:
    """Searches/s and p99 against the no-op of the same run."""
    row, ceiling = found.get("faq"), found.get("noop")
    if row is None or ceiling is None or not ceiling.rps:
        return ""
    latency = ""
    if row.p99_ms is not None and ceiling.p99_ms:
        latency = f", p99 {row.p99_ms:.1f} ms ({row.p99_ms / ceiling.p99_ms:.1f}× the no-op's)"
    return (
        f"FAQ search over {FAQ_ENTRIES:,} published answers: {row.rps:,.0f} searches/s "
        f"({row.rps / ceiling.rps:.0%} of the no-op){latency}.\n\n"
    )


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


def worklist_line(found: dict[str, Measurement], seeded: Seeded | None) -> str:
    """What was seeded, and each officer's rows/s and p99 against the no-op's."""
    ceiling = found.get("noop")
    if seeded is None:
        return ""
    parts = []
    for key, who in (("worklist", "Ward officer"), ("worklist_province", "province officer")):
        row = found.get(key)
        if row is None or row.rows_per_second is None:
            continue
        latency = f"p99 {_ms(row.p99_ms)}"
        if ceiling is not None and ceiling.p99_ms and row.p99_ms is not None:
            latency += f" ({row.p99_ms / ceiling.p99_ms:.1f}× the no-op's)"
        parts.append(
            f"{who} {row.rps:,.0f} answers/s × {row.rows_per_answer:.0f} rows = "
            f"**{row.rows_per_second:,.0f} rows/s**, {latency}"
        )
    active = seeded.by_status["active"]
    return (
        f"Worklist over {seeded.episodes:,} monitoring episodes in {len(seeded.provinces)} "
        f"provinces and {len(seeded.wards):,} wards, seeded through the store in "
        f"{seeded.seconds:.0f} s: {active:,} active ({seeded.needing_attention:,} needing "
        f"attention), {seeded.by_status['closed']:,} closed; {seeded.active_in_ward:,} active "
        f"in the ward officer's ward, {seeded.active_in_province:,} in the province officer's "
        f"province (each answer also writes an audit entry per person shown)."
        + (f" {'; '.join(parts)}." if parts else "")
        + "\n\n"
    )


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


# -- running ------------------------------------------------------------------------------


@dataclass
class BenchConfig:
    duration: int
    connections: int
    threads: int
    workers: int
    out: Path
    baseline: bool
    half_rate: bool
    profile: bool = False
    overload: bool = True
    nice: int = 0
    max_in_flight: int | None = None
    only: frozenset[str] = frozenset()  # scenario keys; empty: all
    rounds: int = 1  # times the closed-loop block runs on the same server


def run_wrk(
    config: BenchConfig,
    base_url: str,
    items: list[Item],
    *,
    name: str,
    idempotent: bool,
    run_id: str,
    duration: int | None = None,
    if_none_match: str = "",
) -> dict[str, Any]:
    data = config.out / f"wrk-{name}.data.lua"
    lua = lua_data(items, idempotent=idempotent, run_id=run_id, if_none_match=if_none_match)
    data.write_text(lua, "utf-8")
    seconds = duration or config.duration
    command = [
        *niced(config.nice),
        "wrk",
        f"-t{config.threads}",
        f"-c{config.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(SCENARIO_LUA),
        base_url,
        "--",
        str(data),
    ]
    done = subprocess.run(  # noqa: S603 (fixed arguments, wrk from PATH)
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    (config.out / f"wrk-{name}.txt").write_text(done.stdout + done.stderr, "utf-8")
    return parse_wrk(done.stdout)


def _database_url(tmp: Path) -> tuple[str, bool]:
    """(URL, is SQLite). A MongoDB URL gets a fresh database name, as the tests do."""
    configured = os.environ.get("KHAIBAO_DATABASE_URL", "")
    if configured.startswith("mongodb"):
        head, _, query = configured.partition("?")
        head = head.rstrip("/")
        if head.count("/") > 2:
            head = head.rsplit("/", 1)[0]
        name = "khaibao_bench_" + uuid.uuid4().hex[:10]
        return f"{head}/{name}" + (f"?{query}" if query else ""), False
    return f"sqlite:///{tmp}/khaibao.sqlite3", True


def _say(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    request: str
    idempotent: bool = False


NOOP = Scenario("noop", "no-op ceiling", "POST /bench/noop")
BARE_NOOP = Scenario(
    "bare_noop", "bare FastAPI no-op (peer)", "POST /bench/noop on load/naive.py, no middleware"
)
NAIVE_SUBMIT = Scenario(
    "naive_submit",
    "naive peer's submit (peer)",
    "POST /v1/declarations on load/naive.py: 1 SQLite commit each",
    idempotent=True,
)
ENTRY_SUBMIT = Scenario(
    "entry_submit",
    "entry declaration, family of 3",
    "POST /v1/entry-declarations",
    idempotent=True,
)
ENTRY_SCAN = Scenario(
    "entry_scan", "border scan (token, code)", "POST /v1/checkpoints/{id}/entry-scans"
)
NOOP_RESOLVED = Scenario(
    "noop_resolved", "no-op, resolved like submit and scan", "POST /bench/noop-resolved"
)
SUBMIT = Scenario("submit", "declaration submit", "POST /v1/declarations", idempotent=True)
QR = Scenario("qr", "QR fetch", "GET /v1/people/{id}/qr")
SCAN = Scenario("scan", "checkpoint scan", "POST /v1/checkpoints/{id}/scans")
REPORT = Scenario("report", "report query", "GET /v1/reports/declarations")
MAP = Scenario("map", "public map, provinces", "GET /v1/public/regions?level=province")
MAP_304 = Scenario(
    "map_304", "public map, revalidated (304)", "GET /v1/public/regions + If-None-Match"
)
CERTIFICATE_DCC = Scenario(
    "certificate_eu_dcc",
    "certificate scan, EU DCC (HC1, ES256)",
    "POST /v1/checkpoints/{id}/certificates",
)
CERTIFICATE_SHC = Scenario(
    "certificate_shc",
    "certificate scan, SMART Health Card",
    "POST /v1/checkpoints/{id}/certificates",
)
FAQ = Scenario("faq", f"FAQ search ({FAQ_ENTRIES:,} answers)", "GET /v1/faq?q=")
WORKLIST = Scenario(
    "worklist",
    f"worklist, ward officer ({WORKLIST_EPISODES:,} episodes nationally)",
    "GET /v1/monitoring",
)
WORKLIST_PROVINCE = Scenario(
    "worklist_province",
    f"worklist, province officer ({WORKLIST_EPISODES:,} episodes nationally)",
    "GET /v1/monitoring",
)
GC_ON = Scenario(
    "submit_gc_on",
    "declaration submit, group commit on (fresh servers, ABBA)",
    "POST /v1/declarations",
    idempotent=True,
)
# Measured whatever --only says: the ceiling, and the group commit comparison.
_ALWAYS = frozenset({"noop", "bare_noop", "noop_resolved", "submit_gc_on", "submit_baseline"})
# Rows that run whenever another runs: a peer with the row it is compared with, the
# province officer's worklist with the ward officer's.
_RUNS_WITH = {"naive_submit": "submit", "worklist_province": "worklist"}
BASELINE = Scenario(
    "submit_baseline",
    "declaration submit, group commit off (fresh servers, ABBA)",
    "POST /v1/declarations",
    idempotent=True,
)


class BenchRun:
    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.run_id = uuid.uuid4().hex[:8]
        self.runs = 0
        self.found: dict[str, Measurement] = {}
        self.rows: list[Measurement] = []
        self.overloads: list[Overload] = []
        self.round = 1
        self.by_round: dict[str, list[Measurement]] = {}  # closed-loop rows, round by round

    def fresh_run_id(self) -> str:
        """A prefix for the Idempotency-Keys of one run. Keys must be new in every run: a
        key from an earlier run on the same database is a replay, far cheaper than storing
        a declaration, and would flatter the later run."""
        self.runs += 1
        return f"{self.run_id}r{self.runs}"

    def _keep(self, key: str, row: Measurement) -> None:
        self.found[key] = row
        self.rows.append(row)

    def closed(
        self,
        scenario: Scenario,
        items: list[Item],
        server: Server,
        *,
        keep: bool = True,
        if_none_match: str = "",
        rows_per_answer: float | None = None,
    ) -> Measurement | None:
        """As fast as the answers come back, at the configured connections. The row is kept
        for the table, or with `keep=False` only returned to the caller. A list's rows per
        answer give the row its rows/s."""
        config = self.config
        wanted = config.only | _ALWAYS
        runs_with = _RUNS_WITH.get(scenario.key)
        if config.only and scenario.key not in wanted and runs_with not in wanted:
            return None
        if not items:
            _say(f"{scenario.title}: skipped, its endpoint gave nothing to send")
            return None
        _say(f"{scenario.title}: {config.duration} s at {config.connections} connections")
        idem, run_id = scenario.idempotent, self.fresh_run_id()
        warm = f"{scenario.key}-warmup"
        run_wrk(
            config,
            server.base_url,
            items,
            name=warm,
            idempotent=idem,
            run_id=run_id + "w",
            duration=1,
            if_none_match=if_none_match,
        )
        server.wait_idle()
        cpu = server.cpu_seconds()
        result = run_wrk(
            config,
            server.base_url,
            items,
            name=scenario.key,
            idempotent=idem,
            run_id=run_id,
            if_none_match=if_none_match,
        )
        row = from_wrk(scenario.title, scenario.request, result)
        row.cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(row.requests, 1)
        row.rows_per_answer = rows_per_answer
        if row.statuses and set(row.statuses) <= {"404", "405"}:
            row.note = "endpoint not there yet"
        if keep:
            self.record(scenario.key, row)
        if config.profile and keep and self.round == 1:
            self.profile(scenario, items, server)
        return row

    def record(self, key: str, row: Measurement) -> None:
        """A closed-loop row of the current round."""
        self._keep(key, row)
        self.by_round.setdefault(key, []).append(row)

    def settle_rounds(self) -> None:
        """After several rounds, each scenario's row is its median round: the one whose share
        of the same round's no-op is the median, so drift of the machine between rounds,
        which moves the no-op and the scenario together, does not move the verdict."""
        for key, rounds in self.by_round.items():
            shares = round_shares(self.by_round, key, "noop")
            if shares is None:
                continue
            if key == "noop":  # the ceiling itself: its median round by requests/s
                middle = median_index([row.rps for row in rounds])
                listed = ", ".join(f"{row.rps:,.0f}" for row in rounds)
                note = f"rounds: {listed}/s"
            else:
                middle = median_index(shares)
                listed = ", ".join(f"{share * 100:.0f}" for share in shares)
                note = f"rounds: {listed}% of that round's no-op"
            self.found[key] = dataclasses.replace(rounds[middle], share=shares[middle], note=note)

    def profile(self, scenario: Scenario, items: list[Item], server: Server) -> None:
        """A second pass with py-spy attached, so the measured pass carries no sampler."""
        assert server.pid is not None
        raw = self.config.out / f"profile-{scenario.key}.txt"
        sampler = start_py_spy(server.pid, self.config.duration, raw)
        if sampler is None:
            _say(PY_SPY_MISSING)
            return
        _say(f"{scenario.title}: profiling for {self.config.duration} s")
        run_wrk(
            self.config,
            server.base_url,
            items,
            name=f"{scenario.key}-profiled",
            idempotent=scenario.idempotent,
            run_id=self.fresh_run_id(),
        )
        sampler.wait(timeout=60)
        if raw.exists():
            summary = summarise_collapsed(raw.read_text("utf-8"))
            (self.config.out / f"profile-{scenario.key}.md").write_text(summary, "utf-8")

    def half_rate(self, scenario: Scenario, items: list[Item], server: Server) -> None:
        """At half the rate just measured, on a fixed schedule (open loop)."""
        peak = self.found.get(scenario.key)
        if peak is None or peak.rps <= 0 or not items:
            return
        rate = peak.rps / 2
        server.wait_idle()
        _say(f"{scenario.title}: {self.config.duration} s at a fixed {rate:.0f}/s")
        make = open_loop_requests(
            items,
            host=f"{HOST}:{server.port}",
            idempotent=scenario.idempotent,
            run_id=self.fresh_run_id(),
        )
        cpu = server.cpu_seconds()
        result = run_open_loop(HOST, server.port, make, rate=rate, duration=self.config.duration)
        row = from_open_loop(scenario.title, scenario.request, result)
        row.cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(row.requests, 1)
        self._keep(scenario.key + "_half", row)

    def overload(self, scenario: Scenario, items: list[Item], server: Server) -> None:
        """Twice the measured maximum, from many more connections than the in-flight cap,
        as phones arrive: each on its own connection, none waiting for another's answer."""
        peak = self.found.get(scenario.key)
        if peak is None or peak.rps <= 0 or not items:
            return
        rate, connections = peak.rps * OVERLOAD_FACTOR, OVERLOAD_CONNECTIONS
        server.wait_idle()
        _say(f"{scenario.title}: {self.config.duration} s at a fixed {rate:.0f}/s (overload)")
        make = open_loop_requests(
            items,
            host=f"{HOST}:{server.port}",
            idempotent=scenario.idempotent,
            run_id=self.fresh_run_id(),
        )
        result = run_open_loop(
            HOST,
            server.port,
            make,
            rate=rate,
            duration=self.config.duration,
            connections=connections,
        )
        self.overloads.append(overload_from(scenario.title, result, connections))

    def compare_group_commit(self, env: dict[str, str], items: list[Item]) -> None:
        """Submit with group commit on and off, on the same database file and tokens, each
        on a fresh server, in the order on, off, off, on: throughput on this machine drifts
        from run to run (it rises over the first minute of declarations), and an ABBA order
        cancels a steady drift that a plain on-then-off comparison would credit to one side.
        Each side's row is the mean of its two runs."""
        runs: dict[str, list[Measurement]] = {GC_ON.key: [], BASELINE.key: []}
        for index, scenario in enumerate((GC_ON, BASELINE, BASELINE, GC_ON)):
            on = scenario is GC_ON
            flagged = {**env, "KHAIBAO_GROUP_COMMIT": "true" if on else "false"}
            log = self.config.out / f"server-group-commit-{index + 1}.log"
            server = Server(
                flagged,
                log_path=log,
                workers=self.config.workers,
                bench_routes=True,
                nice=self.config.nice,
            )
            _say(f"group commit {'on' if on else 'off'}: a fresh server on the same database")
            with server:
                row = self.closed(scenario, items, server, keep=False)
            if row is None:
                return
            runs[scenario.key].append(row)
        for key, (first, second) in runs.items():
            self._keep(key, _mean_of(first, second))

    def ordered_rows(self) -> list[Measurement]:
        """Closed-loop rows with the baseline under the submit row, then the open-loop ones."""
        order = [
            "noop",
            "bare_noop",
            "noop_resolved",
            "submit",
            "naive_submit",
            "entry_submit",
            "submit_gc_on",
            "submit_baseline",
            "qr",
            "scan",
            "entry_scan",
            "certificate_eu_dcc",
            "certificate_shc",
            "report",
            "map",
            "map_304",
            "faq",
            "worklist",
            "worklist_province",
        ]
        closed = [self.found[k] for k in order if k in self.found]
        return closed + [r for r in self.rows if r.method == "open"]


def round_shares(
    by_round: dict[str, list[Measurement]], key: str, ceiling_key: str
) -> list[float] | None:
    """`key`'s share of `ceiling_key` in each round, or None without several rounds of both."""
    rounds, ceilings = by_round.get(key, []), by_round.get(ceiling_key, [])
    if len(rounds) < 2 or len(rounds) != len(ceilings):
        return None
    return [
        row.rps / top.rps if top.rps else 0.0 for row, top in zip(rounds, ceilings, strict=True)
    ]


def median_index(values: list[float]) -> int:
    """The index of the median value (the lower one of the middle two for an even count)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    return order[(len(order) - 1) // 2]


def resolved_line(
    found: dict[str, Measurement], by_round: dict[str, list[Measurement]] | None = None
) -> str:
    """Submit and scan against the no-op served the way they are (see load/inprocess/benchapp.py);
    after several rounds, the median of the per-round shares."""
    ceiling = found.get("noop_resolved")
    if ceiling is None or not ceiling.rps:
        return ""
    ceiling_rps = ceiling.rps

    def share(key: str) -> float:
        shares = round_shares(by_round or {}, key, "noop_resolved")
        return shares[median_index(shares)] if shares else found[key].rps / ceiling_rps

    shares = [
        f"{found[key].scenario} {share(key):.0%}" for key in ("submit", "scan") if key in found
    ]
    if not shares:
        return ""
    return f"Against the resolved no-op ({ceiling.rps:,.0f}/s): {', '.join(shares)}.\n\n"


def run_bench(config: BenchConfig) -> int:
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    config.out.mkdir(parents=True, exist_ok=True)
    if config.nice:
        # The open-loop client runs in this process.
        try:
            os.setpriority(os.PRIO_PROCESS, 0, config.nice)
        except PermissionError:
            print("error: --nice below 0 needs root", file=sys.stderr)
            return 2
    plan = SeedPlan(checkpoints=4, scanned_households=150, seed=2021)
    bench = BenchRun(config)
    started = time.monotonic()
    busy = os.getloadavg()[0]
    if busy > 0.5:
        _say(f"warning: load average {busy:.1f} before the run; other work skews the numbers")

    storage = ""
    with tempfile.TemporaryDirectory(prefix="khaibao-bench-") as tmp:
        database_url, is_sqlite = _database_url(Path(tmp))
        env = server_environment(
            database_url,
            phones=load_phones(0, plan.scanned_households),
            group_commit=True,
            max_in_flight=config.max_in_flight,
        )
        # A closed loop of 64 connections is a standing queue by construction, which the
        # service sheds in production (KHAIBAO_SHED_LOOP_LAG_MS). Capacity is measured
        # without that; the overload run below restarts with the production setting.
        capacity_env = {**env, "KHAIBAO_SHED_LOOP_LAG_MS": "0"}
        log = config.out / "server.log"
        server = Server(
            capacity_env, log_path=log, workers=config.workers, bench_routes=True, nice=config.nice
        )
        # The naive peer (load/naive.py), served the same way, on a SQLite file of its own.
        peer = Server(
            {"KHAIBAO_NAIVE_DATABASE": f"{tmp}/naive.sqlite3"},
            log_path=config.out / "server-naive.log",
            workers=config.workers,
            nice=config.nice,
            app=NAIVE_APP_FACTORY,
        )
        _say(f"starting the service on {server.base_url} ({'SQLite' if is_sqlite else 'MongoDB'})")
        with server, peer:
            _say("seeding: staff (khaibao users create), checkpoints, people, arriving families")
            fixtures = seed_sync(server.base_url, plan, make_staff=staff_maker(env))
            fixtures.save(config.out / "fixtures.json")
            declarations = declaration_items(fixtures, plan) if fixtures.citizens else []
            scans = scan_items(fixtures)
            dcc_scans, shc_scans = certificate_items(fixtures)
            noops = noop_items(declarations or _fallback_bodies(plan))
            entries, entry_scans = entry_items(fixtures, plan), entry_scan_items(fixtures)
            if not config.only or "faq" in config.only:
                _say(f"seeding: {FAQ_ENTRIES:,} published answers through the store")
                seed_faq_sync(env)
            seeded: Seeded | None = None
            ward_items: tuple[list[Item], float] = ([], 0.0)
            province_items: tuple[list[Item], float] = ([], 0.0)
            if not config.only or "worklist" in config.only:
                _say(f"seeding: {WORKLIST_EPISODES:,} monitoring episodes through the store")
                seeded = seed_worklist_sync(env)
                _say("seeding: officers of a ward and of a province (khaibao users create)")
                ward_token, province_token = make_officers(env, server.base_url)
                ward_items = worklist_items(server.base_url, ward_token)
                province_items = worklist_items(server.base_url, province_token)
            for number in range(1, config.rounds + 1):
                bench.round = number
                if config.rounds > 1:
                    _say(f"round {number} of {config.rounds}")
                # Each peer right after the row it is compared with: the pair sees the
                # same machine, and the per-round ratios take the median.
                bench.closed(NOOP, noops, server)
                bench.closed(BARE_NOOP, bare_noop_items(noops), peer)
                bench.closed(NOOP_RESOLVED, resolved(noops), server)
                bench.closed(SUBMIT, declarations, server)
                bench.closed(NAIVE_SUBMIT, naive_items(declarations), peer)
                bench.closed(ENTRY_SUBMIT, entries, server)
                bench.closed(QR, qr_items(fixtures), server)
                bench.closed(SCAN, scans, server)
                bench.closed(ENTRY_SCAN, entry_scans, server)
                bench.closed(CERTIFICATE_DCC, dcc_scans, server)
                bench.closed(CERTIFICATE_SHC, shc_scans, server)
                bench.closed(REPORT, report_items(fixtures), server)
                bench.closed(MAP, map_items(), server)
                bench.closed(
                    MAP_304,
                    map_items()[:1],
                    server,
                    if_none_match=map_etag(server.base_url, map_items()[0]),
                )
                bench.closed(FAQ, faq_items(), server)
                for scenario, (items, rows) in (
                    (WORKLIST, ward_items),
                    (WORKLIST_PROVINCE, province_items),
                ):
                    bench.closed(scenario, items, server, rows_per_answer=rows)
            bench.settle_rounds()
            if config.half_rate:
                bench.half_rate(SUBMIT, declarations, server)
                bench.half_rate(SCAN, scans, server)
        if config.overload and declarations:
            log = config.out / "server-overload.log"
            shedding = Server(
                env, log_path=log, workers=config.workers, bench_routes=True, nice=config.nice
            )
            _say("restarting on the same database with the production load shedding")
            with shedding:
                bench.overload(SUBMIT, declarations, shedding)
        if config.baseline and is_sqlite and declarations:
            bench.compare_group_commit(capacity_env, declarations)
        if is_sqlite and config.baseline:
            _say("the SQLite writer alone, group commit on and off")
            storage = storage_table(storage_bench(Path(tmp), seconds=max(2.0, config.duration / 2)))

    found = bench.found
    ceiling = found["noop"].rps if "noop" in found else None
    table = build_table(bench.ordered_rows(), ceiling)
    targets = targets_markdown(evaluate_targets(found, bench.by_round))
    elapsed = time.monotonic() - started
    rounds = f" --rounds {config.rounds}" if config.rounds > 1 else ""
    rounds += f" --only {','.join(sorted(config.only))}" if config.only else ""
    header = (
        f"`khaibao bench --duration {config.duration}{rounds}` on {os.cpu_count()} cores, "
        f"{config.workers} worker(s), wrk -t{config.threads} -c{config.connections}, "
        f"{'SQLite' if is_sqlite else 'MongoDB'}, "
        f"{datetime.now():%Y-%m-%d %H:%M}, {elapsed:.0f} s in total, "
        f"load average {busy:.1f} before the run"
        + (f", server and load generators at nice {config.nice}" if config.nice else "")
        + (f", KHAIBAO_MAX_IN_FLIGHT={config.max_in_flight}" if config.max_in_flight else "")
    )
    lines = (
        peer_line(found, bench.by_round)
        + resolved_line(found, bench.by_round)
        + faq_line(found)
        + worklist_line(found, seeded)
        + _group_commit_line(found)
    )
    report = f"{header}\n\n{table}\n\n{lines}\n\n"
    if storage:
        report += storage + "\n\n"
    if bench.overloads:
        report += overload_table(bench.overloads) + "\n\n"
    report += targets + "\n"
    (config.out / "bench.md").write_text(report, "utf-8")
    (config.out / "results.json").write_text(
        json.dumps(
            {
                "measurements": {k: asdict(v) for k, v in found.items()},
                "overload": [asdict(o) for o in bench.overloads],
            },
            indent=2,
        ),
        "utf-8",
    )
    print(report)
    _say(f"raw wrk output, server logs and results.json in {config.out}/")
    return 0


def _group_commit_line(found: dict[str, Measurement]) -> str:
    on, off = found.get("submit_gc_on"), found.get("submit_baseline")
    if on is None or off is None or off.rps == 0:
        return "Group commit vs none: not measured (MongoDB, or submit not available)."
    return (
        f"Group commit vs none at the same connections (fresh servers, ABBA, mean of two runs "
        f"each): {on.rps:,.0f}/s vs {off.rps:,.0f}/s = **{on.rps / off.rps:.1f}×**."
    )


def _mean_of(first: Measurement, second: Measurement) -> Measurement:
    def mean(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else (a + b) / 2

    return dataclasses.replace(
        first,
        rps=(first.rps + second.rps) / 2,
        p50_ms=mean(first.p50_ms, second.p50_ms),
        p99_ms=mean(first.p99_ms, second.p99_ms),
        error_rate=(first.error_rate + second.error_rate) / 2,
        requests=first.requests + second.requests,
        cpu_ms=mean(first.cpu_ms, second.cpu_ms),
        note=f"runs: {first.rps:,.0f}/s and {second.rps:,.0f}/s",
    )


def _fallback_bodies(plan: SeedPlan) -> list[Item]:
    """Declaration-shaped bodies for the no-op when no citizen could declare."""
    rng = random.Random(plan.seed)
    today = vietnam_today()
    households = make_households(SCANNED_PREFIX, 50, seed=plan.seed)
    return [
        ("POST", "/bench/noop", "", _json(make_declaration(rng, p, today=today)))
        for h in households
        for p in h.people
    ]


def bench_command(args: argparse.Namespace) -> int:
    out: Path = args.out or REPORTS / f"bench-{datetime.now():%Y%m%d-%H%M%S}"
    return run_bench(
        BenchConfig(
            duration=args.duration,
            connections=args.connections,
            threads=args.threads,
            workers=args.workers,
            out=out,
            baseline=not args.no_baseline,
            half_rate=not args.no_half_rate,
            profile=args.profile,
            overload=not args.no_overload,
            nice=args.nice,
            max_in_flight=args.max_in_flight,
            only=frozenset(filter(None, args.only.split(","))),
            rounds=args.rounds,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__)
    add_bench_arguments(parser)
    return bench_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
