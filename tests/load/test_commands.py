"""`khaibao load` and `khaibao bench` as an operator meets them: a surge test that cannot
send refuses at once, a bench run records how to repeat it and refuses a scenario it does
not know, and a run stopped by a signal leaves nothing behind (issue 26)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import build_parser
from load.bench import command_line
from load.run import _report
from load.run_checks import LostCheck, ServerCounts
from load.settings import LoadSettings

KHAIBAO = str(Path(sys.executable).parent / "khaibao")


def khaibao(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KHAIBAO, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


class TestSurgeWithoutLocust:
    def test_the_run_refuses_at_once_saying_to_install_the_dev_tools(self, tmp_path: Path) -> None:
        """`make run` installs the service, whose CLI has `khaibao load`, without Locust."""
        shim = tmp_path / "shim"
        shim.mkdir()
        # As if Locust were not installed: `import locust` fails, find_spec finds nothing.
        (shim / "sitecustomize.py").write_text('import sys\nsys.modules["locust"] = None\n')
        out = tmp_path / "reports"
        path = os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])
        done = khaibao("load", "--ci", "--out", str(out), env={"PYTHONPATH": path})
        assert done.returncode == 2, done
        assert done.stdout == ""
        [line] = done.stderr.strip().splitlines()
        assert "Locust" in line
        assert "make install-dev" in line
        assert not out.exists()

    def test_a_surge_that_sent_nothing_fails(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Locust wrote no outcomes (it did not start, or reached nothing): no requests, so
        no 5xx and no loss, which must not read as a pass."""
        counts = ServerCounts(shed={}, server_errors={})
        exit_code = _report(LoadSettings(), tmp_path, counts, LostCheck(0, 0), elapsed=1.0)
        assert exit_code == 1
        error = capsys.readouterr().err
        assert "sent no requests" in error
        assert str(tmp_path / "locust.log") in error


class TestBenchOptions:
    def test_an_unknown_scenario_is_refused_at_once_with_the_known_ones(self) -> None:
        done = khaibao("bench", "--only", "scan,nosuch")
        assert done.returncode == 2
        [line] = done.stderr.strip().splitlines()
        assert "no scenario nosuch" in line
        assert "submit, entry_submit, qr, scan" in line

    def test_the_header_command_repeats_the_run(self) -> None:
        given = [
            "bench", "--duration", "5", "--no-half-rate", "--no-overload", "--no-baseline",
            "--nice", "-5", "--max-in-flight", "32", "--only", "scan,qr", "--workers", "2",
            "--profile",
        ]  # fmt: skip
        args = build_parser("bench").parse_args(given)
        recorded = command_line(args)
        assert recorded.startswith("khaibao bench --duration 5 --rounds 1 ")
        again = build_parser("bench").parse_args(shlex.split(recorded)[1:])
        assert vars(again) == vars(args)

    def test_the_bench_scenarios_are_the_ones_it_measures(self) -> None:
        from load import bench_scenarios
        from load.cli import BENCH_SCENARIOS

        keys = {
            scenario.key
            for scenario in vars(bench_scenarios).values()
            if isinstance(scenario, bench_scenarios.Scenario)
        }
        assert set(BENCH_SCENARIOS) <= keys


class TestHelp:
    def test_the_top_level_help_gives_the_tools_own_help(self) -> None:
        text = " ".join(build_parser("--help").format_help().split())
        assert "bench benchmark table: requests/s" in text
        assert "load surge test: start a server" in text

    def test_nested_commands_say_what_they_do(self) -> None:
        done = khaibao("users", "create", "--help")
        text = " ".join(done.stdout.split())
        assert "standard input" in text
        assert "health_officer" in text
        assert "checkpoint_staff" in text
        serve = " ".join(khaibao("serve", "--help").stdout.split())
        assert "(default: 127.0.0.1)" in serve
        assert "(default: 8000)" in serve


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_bench_leaves_no_database_behind(stop: signal.Signals, tmp_path: Path) -> None:
    """`timeout 60 khaibao bench` sends SIGTERM; Ctrl-C, SIGINT. Either way the servers stop
    and the temporary directory with their SQLite files goes."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    command = [
        KHAIBAO, "bench", "--duration", "1", "--only", "qr", "--no-half-rate",
        "--no-overload", "--no-baseline", "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(temporary)}
    bench = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert bench.stderr is not None
    try:
        for line in bench.stderr:
            if "seeding" in line:  # both servers up, on files in the temporary directory
                break
        assert list(temporary.glob("khaibao-bench-*/*.sqlite3"))
        bench.send_signal(stop)
        bench.wait(timeout=90)
    finally:
        bench.kill()
    assert bench.returncode == 130
    assert list(temporary.glob("khaibao-bench-*")) == []
