"""What every simulated user shares: calling the API the way the real apps do (retry a
request that got no answer, with the same Idempotency-Key; wait as long as Retry-After
says when the service sheds load) and recording what came back."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from locust import events
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from load.outcomes import OUTCOMES, SHED_STATUSES
from load.settings import get_load_settings
from load.stages import surge_stages

# Waits longer than this are cut short: a phone user does not wait a minute for a retry.
MAX_RETRY_WAIT = 5.0
_started = [time.monotonic()]  # when the test started, for the per-stage report


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem_code(response: Any) -> str | None:
    """The stable `code` of a problem+json answer, if it is one."""
    content_type = (response.headers or {}).get("content-type", "") if response else ""
    if "problem+json" not in content_type:
        return None
    try:
        code = response.json().get("code")
    except Exception:  # a truncated body is reported by its status already
        return None
    return code if isinstance(code, str) else None


def retry_wait(response: Any, rng: random.Random) -> float:
    """Retry-After, with jitter so shed clients do not come back in one wave."""
    try:
        seconds = float((response.headers or {}).get("retry-after", "1"))
    except ValueError:
        seconds = 1.0
    return min(seconds, MAX_RETRY_WAIT) * rng.uniform(0.5, 1.5)


def call(
    user: FastHttpUser,
    method: str,
    path: str,
    *,
    name: str,
    expect: tuple[int, ...],
    rng: random.Random,
    json: Any = None,
    headers: dict[str, str] | None = None,
    retries: int | None = None,
) -> Any:
    """Send one logical request; the same body and headers go out again after no answer,
    after a shed (429/503) or after `409 in progress` (a retry that overtook the original).
    Returns the decoded JSON of an expected answer, else None."""
    attempts = 1 + (get_load_settings().retries if retries is None else retries)
    for attempt in range(attempts):
        label = name if attempt == 0 else f"{name} [retry]"
        with user.client.request(
            method, path, name=label, json=json, headers=headers, catch_response=True
        ) as response:
            status = response.status_code
            if status in expect:
                response.success()
                if "json" not in (response.headers or {}).get("content-type", ""):
                    return {}  # CSV, an image: the status is the answer
                try:
                    return response.json()
                except ValueError:
                    response.failure("answer is not valid JSON")
                    return None
            if status == 0:
                response.failure("no answer (timeout or connection error)")
                continue
            if status in SHED_STATUSES or (status == 409 and "progress" in (response.text or "")):
                response.failure(f"shed: {status} {problem_code(response) or ''}".strip())
                time.sleep(retry_wait(response, rng))
                continue
            response.failure(f"unexpected {status} {problem_code(response) or ''}".strip())
            return None
    return None


@events.request.add_listener  # type: ignore[untyped-decorator]  # locust's hooks are untyped
def _record(name: str, response_time: float, response: Any = None, **_: Any) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    code = problem_code(response) if status >= 400 else None
    at = time.monotonic() - _started[0]
    OUTCOMES.record(name, status, response_time, code, at=at)


@events.test_start.add_listener  # type: ignore[untyped-decorator]  # locust's hooks are untyped
def _open(environment: Environment, **_: Any) -> None:
    _started[0] = time.monotonic()
    path = get_load_settings().acknowledged
    if path is not None:
        OUTCOMES.open_acknowledged(path)


@events.quitting.add_listener  # type: ignore[untyped-decorator]  # locust's hooks are untyped
def _summarise(environment: Environment, **_: Any) -> None:
    """Each process that ran users writes its own summary: one file, or with Locust's
    `--processes N` (or master and workers) one per worker, `outcomes-<pid>.json`, which
    `khaibao load` merges. The master runs no users and writes none."""
    OUTCOMES.close()
    settings = get_load_settings()
    if settings.outcomes is None or isinstance(environment.runner, MasterRunner):
        return
    path = settings.outcomes
    if isinstance(environment.runner, WorkerRunner):
        path = path.with_name(f"{path.stem}-{os.getpid()}{path.suffix}")
    OUTCOMES.write_summary(path, surge_stages(settings))
