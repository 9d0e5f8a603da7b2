"""Measuring one `khaibao bench` scenario against a running server: wrk in a closed loop
(round by round, optionally profiled), the open-loop client at half the rate and in overload,
and group commit on against off."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from load.bench_requests import Item, lua_data, open_loop_requests
from load.bench_results import (
    Measurement,
    Overload,
    from_open_loop,
    from_wrk,
    median_index,
    overload_from,
    parse_wrk,
    round_shares,
)
from load.bench_scenarios import ALWAYS, BASELINE, GC_ON, RUNS_WITH, Scenario
from load.openloop import run_open_loop
from load.profile import PY_SPY_MISSING, start_py_spy, summarise_collapsed
from load.server import HOST, Server, niced

SCENARIO_LUA = Path(__file__).resolve().parent / "wrk" / "scenario.lua"
OVERLOAD_FACTOR = 2.0
OVERLOAD_CONNECTIONS = 1024


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
    command: str = "khaibao bench"  # as given, for the report's header: it can be run again


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


def say(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


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
        wanted = config.only | ALWAYS
        runs_with = RUNS_WITH.get(scenario.key)
        if config.only and scenario.key not in wanted and runs_with not in wanted:
            return None
        if not items:
            say(f"{scenario.title}: skipped, its endpoint gave nothing to send")
            return None
        say(f"{scenario.title}: {config.duration} s at {config.connections} connections")
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
            say(PY_SPY_MISSING)
            return
        say(f"{scenario.title}: profiling for {self.config.duration} s")
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
        say(f"{scenario.title}: {self.config.duration} s at a fixed {rate:.0f}/s")
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
        say(f"{scenario.title}: {self.config.duration} s at a fixed {rate:.0f}/s (overload)")
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
            say(f"group commit {'on' if on else 'off'}: a fresh server on the same database")
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
