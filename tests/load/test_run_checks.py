"""The surge run's verdicts: acknowledged declarations counted in the database file, the
server's shed and 5xx counts read from /metrics, and the open-loop client's bookkeeping."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from load.openloop import http_request, run_open_loop
from load.outcomes import Outcomes
from load.run_checks import LostCheck, count_stored, server_counts, summary_markdown
from load.settings import LoadSettings
from load.stages import surge_stages

METRICS = """# HELP khaibao_requests_total HTTP requests
# TYPE khaibao_requests_total counter
khaibao_requests_total{method="POST",route="/v1/declarations",status="201"} 900.0
khaibao_requests_total{method="POST",route="/v1/declarations",status="503"} 40.0
khaibao_requests_total{method="POST",route="/v1/checkpoints/{checkpoint_id}/scans",status="500"} 2.0
# HELP khaibao_request_seconds HTTP request latency
# TYPE khaibao_request_seconds histogram
khaibao_request_seconds_bucket{le="0.05",method="POST",route="/v1/declarations"} 800.0
khaibao_request_seconds_bucket{le="0.1",method="POST",route="/v1/declarations"} 895.0
khaibao_request_seconds_bucket{le="0.25",method="POST",route="/v1/declarations"} 900.0
khaibao_request_seconds_bucket{le="+Inf",method="POST",route="/v1/declarations"} 900.0
khaibao_request_seconds_count{method="POST",route="/v1/declarations"} 900.0
khaibao_request_seconds_sum{method="POST",route="/v1/declarations"} 30.0
# HELP khaibao_requests_shed_total Requests refused because the process was full
# TYPE khaibao_requests_shed_total counter
khaibao_requests_shed_total{reason="in_flight"} 30.0
khaibao_requests_shed_total{reason="loop_lag"} 10.0
"""


class TestServerCounts:
    def test_deliberate_503s_are_shed_and_other_5xx_are_errors(self) -> None:
        counts = server_counts(METRICS)
        assert counts.shed == {"in_flight": 30, "loop_lag": 10}
        assert counts.server_errors == {"POST /v1/checkpoints/{checkpoint_id}/scans 500": 2}

    def test_in_app_p99_is_the_bucket_that_holds_it(self) -> None:
        # 99% of 900 is 891: reached in the 0.1 s bucket
        assert server_counts(METRICS).in_app_p99_s == {"POST /v1/declarations": 0.1}


class TestLostDeclarations:
    def test_acknowledged_ids_missing_from_the_file_are_lost(self, tmp_path: Path) -> None:
        database = tmp_path / "k.sqlite3"
        with sqlite3.connect(database) as conn:
            conn.execute("CREATE TABLE declarations (id TEXT PRIMARY KEY, doc TEXT)")
            conn.executemany(
                "INSERT INTO declarations VALUES (?, '{}')", [(f"dec_{i}",) for i in range(700)]
            )
        acknowledged = {f"dec_{i}" for i in range(695, 705)}
        check = LostCheck(len(acknowledged), count_stored(database, acknowledged))
        assert check.lost == 5

    def test_without_the_table_the_check_says_so(self, tmp_path: Path) -> None:
        database = tmp_path / "empty.sqlite3"
        sqlite3.connect(database).close()
        check = LostCheck(3, count_stored(database, {"a", "b", "c"}))
        assert check.lost is None
        report = summary_markdown(LoadSettings(), {}, server_counts(""), check, 10.0)
        assert "lost-write check not possible" in report

    def test_the_summary_states_lost_acknowledged_declarations(self) -> None:
        report = summary_markdown(
            LoadSettings(), {"requests": 10}, server_counts(METRICS), LostCheck(9, 9), 5.0
        )
        assert "lost acknowledged declarations: 0" in report
        assert "by the server: 40 (in_flight 30, loop_lag 10)" in report


class TestStages:
    def test_answers_are_split_by_the_stage_they_arrived_in(self) -> None:
        settings = LoadSettings(users=10, steady_seconds=10, spike_seconds=20, recovery_seconds=10)
        outcomes = Outcomes()
        outcomes.record("/v1/declarations", 201, 12.0, at=5)
        outcomes.record("/v1/declarations", 503, 1.0, "overloaded", at=15)
        outcomes.record("/v1/declarations", 0, 10000.0, at=25)
        outcomes.record("/v1/declarations", 201, 300.0, at=29)
        outcomes.record("/v1/declarations", 201, 14.0, at=35)
        stages = outcomes.summary(surge_stages(settings))["stages"]
        assert [(s["stage"], s["requests"], s["shed"], s["no_answer"]) for s in stages] == [
            ("steady", 1, 0, 0),
            ("spike", 3, 1, 1),
            ("recovery", 1, 0, 0),
        ]
        assert stages[1]["admitted_p99_ms"] == 300.0


@pytest.fixture
def tiny_server() -> Iterator[int]:
    """An HTTP/1.1 server on its own loop and thread: 201 to even request numbers, 503 to
    odd ones."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                number = int(await reader.readexactly(length) or b"0")
                status = b"201 Created" if number % 2 == 0 else b"503 Busy"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(handle, "127.0.0.1", 0), loop
    ).result(5)
    yield int(server.sockets[0].getsockname()[1])

    async def shut() -> None:
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(shut(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class TestOpenLoopClient:
    def test_every_scheduled_request_is_answered_and_counted_by_status(
        self, tiny_server: int
    ) -> None:
        def make(index: int) -> bytes:
            return http_request("POST", "/x", host="127.0.0.1", body=str(index).encode())

        result = run_open_loop("127.0.0.1", tiny_server, make, rate=200, duration=0.5)
        assert result.scheduled == 100
        assert result.statuses == {201: 50, 503: 50}
        assert result.failures == 0
        assert result.error_rate == pytest.approx(0.5)
        assert result.p(0.99) is not None


class TestDeployedService:
    """`khaibao load --host`: accounts the operator gives, worker processes' summaries."""

    def test_accounts_are_username_colon_password(self) -> None:
        from load.seed_http import SeedError
        from load.seed_staff import Login

        assert Login.parse("ops-admin:pa:ss") == Login("ops-admin", "pa:ss")
        with pytest.raises(SeedError):
            Login.parse("no-password")

    def test_a_clerks_checkpoint_is_read_from_the_token(self) -> None:
        import base64
        import json

        from load.seed_staff import token_checkpoints

        claims = base64.urlsafe_b64encode(json.dumps({"cps": ["cp_1"]}).encode()).rstrip(b"=")
        assert token_checkpoints(f"h.{claims.decode()}.s") == ["cp_1"]

    def test_acknowledged_lines_name_the_phone_to_read_them_back_with(self, tmp_path: Path) -> None:
        from load.run_checks import acknowledged_pairs

        outcomes = Outcomes()
        outcomes.open_acknowledged(tmp_path / "ack.txt")
        outcomes.acknowledge("dec_1", "+84900000001")
        outcomes.acknowledge("dec_2")
        outcomes.close()
        assert acknowledged_pairs(tmp_path / "ack.txt") == {"dec_1": "+84900000001", "dec_2": ""}

    def test_worker_summaries_add_counts_and_keep_the_worst_percentile(self) -> None:
        from load.outcomes import merge_summaries

        one = {
            "requests": 10,
            "by_status": {"201": 10},
            "admitted_p99_ms": 40.0,
            "shed_p99_ms": None,
        }
        two = {"requests": 5, "by_status": {"201": 4, "503": 1}, "admitted_p99_ms": 90.0,
               "shed_p99_ms": None}  # fmt: skip
        merged = merge_summaries([one, two])
        assert merged["requests"] == 15
        assert merged["by_status"] == {"201": 14, "503": 1}
        assert merged["admitted_p99_ms"] == 90.0
