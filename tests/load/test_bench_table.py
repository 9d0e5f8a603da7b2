"""The benchmark's arithmetic: wrk's result line, the table and the verdict on targets.
Numbers here are made up; a test never measures speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from load.bench import run_bench
from load.bench_requests import lua_data, open_loop_requests
from load.bench_results import (
    Measurement,
    build_table,
    evaluate_targets,
    from_wrk,
    parse_wrk,
    targets_markdown,
)
from load.bench_run import BenchConfig, BenchRun
from load.bench_summary import group_commit_line, peer_line, resolved_line
from load.inprocess import microbench, profiler
from load.profile import summarise_collapsed

WRK_OUTPUT = """Running 15s test @ http://127.0.0.1:8000
  1 threads and 64 connections
  Latency Distribution
     50%    5.10ms
  30000 requests in 15.00s, 6.00MB read
KHAIBAO_RESULT {"requests": 30000, "duration_us": 15000000, "connect_errors": 0, \
"read_errors": 0, "write_errors": 0, "timeouts": 10, "non_2xx": 290, "p50_us": 5100, \
"p90_us": 9000, "p99_us": 21000, "max_us": 90000, \
"statuses": {"201": 29700, "503": 290, "409": 10}}
"""


def measurement(scenario: str, rps: float, p99: float = 10.0, **extra: object) -> Measurement:
    return Measurement(scenario, "X", rps, 1.0, p99, 0.0, 100, **extra)  # type: ignore[arg-type]


class TestWrkResult:
    def test_the_result_line_is_found_among_wrks_own_output(self) -> None:
        result = parse_wrk(WRK_OUTPUT)
        assert result["requests"] == 30000
        assert result["statuses"]["503"] == 290

    def test_missing_result_line_is_an_error_that_shows_the_output(self) -> None:
        with pytest.raises(ValueError, match="no KHAIBAO_RESULT"):
            parse_wrk("unable to connect to 127.0.0.1:8000")

    def test_throughput_counts_only_successful_answers(self) -> None:
        row = from_wrk("declaration submit", "POST /v1/declarations", parse_wrk(WRK_OUTPUT))
        assert row.rps == pytest.approx(29700 / 15)
        assert row.p50_ms == pytest.approx(5.1)
        assert row.p99_ms == pytest.approx(21.0)
        # 300 answers that were not 2xx and 10 timeouts, out of 30010 attempts
        assert row.error_rate == pytest.approx(310 / 30010)


class TestTable:
    def test_each_row_is_a_share_of_the_no_op_ceiling(self) -> None:
        rows = [measurement("no-op ceiling", 4000), measurement("declaration submit", 2600)]
        table = build_table(rows, ceiling=4000)
        lines = table.splitlines()
        assert lines[0].startswith("| scenario | request | load | requests/s | p50 | p99")
        assert lines[2].startswith("| no-op ceiling |")
        assert "| 100% |" in lines[2]
        assert "| 2,600 |" in lines[3]
        assert "| 65% |" in lines[3]

    def test_open_loop_rows_show_the_offered_rate_and_no_share(self) -> None:
        row = measurement("declaration submit", 1300, method="open", offered_rps=1300.0)
        line = build_table([row], ceiling=4000).splitlines()[2]
        assert "fixed 1300/s" in line
        assert "| — |" in line

    def test_a_list_row_shows_its_rows_per_second(self) -> None:
        row = measurement("worklist, ward officer", 200, rows_per_answer=50.0)
        line = build_table([measurement("no-op", 4000), row], ceiling=4000).splitlines()[3]
        assert "50 rows per answer: 10,000 rows/s" in line
        assert "| 200 |" in line
        assert "| 5% |" in line

    def test_submit_and_scan_are_also_read_against_the_resolved_no_op(self) -> None:
        found = {
            "noop_resolved": measurement("no-op, resolved", 3000),
            "submit": measurement("declaration submit", 1500),
            "scan": measurement("checkpoint scan", 2100),
        }
        line = resolved_line(found)
        assert "(3,000/s)" in line
        assert "declaration submit 50%, checkpoint scan 70%" in line
        assert resolved_line({"submit": measurement("declaration submit", 1500)}) == ""


class TestRunIds:
    def test_every_run_sends_idempotency_keys_no_earlier_run_sent(self, tmp_path: Path) -> None:
        # A repeated key is a cheap replay; a run that repeats an earlier run's keys on the
        # same database would measure replays, not declarations.
        config = BenchConfig(
            duration=1, connections=1, threads=1, workers=1, out=tmp_path, baseline=False,
            half_rate=False,
        )  # fmt: skip
        bench = BenchRun(config)
        body = '{"a": 1}'
        items = [("POST", "/v1/declarations", "Bearer t", body)]
        keys: set[str | bytes] = set()
        for _ in range(3):
            prefix = bench.fresh_run_id()
            keys.add(lua_data(items, idempotent=True, run_id=prefix))
            requests = open_loop_requests(items, host="h", idempotent=True, run_id=prefix)
            keys.add(requests(0))
        assert len(keys) == 6


class TestTargets:
    def test_verdicts_follow_the_measured_numbers(self) -> None:
        found = {
            "noop": measurement("noop", 4000),
            "submit": measurement("submit", 2000),  # 50%: below 60%
            "scan": measurement("scan", 3200),  # 80%
            "submit_half": measurement("submit_half", 1000, p99=30.0, method="open"),
            "scan_half": measurement("scan_half", 1600, p99=70.0, method="open"),
            "submit_gc_on": measurement("gc on", 1900),  # fresh servers, ABBA
            "submit_baseline": measurement("baseline", 800),  # 2.4x
            "map": measurement("map", 3600),  # 90%
            "map_304": measurement("map_304", 3000),  # 75%: below 80%
            "naive_submit": measurement("naive", 2100),  # submit 0.95x: below 1.0x
            "bare_noop": measurement("bare", 4800),  # no-op 0.83x: above 0.8x
        }
        verdicts = {t.name: t.met for t in evaluate_targets(found)}
        assert verdicts == {
            "submit vs the naive peer's submit": False,
            "no-op vs the bare FastAPI no-op": True,
            "declaration submit": False,
            "checkpoint scan": True,
            "public map, provinces": True,
            "public map, 304": False,
            "submit at half the max rate": True,
            "scan at half the max rate": False,
            "group commit": True,
        }

    def test_a_missing_measurement_is_not_measured_rather_than_failed(self) -> None:
        targets = evaluate_targets({"noop": measurement("noop", 4000)})
        assert all(t.met is None for t in targets)

    def test_fewer_than_three_rounds_show_the_figures_without_a_verdict(self) -> None:
        """BENCHMARKS.md judges the targets on the median of `--rounds 3`: a smoke run shows
        its numbers and says it cannot decide."""
        found = {
            "noop": measurement("noop", 4000),
            "submit": measurement("submit", 2000),
            "scan": measurement("scan", 3200),
        }
        smoke = targets_markdown(evaluate_targets(found), judged=False)
        row = "| declaration submit | ≥ 60% of no-op | 50% | not judged (fewer than 3 rounds) |"
        assert row in smoke
        assert "met" not in smoke.replace("not measured", "")
        judged = targets_markdown(evaluate_targets(found), judged=True)
        assert "| declaration submit | ≥ 60% of no-op | 50% | **not met** |" in judged
        assert "| checkpoint scan | ≥ 70% of no-op | 80% | met |" in judged

    def test_group_commit_skipped_on_request_says_so(self) -> None:
        found = {"noop": measurement("noop", 4000)}
        assert group_commit_line(found, skipped=True) == (
            "Group commit vs none: skipped on request (--no-baseline)."
        )
        [target] = [t for t in evaluate_targets(found, baseline=False) if t.name == "group commit"]
        assert (target.measured, target.met) == ("skipped (--no-baseline)", None)


class TestRounds:
    def test_each_share_is_the_median_of_the_rounds_against_their_own_no_op(
        self, tmp_path: Path
    ) -> None:
        # The machine slows down in round 2 and partly recovers in round 3: the no-op and
        # the scenarios move together, so a share read across rounds would be wrong.
        config = BenchConfig(
            duration=1, connections=1, threads=1, workers=1, out=tmp_path, baseline=False,
            half_rate=False, rounds=3,
        )  # fmt: skip
        bench = BenchRun(config)
        rounds = [  # no-op, resolved no-op, submit, scan per round
            (4000, 5000, 2000, 2900),  # submit 50%, scan 72.5%
            (2000, 2500, 1100, 1300),  # 55%, 65%
            (3000, 3750, 1200, 2160),  # 40%, 72%
        ]
        for noop, noop_resolved, submit, scan in rounds:
            bench.record("noop", measurement("no-op ceiling", noop))
            bench.record("noop_resolved", measurement("no-op, resolved", noop_resolved))
            bench.record("submit", measurement("declaration submit", submit))
            bench.record("scan", measurement("checkpoint scan", scan))
        bench.settle_rounds()
        found = bench.found

        assert found["noop"].rps == 3000  # the median round of the ceiling
        assert found["submit"].rps == 2000  # the round whose share is the median, 50%
        assert found["scan"].rps == 2160  # 72%
        verdicts = {t.name: (t.measured, t.met) for t in evaluate_targets(found)}
        # Against the median no-op (3,000/s) submit would read 67% and pass.
        assert verdicts["declaration submit"] == ("50%", False)
        assert verdicts["checkpoint scan"] == ("72%", True)

        lines = build_table(bench.ordered_rows(), found["noop"].rps).splitlines()
        assert "rounds: 4,000, 2,000, 3,000/s" in lines[2]
        assert "rounds: 50, 55, 40% of that round's no-op" in lines[4]
        assert "| 50% |" in lines[4]
        assert "declaration submit 40%, checkpoint scan 58%" in resolved_line(found, bench.by_round)

    def test_the_peer_ratios_are_the_median_of_each_rounds_pair(self, tmp_path: Path) -> None:
        # Each of our rows is measured right before its peer's: the pair shares a machine.
        config = BenchConfig(
            duration=1, connections=1, threads=1, workers=1, out=tmp_path, baseline=False,
            half_rate=False, rounds=3,
        )  # fmt: skip
        bench = BenchRun(config)
        rounds = [  # no-op, bare no-op, submit, naive submit per round
            (4000, 5200, 2200, 2000),  # 0.77x, 1.10x
            (2000, 2400, 900, 1000),  # 0.83x, 0.90x
            (3000, 3600, 1500, 1400),  # 0.83x, 1.07x
        ]
        for noop, bare, submit, naive in rounds:
            bench.record("noop", measurement("no-op ceiling", noop))
            bench.record("bare_noop", measurement("bare no-op", bare))
            bench.record("submit", measurement("declaration submit", submit))
            bench.record("naive_submit", measurement("naive submit", naive))
        bench.settle_rounds()

        verdicts = {
            t.name: (t.measured, t.met) for t in evaluate_targets(bench.found, bench.by_round)
        }
        assert verdicts["submit vs the naive peer's submit"] == (
            "1.07× (rounds 1.10, 0.90, 1.07)",
            True,
        )
        assert verdicts["no-op vs the bare FastAPI no-op"][1] is True
        assert verdicts["no-op vs the bare FastAPI no-op"][0].startswith("0.83×")
        line = peer_line(bench.found, bench.by_round)
        assert "submit vs the naive peer's submit **1.07×**" in line
        assert "median of the per-round ratios" in line


class TestRequestData:
    def test_lua_data_keeps_json_bodies_verbatim(self) -> None:
        body = '{"person":{"full_name":"Nguyễn Thị Lan"}}'
        text = lua_data(
            [("POST", "/v1/declarations", "Bearer t", body)], idempotent=True, run_id="r1"
        )
        assert f"[==[{body}]==]" in text
        assert "idempotent = true" in text
        assert 'run_id = "r1"' in text

    def test_lua_data_carries_the_tag_a_revalidation_sends(self) -> None:
        text = lua_data(
            [("GET", "/v1/public/regions", "", "")],
            idempotent=False,
            run_id="r",
            if_none_match='"abc"',
        )
        assert 'if_none_match = [==["abc"]==]' in text

    def test_a_304_is_an_answer_not_an_error(self) -> None:
        parsed = parse_wrk(WRK_OUTPUT)
        answered = {
            status: from_wrk("map", "GET", {**parsed, "statuses": {status: parsed["requests"]}})
            for status in ("200", "304")
        }
        assert answered["304"].rps == answered["200"].rps > 0
        assert answered["304"].error_rate == answered["200"].error_rate

    def test_lua_data_refuses_what_it_cannot_quote(self) -> None:
        with pytest.raises(ValueError, match="Lua"):
            lua_data([("POST", "/x", "", "]==]")], idempotent=False, run_id="r")

    def test_open_loop_requests_get_a_fresh_idempotency_key_each(self) -> None:
        make = open_loop_requests(
            [("POST", "/v1/declarations", "Bearer t", '{"a":"ă"}')],
            host="127.0.0.1:8000",
            idempotent=True,
            run_id="r",
        )
        first, second = make(0), make(1)
        assert first.startswith(b"POST /v1/declarations HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
        assert b"Idempotency-Key: r-open-0\r\n" in first
        assert b"Idempotency-Key: r-open-1\r\n" in second
        assert first.endswith(b"\r\n\r\n" + '{"a":"ă"}'.encode())
        assert b"Content-Length: 10\r\n" in first


class TestProfileSummary:
    def test_busy_samples_are_grouped_by_layer_and_idle_threads_left_out(self) -> None:
        collapsed = "\n".join(
            [
                "run (uvicorn/server.py:1);handle (fastapi/routing.py:9) 30",
                "run (uvicorn/server.py:1);sign (cryptography/ec.py:3) 50",
                "loop (core/storage/sqlite.py:2);_commit_loop (core/storage/sqlite.py:5) 20",
                "_bootstrap (threading.py:1);Condition.wait (threading.py:2) 500",
            ]
        )
        summary = summarise_collapsed(collapsed)
        assert summary.startswith("100 busy samples")
        assert "| 50.0% | signing, HMAC, encryption |" in summary
        assert "| 30.0% | FastAPI / Starlette routing, middleware, dependencies |" in summary
        assert "| 20.0% | SQLite writes (group applied, commit + fsync) |" in summary


class TestWithoutWrk:
    def test_the_bench_stops_with_how_to_install_it(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr("load.bench.shutil.which", lambda name: None)
        config = BenchConfig(
            duration=1, connections=1, threads=1, workers=1, out=tmp_path, baseline=False,
            half_rate=False,
        )  # fmt: skip
        assert run_bench(config) == 2
        assert "apt-get install wrk" in capsys.readouterr().err


def test_the_microbench_prints_its_comparisons(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(microbench, "ROUNDS", 1)
    monkeypatch.setattr(microbench, "REPEAT", {"verify": 3})
    microbench.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| QR verification (ES256)",
    ]
    assert all(float(row.split(" | ")[-1].rstrip(" |")) > 0 for row in rows[1:])


def test_the_in_process_measurement_counts_the_event_loop_thread() -> None:
    # The no-op needs no seeding server: a real app, called as ASGI, 64 at a time.
    # 1,024 requests: the shares that land within the run (each a few pages of the side
    # file's WAL, about 16 KB) stay far below what a write per request would add.
    result = profiler.run("noop", requests=1024)
    assert result.statuses == {201: 1024}
    assert result.wall_us > 0
    assert result.cpu_us > 0
    assert result.threads_us.get("MainThread", 0) > 0
    # The flood guard counts in memory and writes its counts once a second, not per request.
    assert 0 <= result.written_kb < 0.1
