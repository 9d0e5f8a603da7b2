"""`khaibao load` / `python -m load.run`: the surge test, end to end, in one command.

Starts the service on 127.0.0.1 with an embedded SQLite file in a temporary directory,
seeds it (staff, checkpoints, people with QR codes), runs Locust headless with the surge
shape, stops the service the way an orchestrator does, and then checks the one thing a
health authority cannot accept losing: every declaration the phones were told was saved
(201) must be in the database file. CSV and HTML reports land in load/reports/<run>/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from load.cli import add_load_arguments
from load.data import fixed_code, otp_variable
from load.outcomes import merge_summaries
from load.seed import (
    GivenStaff,
    Login,
    SeedError,
    SeedPlan,
    phone_token,
    seed_sync,
    staff_maker,
)
from load.server import Server, load_phones, niced, server_environment
from load.settings import DEFAULT_FIXTURES, LoadSettings

REPORTS = Path(__file__).resolve().parent / "reports"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DECLARATIONS_TABLE = "declarations"

# A CI-sized surge: the same shape in well under a minute.
CI_PRESET = {
    "users": 40,
    "steady_seconds": 10.0,
    "spike_seconds": 20.0,
    "recovery_seconds": 15.0,
    "ramp_seconds": 3.0,
    "phones": 400,
}


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


def load_settings_from(args: argparse.Namespace) -> LoadSettings:
    values: dict[str, Any] = dict(CI_PRESET) if args.ci else {}
    overrides = {
        "users": args.users,
        "spike_factor": args.spike_factor,
        "steady_seconds": args.steady,
        "spike_seconds": args.spike,
        "recovery_seconds": args.recovery,
        "phones": args.phones,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return LoadSettings(**values)


def _locust_environment(load: LoadSettings, out: Path) -> dict[str, str]:
    env = {**os.environ}
    for name, value in load.model_dump(exclude={"fixtures", "acknowledged", "outcomes"}).items():
        text = json.dumps(list(value)) if isinstance(value, tuple) else str(value)
        env[f"KHAIBAO_LOAD_{name.upper()}"] = text
    env["KHAIBAO_LOAD_FIXTURES"] = str(out / "fixtures.json")
    env["KHAIBAO_LOAD_ACKNOWLEDGED"] = str(out / "acknowledged.txt")
    env["KHAIBAO_LOAD_OUTCOMES"] = str(out / "outcomes.json")
    return env


def locust_command(args: argparse.Namespace, load: LoadSettings, out: Path, host: str) -> list[str]:
    """Locust headless with the surge shape; with `--processes N`, N load-generating
    processes (Locust forks a master and N workers on this machine)."""
    command = [
        *niced(args.nice),
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--loglevel",
        "WARNING",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "10",
    ]
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    return command


def run_locust(args: argparse.Namespace, load: LoadSettings, out: Path, host: str) -> float:
    """Seconds the surge took."""
    started = time.monotonic()
    with (out / "locust.log").open("wb") as locust_log:
        subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
            locust_command(args, load, out, host),
            env=_locust_environment(load, out),
            stdout=locust_log,
            stderr=subprocess.STDOUT,
            timeout=load.total_seconds + 300,
            check=False,
        )
    return time.monotonic() - started


def read_outcomes(out: Path) -> dict[str, Any]:
    """What the Locust processes saw: one summary, or one per worker process merged."""
    paths = sorted(out.glob("outcomes*.json"))
    return merge_summaries([json.loads(p.read_text("utf-8")) for p in paths]) if paths else {}


def given_staff(load: LoadSettings) -> GivenStaff:
    """The operator's accounts on a deployed service, from KHAIBAO_LOAD_* variables."""
    if not load.admin:
        raise SeedError(
            "give the target's admin account as KHAIBAO_LOAD_ADMIN=username:password "
            "(or --make-staff to create accounts with this shell's settings)"
        )

    def logins(text: str) -> tuple[Login, ...]:
        return tuple(Login.parse(item) for item in text.split(",") if item.strip())

    return GivenStaff(
        admin=Login.parse(load.admin),
        analyst=Login.parse(load.analyst) if load.analyst else None,
        clerks=logins(load.clerks),
        border_clerks=logins(load.border_clerks),
        officer=Login.parse(load.officer) if load.officer else None,
    )


def run_remote(args: argparse.Namespace, load: LoadSettings, out: Path, plan: SeedPlan) -> int:
    """`khaibao load [seed] --host URL`: a service someone else started."""
    host = str(args.host).rstrip("/")
    try:
        if args.make_staff:
            fixtures = seed_sync(host, plan, make_staff=staff_maker({}))
        else:
            fixtures = seed_sync(host, plan, given=given_staff(load))
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fixtures.save(out / "fixtures.json")
    fixtures.save(DEFAULT_FIXTURES)
    print(
        f"seeded {host}: {len(fixtures.clerks)} clerks, {len(fixtures.border_clerks)} border "
        f"clerks, {len(fixtures.valid_tokens)} QR tokens; fixtures in {DEFAULT_FIXTURES}",
        flush=True,
    )
    if args.step == "seed":
        return 0
    print(f"surge for {load.total_seconds:.0f} s, peak {load.peak_users} users", flush=True)
    elapsed = run_locust(args, load, out, host)
    metrics = _metrics_of(host)
    (out / "metrics.txt").write_text(metrics, "utf-8")
    counts = server_counts(metrics)
    pairs = acknowledged_pairs(out / "acknowledged.txt")
    lost = LostCheck(len(pairs), count_found_remote(host, pairs))
    return _report(load, out, counts, lost, elapsed)


def _metrics_of(host: str) -> str:
    try:
        answer = httpx.get(f"{host}/metrics", timeout=10.0)
    except httpx.HTTPError:
        return ""
    return answer.text if answer.status_code == 200 else ""


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


def _report(
    load: LoadSettings, out: Path, counts: ServerCounts, lost: LostCheck, elapsed: float
) -> int:
    outcomes = read_outcomes(out)
    report = summary_markdown(load, outcomes, counts, lost, elapsed)
    (out / "summary.md").write_text(report, "utf-8")
    print(report)
    print(f"reports: {out}/ (report.html, locust_stats.csv, summary.md)")
    return 0 if passed(outcomes, counts, lost) else 1


def run_load(args: argparse.Namespace) -> int:
    load = load_settings_from(args)
    plan = SeedPlan(seed=load.seed)
    if args.step == "numbers":
        print(otp_variable(load_phones(load.phones, plan.scanned_households)))
        return 0
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or REPORTS / f"load-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    if args.host:
        return run_remote(args, load, out, plan)
    if args.step == "seed":
        print("error: `khaibao load seed` needs --host URL (a running service)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="khaibao-load-") as tmp:
        database = Path(tmp) / "khaibao.sqlite3"
        env = server_environment(
            f"sqlite:///{database}",
            phones=load_phones(load.phones, plan.scanned_households),
            max_in_flight=args.max_in_flight,
        )
        server = Server(env, log_path=out / "server.log", workers=args.workers, nice=args.nice)
        print(f"starting the service on {server.base_url} (SQLite in {tmp})", flush=True)
        with server:
            print(
                "seeding: staff, checkpoints, people with QR codes, arriving families", flush=True
            )
            fixtures = seed_sync(server.base_url, plan, make_staff=staff_maker(env))
            fixtures.save(out / "fixtures.json")
            print(
                f"seeded {len(fixtures.clerks)} checkpoints, {len(fixtures.valid_tokens)} QR "
                f"tokens; surge for {load.total_seconds:.0f} s, peak {load.peak_users} users",
                flush=True,
            )
            elapsed = run_locust(args, load, out, server.base_url)
            metrics = server.metrics()
            (out / "metrics.txt").write_text(metrics, "utf-8")
            counts = server_counts(metrics)
        # Counted in the file after the server stopped: what survived on disk.
        ids = set(acknowledged_pairs(out / "acknowledged.txt"))
        lost = LostCheck(len(ids), count_stored(database, ids))
    return _report(load, out, counts, lost, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.run", description=__doc__)
    add_load_arguments(parser)
    return run_load(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
