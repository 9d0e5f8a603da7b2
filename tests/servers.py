"""A real `khaibao serve` on a free port of 127.0.0.1 over a SQLite file, for the tests that
drive a browser against the service."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.context import Context
from runtime.context import build_context, close_context
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RunningServer:
    url: str
    database_url: str
    env: dict[str, str]
    log: Path


def khaibao_command() -> list[str]:
    """The installed `khaibao` command, as an operator runs it."""
    script = Path(sys.executable).with_name("khaibao")
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")},
        "KHAIBAO_ENV": "test",
        "KHAIBAO_DATABASE_URL": database_url,
        "KHAIBAO_LOG_LEVEL": "WARNING",
        **extra,
    }


def database_url_in(tmp_path: Path) -> str:
    """The SQLite file `running_server(tmp_path)` serves."""
    return f"sqlite:///{tmp_path}/khaibao.sqlite3"


def seed_database(tmp_path: Path, seed: Callable[[Context], Awaitable[None]]) -> None:
    """Write what a test needs through the services, before the server opens the file."""

    async def run() -> None:
        ctx = await build_context(make_settings(database_url_in(tmp_path)))
        try:
            await seed(ctx)
        finally:
            await close_context(ctx)

    asyncio.run(run())


@contextmanager
def running_server(tmp_path: Path, **extra_env: str) -> Iterator[RunningServer]:
    database_url = database_url_in(tmp_path)
    env = server_env(database_url, **extra_env)
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*khaibao_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.2)
        yield RunningServer(url, database_url, env, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
