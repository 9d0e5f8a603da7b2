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

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from load.bench_requests import (
    Item,
    bare_noop_items,
    certificate_items,
    declaration_items,
    entry_items,
    entry_scan_items,
    fallback_bodies,
    faq_items,
    make_officers,
    map_etag,
    map_items,
    naive_items,
    noop_items,
    qr_items,
    report_items,
    resolved,
    scan_items,
    worklist_items,
)
from load.bench_results import (
    JUDGED_ROUNDS,
    build_table,
    evaluate_targets,
    overload_table,
    targets_markdown,
)
from load.bench_run import BenchConfig, BenchRun, say
from load.bench_scenarios import (
    BARE_NOOP,
    CERTIFICATE_DCC,
    CERTIFICATE_SHC,
    ENTRY_SCAN,
    ENTRY_SUBMIT,
    FAQ,
    MAP,
    MAP_304,
    NAIVE_SUBMIT,
    NOOP,
    NOOP_RESOLVED,
    QR,
    REPORT,
    SCAN,
    SUBMIT,
    WORKLIST,
    WORKLIST_PROVINCE,
)
from load.bench_summary import faq_line, group_commit_line, peer_line, resolved_line, worklist_line
from load.cli import add_bench_arguments
from load.faq import ENTRIES as FAQ_ENTRIES
from load.inprocess.faq import seed_faq_sync
from load.inprocess.storage_bench import storage_bench, storage_table
from load.inprocess.worklist import EPISODES as WORKLIST_EPISODES
from load.inprocess.worklist import Seeded, seed_worklist_sync
from load.seed import SeedPlan, seed_sync
from load.seed_staff import staff_maker
from load.server import (
    NAIVE_APP_FACTORY,
    Server,
    load_phones,
    server_environment,
    unwind_on_signals,
)

REPORTS = Path(__file__).resolve().parent / "reports"
WRK_MISSING = (
    "error: `khaibao bench` drives the service with wrk, which is not installed.\n"
    "  Debian/Ubuntu: sudo apt-get install wrk    macOS: brew install wrk\n"
    "  or run `make bench`, which installs it with apt-get first."
)


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
        say(f"warning: load average {busy:.1f} before the run; other work skews the numbers")

    storage = ""
    with tempfile.TemporaryDirectory(prefix="khaibao-bench-") as tmp:
        database_url, is_sqlite = _database_url(Path(tmp))
        env = server_environment(
            database_url,
            phones=load_phones(0, plan.scanned_households),
            group_commit=True,
            max_in_flight=config.max_in_flight,
            scheduled_jobs=False,
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
        say(f"starting the service on {server.base_url} ({'SQLite' if is_sqlite else 'MongoDB'})")
        with server, peer:
            say("seeding: staff (khaibao users create), checkpoints, people, arriving families")
            fixtures = seed_sync(server.base_url, plan, make_staff=staff_maker(env))
            fixtures.save(config.out / "fixtures.json")
            declarations = declaration_items(fixtures, plan) if fixtures.citizens else []
            scans = scan_items(fixtures)
            dcc_scans, shc_scans = certificate_items(fixtures)
            noops = noop_items(declarations or fallback_bodies(plan))
            entries, entry_scans = entry_items(fixtures, plan), entry_scan_items(fixtures)
            if not config.only or "faq" in config.only:
                say(f"seeding: {FAQ_ENTRIES:,} published answers through the store")
                seed_faq_sync(env)
            seeded: Seeded | None = None
            ward_items: tuple[list[Item], float] = ([], 0.0)
            province_items: tuple[list[Item], float] = ([], 0.0)
            if not config.only or "worklist" in config.only:
                say(f"seeding: {WORKLIST_EPISODES:,} monitoring episodes through the store")
                seeded = seed_worklist_sync(env)
                say("seeding: officers of a ward and of a province (khaibao users create)")
                ward_token, province_token = make_officers(env, server.base_url)
                ward_items = worklist_items(server.base_url, ward_token)
                province_items = worklist_items(server.base_url, province_token)
            for number in range(1, config.rounds + 1):
                bench.round = number
                if config.rounds > 1:
                    say(f"round {number} of {config.rounds}")
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
            say("restarting on the same database with the production load shedding")
            with shedding:
                bench.overload(SUBMIT, declarations, shedding)
        if config.baseline and is_sqlite and declarations:
            bench.compare_group_commit(capacity_env, declarations)
        if is_sqlite and config.baseline:
            say("the SQLite writer alone, group commit on and off")
            storage = storage_table(storage_bench(Path(tmp), seconds=max(2.0, config.duration / 2)))

    found = bench.found
    ceiling = found["noop"].rps if "noop" in found else None
    table = build_table(bench.ordered_rows(), ceiling)
    targets = targets_markdown(
        evaluate_targets(found, bench.by_round, baseline=config.baseline),
        judged=config.rounds >= JUDGED_ROUNDS,
    )
    elapsed = time.monotonic() - started
    header = (
        f"`{config.command}` on {os.cpu_count()} cores, "
        f"{config.workers} worker(s), wrk -t{config.threads} -c{config.connections}, "
        f"{'SQLite' if is_sqlite else 'MongoDB'}, "
        f"{datetime.now():%Y-%m-%d %H:%M}, {elapsed:.0f} s in total, "
        f"load average {busy:.1f} before the run"
    )
    lines = (
        peer_line(found, bench.by_round)
        + resolved_line(found, bench.by_round)
        + faq_line(found)
        + worklist_line(found, seeded)
        + group_commit_line(found, skipped=not config.baseline)
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
    say(f"raw wrk output, server logs and results.json in {config.out}/")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The run's command with every option given (--out aside), so bench.md can be re-run
    as it is: the options that differ from their defaults, and always --duration and
    --rounds, on which the figures depend most."""
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    defaults = vars(parser.parse_args([]))
    words = ["khaibao bench", f"--duration {args.duration}", f"--rounds {args.rounds}"]
    for name, default in defaults.items():
        value = getattr(args, name)
        if name in ("duration", "rounds", "out") or value == default:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif isinstance(value, frozenset):
            words.append(f"{flag} {','.join(sorted(value))}")
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


def bench_command(args: argparse.Namespace) -> int:
    unwind_on_signals()
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
            only=args.only,
            rounds=args.rounds,
            command=command_line(args),
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__)
    add_bench_arguments(parser)
    return bench_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
