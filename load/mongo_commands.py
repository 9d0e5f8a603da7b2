"""Commands per declaration against the MongoDB stand-in: what one declaration costs the
database in round trips, by command name.

    python -m load.mongo_commands --declarations 40
    python -m load.mongo_commands --app-dir /path/to/an/older/checkout   # the same, before

It speaks HTTP and the CLI only: it starts the stand-in (`python -m tests.mongo_standin`),
runs `khaibao db migrate` where that command exists, starts `khaibao serve` on the
stand-in with Redis for rate limits (as production runs), signs in, and counts the
commands the stand-in received during each declaration (its `standinCounts` command).
First declarations (a new person) and repeats (an existing person) are counted apart.
Background work of the server (the outbox relay, the fold of the report counters' steps)
lands in the counts when it runs during a declaration.

Then a burst: every account at once declares one more person living in one ward (a
dependant: the account holder is one person, declared already), and every command until the
server's folds have run counts (a fold adds up the steps of the declarations committed
before it; before the fold, each declaration wrote the ward's counter cell in its own
transaction, and concurrent ones conflicted on it and were run again).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from random import Random
from typing import Any

import httpx
from pymongo import MongoClient

from load.data import (
    make_declaration,
    make_dependant,
    make_person,
    otp_variable,
    phone_number,
    vietnam_today,
)

HERE = Path(__file__).resolve().parents[1]


@contextmanager
def _process(argv: list[str], *, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(  # noqa: S603 (our own commands)
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(base: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("khaibao serve did not answer /healthz")


def measure(app_dir: Path, declarations: int, port: int) -> dict[str, Counter[str]]:
    env = {**os.environ, "PYTHONPATH": str(app_dir)}
    with _process(
        [sys.executable, "-m", "tests.mongo_standin", "--port", "0"], cwd=HERE, env=env
    ) as standin:
        assert standin.stdout is not None
        url = standin.stdout.readline().strip()
        head, _, options = url.partition("/?")
        database_url = f"{head}/bench_{uuid.uuid4().hex[:8]}?{options}"
        phones = [phone_number("+849002", n) for n in range(declarations)]
        app_env = {
            **env,
            "KHAIBAO_ENV": "dev",
            "KHAIBAO_DATABASE_URL": database_url,
            "KHAIBAO_REDIS_URL": os.environ.get("KHAIBAO_REDIS_URL", "redis://127.0.0.1:6379/15"),
            "KHAIBAO_TEST_OTP": otp_variable(phones),
            "KHAIBAO_SHED_LOOP_LAG_MS": "0",
            # One client address signs in every account: the per-address code limit is not
            # what is measured.
            "KHAIBAO_OTP_PER_ADDRESS_PER_HOUR": "1000000",
            "KHAIBAO_OTP_PER_PHONE_PER_HOUR": "1000",
            "KHAIBAO_OTP_PER_PHONE_PER_ADDRESS_PER_HOUR": "1000",
        }
        khaibao = [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())"]
        subprocess.run([*khaibao, "db", "migrate"], cwd=app_dir, env=app_env, capture_output=True)  # noqa: S603
        serve = [*khaibao, "serve", "--port", str(port)]
        with _process(serve, cwd=app_dir, env=app_env):
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base)
            counts: MongoClient[dict[str, Any]] = MongoClient(url)
            try:
                seen, signed_in = _declare(base, phones, counts)
                seen["burst"] = asyncio.run(_burst(base, signed_in, counts))
                return seen
            finally:
                counts.close()


async def _burst(
    base: str, signed_in: list[dict[str, str]], standin: MongoClient[Any]
) -> Counter[str]:
    """One new person per account, all at once, all in the same ward; the commands counted
    until a second after the last answer, so the server's folds are in."""
    rng, today = Random(11), vietnam_today()
    standin.admin.command("standinCounts", reset=True)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(headers: dict[str, str]) -> None:
            dependant = make_dependant(rng, make_person(rng, phone="+84900000000"))
            body = make_declaration(rng, dependant, today=today)
            body["address"].update(province=1, ward=70)
            sent = await client.post(
                "/v1/declarations",
                json=body,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            sent.raise_for_status()

        await asyncio.gather(*(one(headers) for headers in signed_in))
    await asyncio.sleep(1.0)
    return Counter(standin.admin.command("standinCounts")["counts"])


def _declare(
    base: str, phones: list[str], standin: MongoClient[Any]
) -> tuple[dict[str, Counter[str]], list[dict[str, str]]]:
    rng, today = Random(7), vietnam_today()
    seen: dict[str, Counter[str]] = {"first": Counter(), "repeat": Counter()}
    signed_in: list[dict[str, str]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for phone in phones:
            client.post("/v1/auth/otp", json={"phone": phone}).raise_for_status()
            code = phone[-6:][::-1]
            token = client.post("/v1/auth/token", json={"phone": phone, "otp": code})
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            signed_in.append(headers)
            person = make_person(rng, phone=phone)
            for kind in ("first", "repeat"):
                body = make_declaration(rng, person, today=today)
                standin.admin.command("standinCounts", reset=True)
                sent = client.post(
                    "/v1/declarations",
                    json=body,
                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                )
                sent.raise_for_status()
                seen[kind].update(standin.admin.command("standinCounts")["counts"])
    return seen, signed_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.mongo_commands", description=__doc__)
    parser.add_argument("--declarations", type=int, default=40, help="accounts, two each")
    parser.add_argument("--app-dir", type=Path, default=HERE, help="checkout to run")
    parser.add_argument("--port", type=int, default=8071)
    args = parser.parse_args(argv)
    seen = measure(args.app_dir.resolve(), args.declarations, args.port)
    for kind, counts in seen.items():
        total = sum(counts.values()) / args.declarations
        detail = ", ".join(
            f"{name} {n / args.declarations:.2f}" for name, n in counts.most_common()
        )
        print(f"{kind} declaration: {total:.2f} commands ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
