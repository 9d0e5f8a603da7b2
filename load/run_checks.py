"""The surge run's verdicts: the server's shed, 5xx and in-app latency read from /metrics,
the acknowledged declarations counted in the database file (or, on a deployed service, read
back through the API), and the summary that reports them and says whether the run passed."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from load.data import fixed_code
from load.seed_http import SeedError, phone_token
from load.settings import LoadSettings

DECLARATIONS_TABLE = "declarations"


@dataclass
class ServerCounts:
    shed: dict[str, int]  # by reason: in_flight, loop_lag
    server_errors: dict[str, int]
    # Upper bound of the histogram bucket holding the 99th percentile of the time requests
    # spent inside the app (edge middleware in to out), per route: time before the
    # middleware (accept, read, parse on a busy event loop) is not in it.
    in_app_p99_s: dict[str, float] | None = None


def _bucket_quantile(buckets: list[tuple[float, float]], share: float) -> float:
    """The smallest bucket bound `le` whose cumulative count reaches `share` of the total."""
    ordered = sorted(buckets)
    total = ordered[-1][1] if ordered else 0.0
    for bound, cumulative in ordered:
        if total and cumulative >= share * total:
            return bound
    return float("inf")


def _reasons(shed: dict[str, int]) -> str:
    """`(in_flight 10, loop_lag 20)`: which of the edge's two signals refused how many."""
    return "(" + ", ".join(f"{k} {v}" for k, v in sorted(shed.items())) + ")" if shed else ""


def server_counts(metrics_text: str) -> ServerCounts:
    """Shed requests, 5xx answers (other than the deliberate 503) and in-app latency from
    /metrics."""
    shed: dict[str, int] = {}
    errors: dict[str, int] = {}
    histograms: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "khaibao_request_seconds_bucket":
                route = f"{sample.labels.get('method')} {sample.labels.get('route')}"
                bound = float(sample.labels["le"])
                histograms.setdefault(route, []).append((bound, sample.value))
            elif sample.name == "khaibao_requests_shed_total":
                reason = sample.labels.get("reason", "in_flight")
                shed[reason] = shed.get(reason, 0) + int(sample.value)
            elif sample.name == "khaibao_requests_total":
                status = sample.labels.get("status", "")
                if status.startswith("5") and status != "503":
                    key = f"{sample.labels.get('method')} {sample.labels.get('route')} {status}"
                    errors[key] = errors.get(key, 0) + int(sample.value)
    in_app = {
        route: _bucket_quantile(buckets, 0.99)
        for route, buckets in sorted(histograms.items())
        if buckets and max(count for _, count in buckets) > 0
    }
    return ServerCounts(shed, errors, in_app)


@dataclass
class LostCheck:
    acknowledged: int
    stored: int | None  # None: the table does not exist (declarations not built yet)

    @property
    def lost(self) -> int | None:
        return None if self.stored is None else self.acknowledged - self.stored


def acknowledged_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()}


def count_stored(database: Path, ids: set[str], table: str = DECLARATIONS_TABLE) -> int | None:
    """How many of `ids` are rows of `table` in the SQLite file (read after the server
    stopped, so what is counted is what survived on disk)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not exists:
            return None
        found = 0
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f'SELECT count(*) FROM "{table}" WHERE id IN ({marks})'  # noqa: S608 (constant table)
            found += int(conn.execute(sql, chunk).fetchone()[0])
        return found
    finally:
        conn.close()


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def summary_markdown(
    load: LoadSettings,
    outcomes: dict[str, Any],
    server: ServerCounts,
    lost: LostCheck,
    elapsed: float,
) -> str:
    requests = int(outcomes.get("requests", 0))
    lines = [
        "## Surge run",
        "",
        f"- shape: {load.users} users for {load.steady_seconds:.0f} s, "
        f"{load.peak_users} for {load.spike_seconds:.0f} s, "
        f"{load.users} for {load.recovery_seconds:.0f} s "
        f"(weights citizen {load.citizen_weight} / clerk {load.clerk_weight} / "
        f"analyst {load.analyst_weight} / arriving family {load.family_weight} / "
        f"public {load.public_weight} / health officer {load.officer_weight})",
        f"- requests: {requests} in {elapsed:.0f} s ({requests / max(elapsed, 1):.0f}/s)",
        f"- by status: {outcomes.get('by_status', {})}",
        f"- problem codes: {outcomes.get('problem_codes', {})}",
        f"- shed (429/503 + Retry-After), seen by clients: {outcomes.get('shed', 0)}; "
        f"by the server: {sum(server.shed.values())} {_reasons(server.shed)}; "
        f"shed answers p99: "
        f"{_fmt_ms(outcomes.get('shed_p99_ms'))}",
        f"- admitted requests: p50 {_fmt_ms(outcomes.get('admitted_p50_ms'))}, "
        f"p99 {_fmt_ms(outcomes.get('admitted_p99_ms'))}",
        f"- no answer (client timeout / connection error): {outcomes.get('no_answer', 0)}",
        f"- 5xx other than the deliberate 503: {outcomes.get('server_errors', 0)} seen by clients, "
        f"{sum(server.server_errors.values())} counted by the server {server.server_errors or ''}",
        f"- idempotent replays answered with another declaration: "
        f"{outcomes.get('replays_mismatched', 0)}",
        f"- forged or damaged QR tokens allowed: {outcomes.get('invalid_tokens_allowed', 0)}",
        f"- acknowledged entry declarations a border scan did not find: "
        f"{outcomes.get('entries_lost', 0)}",
    ]
    if lost.stored is None:
        lines.append(
            f"- acknowledged declarations: {lost.acknowledged}; the database has no "
            f"`{DECLARATIONS_TABLE}` table, lost-write check not possible"
        )
    else:
        lines.append(
            f"- acknowledged declarations: {lost.acknowledged}, stored: {lost.stored}, "
            f"**lost acknowledged declarations: {lost.lost}**"
        )
    stages = outcomes.get("stages", [])
    if stages:
        lines += [
            "",
            "| stage | users | requests | shed | no answer | 5xx | admitted p50 | admitted p99 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {s['stage']} | {s['users']} | {s['requests']} | {s['shed']} | {s['no_answer']} "
            f"| {s['server_errors']} | {_fmt_ms(s['admitted_p50_ms'])} "
            f"| {_fmt_ms(s['admitted_p99_ms'])} |"
            for s in stages
        ]
    if server.in_app_p99_s:
        lines += ["", "| route | p99 inside the app (server histogram bucket) |", "|---|---:|"]
        lines += [
            f"| {route} | {'> 10 s' if bound == float('inf') else f'≤ {bound * 1000:.0f} ms'} |"
            for route, bound in server.in_app_p99_s.items()
            if "unmatched" not in route
        ]
    by_request = outcomes.get("admitted_p99_ms_by_request", {})
    if by_request:
        lines += ["", "| request | admitted p99 |", "|---|---:|"]
        lines += [f"| {name} | {_fmt_ms(p99)} |" for name, p99 in by_request.items()]
    return "\n".join(lines) + "\n"


def passed(outcomes: dict[str, Any], server: ServerCounts, lost: LostCheck) -> bool:
    return (
        not outcomes.get("server_errors")
        and not server.server_errors
        and not lost.lost
        and not outcomes.get("replays_mismatched")
        and not outcomes.get("invalid_tokens_allowed")
        and not outcomes.get("entries_lost")
    )


def acknowledged_pairs(path: Path) -> dict[str, str]:
    """Declaration id to the phone that was told it was saved."""
    if not path.exists():
        return {}
    pairs: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        declaration_id, _, phone = line.strip().partition(" ")
        if declaration_id:
            pairs[declaration_id] = phone
    return pairs


def count_found_remote(host: str, pairs: dict[str, str]) -> int:
    """How many acknowledged declarations the running service returns: each phone signs in
    once (its test code) and reads its declarations back one by one."""
    by_phone: dict[str, list[str]] = {}
    for declaration_id, phone in pairs.items():
        by_phone.setdefault(phone, []).append(declaration_id)

    async def check() -> int:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=host, timeout=60.0, limits=limits) as client:

            async def phone_found(phone: str, ids: list[str]) -> int:
                try:
                    token = await phone_token(client, phone, fixed_code(phone))
                except SeedError:
                    return 0  # cannot sign in: its declarations count as not found
                headers = {"Authorization": f"Bearer {token}"}
                found = 0
                for declaration_id in ids:
                    answer = await client.get(f"/v1/declarations/{declaration_id}", headers=headers)
                    found += answer.status_code == 200
                return found

            gate = asyncio.Semaphore(16)

            async def limited(phone: str, ids: list[str]) -> int:
                async with gate:
                    return await phone_found(phone, ids)

            counts = await asyncio.gather(*(limited(p, ids) for p, ids in by_phone.items()))
            return sum(counts)

    return asyncio.run(check())
