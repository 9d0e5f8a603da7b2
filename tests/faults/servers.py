"""Real processes for the fault tests: `khaibao serve` (uvicorn) as a subprocess, started,
killed and restarted by the test, optionally as an unprivileged user; a load driver that
records exactly what each client was told; and direct reads of the SQLite file.

Everything listens on 127.0.0.1 only, on free ports, and is stopped in fixture finalizers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.notifications.conftest import ROOT, free_port, khaibao_command
from tests.security.cast import declaration_body

NOBODY = 65534
# Citizens' fixed one-time codes for these servers (KHAIBAO_TEST_OTP), one per load client.
PHONES = {f"+8490000{n:04d}": f"{100000 + n}" for n in range(10, 40)}
_ids = itertools.count(1)


def id_number_for(phone: str) -> str:
    return "0011900" + phone[-5:]


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env.update(
        {
            "KHAIBAO_ENV": "test",
            "KHAIBAO_DATABASE_URL": database_url,
            "KHAIBAO_TEST_OTP": ",".join(f"{p}:{c}" for p, c in PHONES.items()),
            # Floods are not under test here: the load comes from one address.
            "KHAIBAO_REQUESTS_PER_ADDRESS_PER_MINUTE": "100000000",
            # Nor is shedding (tests/api/test_edge.py): a CPU-starved CI machine would shed.
            "KHAIBAO_SHED_LOOP_LAG_MS": "0",
            "KHAIBAO_OTP_PER_PHONE_PER_HOUR": "100000",
            "KHAIBAO_OTP_PER_PHONE_PER_ADDRESS_PER_HOUR": "100000",
            "KHAIBAO_OTP_PER_ADDRESS_PER_HOUR": "100000000",
            # Each load client declares for itself over and over.
            "KHAIBAO_DECLARATIONS_PER_ACCOUNT_PER_HOUR": "100000000",
            "KHAIBAO_DECLARATIONS_PER_PERSON_PER_DAY": "100000000",
            "KHAIBAO_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


class ApiServer:
    """`khaibao serve` on a free port. `as_user` runs it under that uid/gid with no
    privileges but CAP_DAC_READ_SEARCH, so it can read the Python install under /root
    while every write is still checked against file permissions."""

    def __init__(self, log_dir: Path, env: dict[str, str], *, as_user: int | None = None):
        self.env = env
        self.as_user = as_user
        self.port = free_port()
        self.log = log_dir / f"api-{next(_ids)}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> ApiServer:
        command = [*khaibao_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.as_user is not None:
            command = [
                "setpriv",
                f"--reuid={self.as_user}",
                f"--regid={self.as_user}",
                "--clear-groups",
                "--inh-caps=+dac_read_search",
                "--ambient-caps=+dac_read_search",
                *command,
            ]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError("server exited:\n" + self.output()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError("server did not start:\n" + self.output()[-3000:])
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server and anything it started: a crash, a pulled plug."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None


async def sign_in(client: httpx.AsyncClient, phone: str) -> dict[str, str]:
    sent = await client.post("/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    token = await client.post("/v1/auth/token", json={"phone": phone, "otp": PHONES[phone]})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@dataclass
class Attempt:
    """One declaration a client sent and what it was told: a status, or nothing at all
    (`status` None: the connection failed, so the client cannot know what happened)."""

    phone: str
    key: str
    body: dict[str, Any]
    status: int | None = None
    declaration_id: str | None = None
    problem_code: str | None = None
    retry_after: str | None = None


@dataclass
class Load:
    """Citizens declaring in a loop, one client per citizen, until told to stop."""

    url: str
    citizens: dict[str, dict[str, str]]
    attempts: list[Attempt] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        await asyncio.gather(*(self._citizen(phone) for phone in self.citizens))

    async def _citizen(self, phone: str) -> None:
        body = declaration_body(phone, id_number_for(phone))
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                attempt = Attempt(phone, f"fault-{uuid.uuid4().hex}", body)
                self.attempts.append(attempt)
                await send(client, attempt, self.citizens[phone])
                await asyncio.sleep(0.01)

    def told(self, status: int) -> list[Attempt]:
        return [a for a in self.attempts if a.status == status]

    def unknown(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status is None]


async def send(client: httpx.AsyncClient, attempt: Attempt, headers: dict[str, str]) -> None:
    try:
        response = await client.post(
            "/v1/declarations",
            json=attempt.body,
            headers={**headers, "Idempotency-Key": attempt.key},
        )
    except httpx.TransportError:
        attempt.status = None
        return
    attempt.status = response.status_code
    if response.status_code == 201:
        attempt.declaration_id = response.json()["id"]
    elif response.headers.get("content-type", "").startswith("application/problem+json"):
        attempt.problem_code = response.json().get("code")
        attempt.retry_after = response.headers.get("retry-after")


async def until(predicate: Any, *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def read_rows(
    database: Path, sql: str, *params: Any, immutable: bool = False
) -> list[tuple[Any, ...]]:
    """Read the SQLite file directly (read-only, as root), as an operator would.
    `immutable` reads a cleanly closed file without creating its -wal/-shm files."""
    uri = f"file:{database}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def snapshot(database: Path, *, immutable: bool = False) -> dict[str, Any]:
    """What a declaration writes: declarations, idempotency records, people, and the report
    counters (one per person a day), with the steps still pending for them (a server killed
    between a commit and its fold left them to the next fold, `reports.folding`)."""

    def one(sql: str) -> Any:
        return read_rows(database, sql, immutable=immutable)[0][0]

    return {
        "declarations": one("SELECT count(*) FROM declarations"),
        "idempotency": one("SELECT count(*) FROM idempotency"),
        "people": one("SELECT count(*) FROM people"),
        "counted": one(
            "SELECT coalesce(sum(json_extract(doc, '$.n')), 0) FROM report_counters "
            "WHERE json_extract(doc, '$.kind') = 'declarations'"
        )
        + one(
            "SELECT coalesce(sum(json_extract(step.value, '$.inc.n')), 0) "
            "FROM counter_steps, json_each(counter_steps.doc, '$.steps') AS step "
            "WHERE json_extract(counter_steps.doc, '$.state') = 'pending' "
            "AND json_extract(step.value, '$.fields.kind') = 'declarations'"
        ),
    }
