"""`khaibao bench`'s results: a row per scenario from wrk or the open-loop client, the
markdown tables, the arithmetic of rounds, and the verdict on the targets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from load.openloop import OpenLoopResult
from load.outcomes import percentile


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
        f"| {r.admitted_rps:,.0f} | {r.shed_share * 100:.0f}% | {ms(r.admitted_p50_ms)} "
        f"| {ms(r.admitted_p99_ms)} | {ms(r.shed_p99_ms)} | {r.other_errors} "
        f"| {ms(r.client_wait_p99_ms)} |"
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


def ms(value: float | None) -> str:
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
            f"| {row.scenario} | {requests} | {load} | {row.rps:,.0f} | {ms(row.p50_ms)} | "
            f"{ms(row.p99_ms)} | {row.error_rate * 100:.2f}% | {_share(share)} | "
            f"{_cpu(row.cpu_ms)} |"
        )
    return "\n".join(lines)


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


# The verdicts are judged on the median of this many rounds (BENCHMARKS.md, "Targets").
JUDGED_ROUNDS = 3


def evaluate_targets(
    found: dict[str, Measurement],
    by_round: dict[str, list[Measurement]] | None = None,
    *,
    baseline: bool = True,
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
    if not baseline:
        targets.append(Target("group commit", "≥ 2× without", "skipped (--no-baseline)", None))
    elif on is None or off is None or off.rps == 0:
        targets.append(Target("group commit", "≥ 2× without", "not measured", None))
    else:
        ratio = on.rps / off.rps
        targets.append(Target("group commit", "≥ 2× without", f"{ratio:.1f}×", ratio >= 2))
    return targets


def targets_markdown(targets: list[Target], *, judged: bool = True) -> str:
    """With fewer than JUDGED_ROUNDS rounds the figures are shown without a verdict: one
    round on a shared machine moves by more than the margins (BENCHMARKS.md, "Targets")."""
    verdict: dict[bool | None, str] = {True: "met", False: "**not met**", None: "not measured"}
    if not judged:
        unjudged = f"not judged (fewer than {JUDGED_ROUNDS} rounds)"
        verdict.update({True: unjudged, False: unjudged})
    lines = ["| target | wanted | measured | |", "|---|---|---|---|"]
    lines += [f"| {t.name} | {t.wanted} | {t.measured} | {verdict[t.met]} |" for t in targets]
    return "\n".join(lines)
