"""Where the server's time goes: py-spy samples of the thread holding the GIL while wrk
drives one scenario, summarised by layer and by function. `khaibao bench --profile` writes,
per scenario, the collapsed stacks (`profile-<scenario>.txt`, readable by speedscope or
flamegraph.pl) and this summary (`profile-<scenario>.md`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY_MISSING = "py-spy is not installed: pip install py-spy (profiling skipped)"


def _frame_name(frame: str) -> str:
    """`handle (fastapi/routing.py:123)` -> `handle fastapi/routing.py`."""
    name, _, location = frame.partition(" (")
    path = location.split(":", 1)[0]
    return f"{name} {'/'.join(path.split('/')[-2:])}".strip()


# Leaf functions that mean "this thread waits": a pool worker waiting for work, a reader
# thread waiting on its queue. py-spy does not always see them as idle.
IDLE = frozenset(
    {
        "Condition.wait threading.py",
        "_worker futures/thread.py",
        "Queue.get queue.py",
        "Event.wait threading.py",
        "SimpleQueue.get queue.py",
    }
)

# (category, substrings of a frame); a sample goes to the innermost frame that matches.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "SQLite writes (group applied, commit + fsync)",
        ("_commit_loop storage/sqlite", "_apply", "_update storage/sqlite", "_begin_and_apply"),
    ),
    ("SQLite reads", ("storage/sqlite",)),
    ("MongoDB driver", ("pymongo/", "storage/mongo/")),
    ("rate limiter", ("core/ratelimit.py",)),
    (
        "signing, HMAC, encryption",
        ("cryptography/", "jwt/", "hmac.py", "core/crypto.py", "hashlib"),
    ),
    ("logging", ("logging/", "core/logging.py")),
    ("Prometheus metrics", ("prometheus_client/",)),
    ("pydantic validation / serialisation", ("pydantic/", "pydantic_core/")),
    ("JSON", ("orjson", "json/")),
    ("FastAPI / Starlette routing, middleware, dependencies", ("fastapi/", "starlette/", "anyio/")),
    ("uvicorn HTTP, event loop", ("uvicorn/", "httptools", "asyncio/", "uvloop")),
    (
        "service code",
        ("declarations/", "qr/", "checkpoints/", "reports/", "accounts/", "api/", "core/",
         "notifications/", "load/"),
    ),
)  # fmt: skip


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for category, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return category
    return "other"


def summarise_collapsed(text: str, top: int = 40) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not (count.isascii() and count.isdigit()):
            continue
        frames = [_frame_name(f) for f in stack.split(";")]
        if frames[-1] in IDLE:
            continue
        samples = int(count)
        total += samples
        for name in set(frames):
            inclusive[name] += samples
        own[frames[-1]] += samples
        categories[_category(frames)] += samples
    if not total:
        return "no samples\n"
    lines = [f"{total} busy samples", "", "| share | where |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f}% | {name} |" for name, n in categories.most_common()]
    lines += ["", "| inclusive | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f}% | `{name}` |" for name, n in inclusive.most_common(top)]
    lines += ["", "| self | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f}% | `{name}` |" for name, n in own.most_common(top // 2)]
    return "\n".join(lines) + "\n"


def start_py_spy(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample `pid` and its worker processes for `seconds`; None when py-spy is missing."""
    # Installed with the project, py-spy sits beside the interpreter, maybe not on PATH.
    binary = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if binary is None:
        return None
    command = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        # Only the thread holding the GIL: one Python process serves one core's worth,
        # so the GIL holder's stacks are where the throughput goes.
        "--gil",
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return subprocess.Popen(  # noqa: S603 (py-spy from PATH, fixed arguments)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
