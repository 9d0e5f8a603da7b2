"""Start the service as a separate process on 127.0.0.1 for a load run or a benchmark, the
way `khaibao serve` runs it (uvicorn, httptools, its event loop), and stop it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
from prometheus_client.parser import text_string_to_metric_families

from load.data import CITIZEN_PREFIX, SCANNED_PREFIX, otp_variable, phone_number

HOST = "127.0.0.1"
APP_FACTORY = "api.app:app_from_environment"
BENCH_APP_FACTORY = "load.inprocess.benchapp:bench_app"
NAIVE_APP_FACTORY = "load.naive:naive_app"  # the peer, served the same way


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def load_phones(citizens: int, scanned: int) -> list[str]:
    return [phone_number(CITIZEN_PREFIX, i) for i in range(citizens)] + [
        phone_number(SCANNED_PREFIX, i) for i in range(scanned)
    ]


def server_environment(
    database_url: str,
    *,
    phones: list[str],
    group_commit: bool = True,
    max_in_flight: int | None = None,
    scheduled_jobs: bool = True,
) -> dict[str, str]:
    """Settings of a server under test. All load comes from one address (127.0.0.1), so the
    per-address limits meant for the public internet are lifted, as they would be for a
    carrier NAT allow-listed at the edge; everything else is the service's default.
    `scheduled_jobs=False` for a server whose routes are measured: the monitoring jobs a
    server runs at start (an evening's reminders to the seeded episodes' people) would be
    counted as the routes' cost, and only after 18:00 in Vietnam."""
    env = {
        "KHAIBAO_ENV": "dev",
        "KHAIBAO_DATABASE_URL": database_url,
        "KHAIBAO_TEST_OTP": otp_variable(phones),
        "KHAIBAO_GROUP_COMMIT": "true" if group_commit else "false",
        "KHAIBAO_OTP_PER_PHONE_PER_HOUR": "1000",
        "KHAIBAO_OTP_PER_PHONE_PER_ADDRESS_PER_HOUR": "1000",
        "KHAIBAO_OTP_PER_ADDRESS_PER_HOUR": "100000000",
        "KHAIBAO_REQUESTS_PER_ADDRESS_PER_MINUTE": "100000000",
        # A load client declares for its household over and over, far past what one
        # account may in production (KHAIBAO_DECLARATIONS_PER_*).
        "KHAIBAO_DECLARATIONS_PER_ACCOUNT_PER_HOUR": "100000000",
        "KHAIBAO_DECLARATIONS_PER_PERSON_PER_DAY": "100000000",
        # Arriving families all come from 127.0.0.1, and the bench replays each passport.
        "KHAIBAO_ENTRY_PER_ADDRESS_PER_HOUR": "100000000",
        "KHAIBAO_ENTRY_PER_PASSPORT_PER_DAY": "100000000",
        "KHAIBAO_ACCESS_TOKEN_MINUTES": "240",
        "KHAIBAO_LOG_LEVEL": os.environ.get("KHAIBAO_LOG_LEVEL", "INFO"),
    }
    if max_in_flight is not None:
        env["KHAIBAO_MAX_IN_FLIGHT"] = str(max_in_flight)
    if not scheduled_jobs:
        env["KHAIBAO_SCHEDULED_JOBS_IN_API"] = "false"
    return env


def niced(nice: int) -> list[str]:
    """A command prefix that runs at another scheduling priority (negative needs root): on
    a shared machine, `-10` keeps other people's jobs from skewing the measurement."""
    return ["nice", "-n", str(nice)] if nice else []


class ServerFailed(RuntimeError):
    pass


class Server:
    """`with Server(...) as server:` starts uvicorn, waits for /healthz, stops it on exit."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        log_path: Path,
        workers: int = 1,
        bench_routes: bool = False,
        startup_timeout: float = 60.0,
        nice: int = 0,
        app: str | None = None,
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.factory = app or (BENCH_APP_FACTORY if bench_routes else APP_FACTORY)
        self.startup_timeout = startup_timeout
        self.nice = nice
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        if self.workers > 1:
            env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="khaibao-metrics-"))
        command = [
            *niced(self.nice),
            sys.executable,
            "-m",
            "api.serve",  # as `khaibao serve` runs it
            "--app",
            self.factory,
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
                command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_healthy()
        except BaseException:  # Ctrl-C while it starts: `with` would not stop it
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited at start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerFailed(f"the server did not answer /healthz in time:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM, the way an orchestrator stops it: in-flight requests finish, the store
        closes cleanly. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no request is in flight. A load generator that stops (a warm-up) leaves
        requests the server is still finishing; the next run must not start behind them,
        or it is shed for the previous run's work."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = httpx.get(f"{self.base_url}/metrics", timeout=5.0)
            if answer.status_code != 200:  # the naive peer counts nothing: a short pause
                time.sleep(0.5)
                return
            metrics = answer.text
            busy = sum(
                sample.value
                for family in text_string_to_metric_families(metrics)
                for sample in family.samples
                if sample.name == "khaibao_requests_in_flight"
            )
            if busy <= 1:  # the /metrics request itself is in flight while it answers
                return
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server and its worker processes so far, from
        /proc: what a request costs, whatever else the machine is running."""
        if self.process is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid, parent = int(stat.parent.name), int(fields[1])
            if self.process.pid in (pid, parent):
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def metrics(self) -> str:
        try:
            return httpx.get(f"{self.base_url}/metrics", timeout=10.0).text
        except httpx.HTTPError:
            return ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def unwind_on_signals() -> None:
    """Stop on SIGTERM (`timeout`, CI, an orchestrator) and SIGINT (Ctrl-C) alike, by a
    KeyboardInterrupt that stops the servers and removes the temporary directory with its
    database files on the way out. SIGTERM's default ends the process at once, leaving them
    behind. SIGINT is set too, not left to Python: a process started with SIGINT ignored
    (CI runs the suite as a script's background job, which bash starts so) inherits that,
    and its bench ran on to the end (seen in CI)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
