"""What the load generator saw, beyond Locust's own statistics: every status code per
request, how quickly overload was answered, the latency of the requests the service
admitted, and the id of every declaration the service acknowledged (written as it arrives,
so a crashed run still leaves the evidence for the lost-write check)."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from load.stages import Stage, stage_at

# Answers that say "not now, come back later" (the in-flight cap, rate limits).
SHED_STATUSES = frozenset({429, 503})


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; `share` in 0..1."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


class Outcomes:
    def __init__(self) -> None:
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.admitted_ms: dict[str, list[float]] = defaultdict(list)
        self.shed_ms: list[float] = []
        # (seconds since the start, status, milliseconds) of every answer, for the stages
        self.timeline: list[tuple[float, int, float]] = []
        self.problem_codes: Counter[str] = Counter()
        self.replays_mismatched = 0
        self.invalid_tokens_allowed = 0
        # Entry declarations acknowledged (201) whose code a border scan then did not find.
        self.entries_lost = 0
        self._ack: IO[str] | None = None
        self._lock = threading.Lock()

    def record(
        self,
        name: str,
        status: int,
        response_time_ms: float,
        problem_code: str | None = None,
        at: float = 0.0,
    ) -> None:
        self.statuses[(name, status)] += 1
        self.timeline.append((at, status, response_time_ms))
        if problem_code:
            self.problem_codes[problem_code] += 1
        if status in SHED_STATUSES:
            self.shed_ms.append(response_time_ms)
        elif status:
            self.admitted_ms[name].append(response_time_ms)

    def open_acknowledged(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ack = path.open("a", encoding="utf-8", buffering=1)

    def acknowledge(self, declaration_id: str, phone: str = "") -> None:
        """`id phone` per line: the phone signs in again to read it back from a deployed
        service. Each line is one short write to a file opened for appending, so Locust's
        worker processes can share the file."""
        if self._ack is not None:
            with self._lock:
                self._ack.write(f"{declaration_id} {phone}".rstrip() + "\n")

    def close(self) -> None:
        if self._ack is not None:
            self._ack.close()
            self._ack = None

    def by_stage(self, stages: Sequence[Stage]) -> list[dict[str, Any]]:
        """Per stage of the surge: what was answered, shed or lost, and admitted latency,
        so recovery after the spike shows as latency back at its steady level."""
        buckets: dict[str, list[tuple[int, float]]] = {stage.name: [] for stage in stages}
        for at, status, ms in self.timeline:
            stage = stage_at(list(stages), at) or stages[-1]
            buckets[stage.name].append((status, ms))
        rows = []
        for stage in stages:
            answers = buckets[stage.name]
            admitted = [ms for status, ms in answers if status and status not in SHED_STATUSES]
            rows.append(
                {
                    "stage": stage.name,
                    "users": stage.users,
                    "requests": len(answers),
                    "shed": sum(1 for status, _ in answers if status in SHED_STATUSES),
                    "no_answer": sum(1 for status, _ in answers if status == 0),
                    "server_errors": sum(
                        1 for status, _ in answers if status >= 500 and status != 503
                    ),
                    "admitted_p50_ms": percentile(admitted, 0.50),
                    "admitted_p99_ms": percentile(admitted, 0.99),
                }
            )
        return rows

    def summary(self, stages: Sequence[Stage] = ()) -> dict[str, Any]:
        by_status: Counter[int] = Counter()
        for (_, status), count in self.statuses.items():
            by_status[status] += count
        admitted_all = [ms for values in self.admitted_ms.values() for ms in values]
        return {
            "requests": sum(by_status.values()),
            "by_status": {str(k): v for k, v in sorted(by_status.items())},
            "by_request": {
                f"{name} {status}": count for (name, status), count in sorted(self.statuses.items())
            },
            "server_errors": sum(v for k, v in by_status.items() if k >= 500 and k != 503),
            "no_answer": by_status.get(0, 0),
            "shed": sum(by_status.get(s, 0) for s in SHED_STATUSES),
            "problem_codes": dict(self.problem_codes),
            "shed_p99_ms": percentile(self.shed_ms, 0.99),
            "admitted_p50_ms": percentile(admitted_all, 0.50),
            "admitted_p99_ms": percentile(admitted_all, 0.99),
            "admitted_p99_ms_by_request": {
                name: percentile(values, 0.99) for name, values in sorted(self.admitted_ms.items())
            },
            "stages": self.by_stage(stages) if stages else [],
            "replays_mismatched": self.replays_mismatched,
            "invalid_tokens_allowed": self.invalid_tokens_allowed,
            "entries_lost": self.entries_lost,
        }

    def write_summary(self, path: Path, stages: Sequence[Stage] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.summary(stages), indent=2, ensure_ascii=False)
        path.write_text(text, "utf-8")


OUTCOMES = Outcomes()


def merge_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary from those of several Locust worker processes: counts add up; a
    percentile cannot be merged exactly, so the worst process's is kept (an upper bound)."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, bool) or value is None:
                merged.setdefault(key, value)
            elif isinstance(value, int | float) and key.endswith("_ms"):
                merged[key] = max(value, merged.get(key) or 0)
            elif isinstance(value, int | float):
                merged[key] = merged.get(key, 0) + value
            elif isinstance(value, dict):
                into = merged.setdefault(key, {})
                for name, number in value.items():
                    if number is None:
                        into.setdefault(name, None)
                    elif key.endswith("_ms"):
                        into[name] = max(number, into.get(name) or 0)
                    else:
                        into[name] = into.get(name, 0) + number
            elif isinstance(value, list) and key == "stages":
                rows = merged.setdefault(key, [])
                for index, row in enumerate(value):
                    if index >= len(rows):
                        rows.append(dict(row))
                        continue
                    for name, number in row.items():
                        if name == "stage" or number is None:
                            continue
                        if name.endswith("_ms"):
                            rows[index][name] = max(number, rows[index].get(name) or 0)
                        elif name != "users":
                            rows[index][name] = rows[index].get(name, 0) + number
    return merged
