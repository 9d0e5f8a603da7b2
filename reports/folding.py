"""Counter steps out of the write's transaction: an outbox of tallies, folded in batches.

A declaration decides in its own transaction how the counters move (`reports.counters`),
but does not write them there: a ward's cell is one document that every declaration of the
ward and day would write, so concurrent declarations would conflict on it and be run again
by a real server, and on a sharded cluster each one would commit across the counter's
shard too. Its batch stores the steps instead, as one new `counter_steps` record that no
other transaction touches. A fold then adds up the pending records (hundreds per
transaction) into `report_counters`, and in that same transaction marks each record folded
on the condition that it is still pending: of two folds that read the same records, one
commits and the other is rolled back and reads again. Each step counts exactly once,
whether a process dies after the declaration's commit (the record waits, pending, for the
next fold) or two folds run at once.

Scans, check-ins and border scans count the same way: a busy gate's cell is as hot.

Who folds: the process that wrote, a moment after its commit (`Folding.kick`, which gathers
the steps of many writes into one fold; the store calls it after every committed batch that
inserted a pending record, `Store.after_insert`, so no writer calls it); every process with
a context (API and Celery worker) every `KHAIBAO_COUNTER_FOLD_SECONDS` (`Folding.start`),
for what a process that died left pending;
and every reader of the counters the steps touch (the declaration and checkpoint reports,
the public map), right before it reads, so a figure read after a write was acknowledged
includes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.background import repeat, stop_if_cancelled
from core.clock import new_id, utcnow
from core.storage import (
    Document,
    DuplicateKey,
    Insert,
    Operation,
    PreconditionFailed,
    Store,
    Update,
)
from reports import repository
from reports.counters import emptied

log = logging.getLogger(__name__)

FOLD_BATCH = 500
# A reader folds at most this many batches before it reads: under a backlog it answers a
# little behind rather than not at all.
READER_BATCHES = 20
# How long after a kick the fold starts: the steps of the writes in between join it.
FOLD_DELAY_SECONDS = 0.2
# A folded record is kept an hour (what the last folds did, for an operator), then expires.
KEEP_FOLDED = timedelta(hours=1)
_COUNTED = ("report_counters", "report_rollups")
# Where a write's steps wait for the fold: a batch that inserts here asks for one.
PENDING_STEPS = repository.COUNTER_STEPS.name


def pending_steps(steps: Iterable[Update], *, now: datetime) -> list[Insert]:
    """The record to put in the write's batch in place of `steps` (upserts that only
    increment, as `reports.counters` makes them); none when there is no step."""
    listed: list[dict[str, Any]] = []
    for step in steps:
        if step.collection not in _COUNTED or step.set or step.when or not step.upsert:
            raise ValueError(f"not a counter step: {step.collection}/{step.id}")
        listed.append(
            {
                "collection": step.collection,
                "id": step.id,
                "inc": dict(step.inc),
                "fields": dict(step.set_on_insert),
            }
        )
    if not listed:
        return []
    document = {"_id": new_id("cst"), "state": "pending", "created_at": now, "steps": listed}
    return [repository.insert_counter_steps(document)]


def fold_operations(records: Sequence[Document], *, now: datetime) -> list[Operation]:
    """One transaction's worth: each record marked folded (on condition), and the sum of
    their steps, one upsert per counter. A counter whose value may have reached zero is
    deleted if it did (an empty cell does not exist, as before the steps)."""
    ops: list[Operation] = [
        repository.mark_folded(str(record["_id"]), expires_at=now + KEEP_FOLDED)
        for record in records
    ]
    sums: dict[tuple[str, str], tuple[dict[str, int], dict[str, Any]]] = {}
    for record in records:
        for step in record["steps"]:
            inc, fields = sums.setdefault((step["collection"], step["id"]), ({}, {}))
            for name, value in step["inc"].items():
                inc[name] = inc.get(name, 0) + int(value)
            fields.update(step["fields"])
    for (collection, counter_id), (inc, fields) in sorted(sums.items()):
        moved = {name: value for name, value in inc.items() if value}
        if not moved:
            continue  # steps that cancel out: the cell is as it was
        ops.append(Update(collection, counter_id, inc=moved, set_on_insert=fields, upsert=True))
        # Not only after a net step down: a step down applied before the step up it undoes
        # (two processes' clocks) left the cell below zero for a while; at zero it is empty,
        # whichever way it got there.
        ops.extend(emptied(collection, counter_id))
    return ops


async def fold(store: Store, records: Sequence[Document], *, now: datetime | None = None) -> None:
    """Add these pending records to the counters in one transaction. PreconditionFailed:
    another fold took one of them first, and nothing was written."""
    if records:
        await store.write(fold_operations(records, now=now or utcnow()))


async def fold_pending(store: Store, *, batches: int | None = None) -> int:
    """Fold what is pending, a batch per transaction, until nothing is (or `batches` have
    been folded); returns how many records were folded here."""
    folded = rounds = 0
    while batches is None or rounds < batches:
        rounds += 1
        records = await repository.pending_counter_steps(store, limit=FOLD_BATCH)
        try:
            await fold(store, records)
        except (PreconditionFailed, DuplicateKey):
            # Another fold took some of them, or created a new cell first: nothing was
            # written; read what is left and go again.
            continue
        folded += len(records)
        if len(records) < FOLD_BATCH:
            break
    return folded


async def fold_before_reading(store: Store) -> None:
    """For a reader of the counters: what was acknowledged before now counts in what it
    reads. A failure to fold leaves the steps pending, to be read a little behind."""
    try:
        await fold_pending(store, batches=READER_BATCHES)
    except Exception:
        log.exception("counter fold before a report failed; reading the counters as they are")


async def fold_forever(store: Store, *, period: float) -> None:
    """What any process left pending (one that died between a commit and its fold) is
    folded at start and then every `period` by each process still running."""
    await repeat(lambda: fold_pending(store), seconds=period, what="counter fold", log=log)


class Folding:
    """The folds of one process (`Context.counters`): soon after each of its own writes that
    left steps (`kick`, which the store calls), and every `every` seconds for what any
    process left (`start`)."""

    def __init__(self, store: Store, *, every: float, delay: float = FOLD_DELAY_SECONDS) -> None:
        self._store = store
        self._every = every
        self._delay = delay
        self._soon: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None
        self._kicked = False
        self._closed = False

    def start(self) -> None:
        self._periodic = asyncio.get_running_loop().create_task(
            fold_forever(self._store, period=self._every), name="counter-fold-job"
        )

    def steps(self, steps: Iterable[Update], *, now: datetime) -> list[Operation]:
        """What a write puts in its batch for these counter steps: one pending record for
        the fold (`pending_steps`)."""
        return [*pending_steps(steps, now=now)]

    def kick(self) -> None:
        """A write just committed steps (the store says so, `Store.after_insert`): fold
        within `delay`, with the steps of every write committed until then. Once closed,
        nothing: writes the store commits as it closes leave their steps pending."""
        if self._closed:
            return
        self._kicked = True
        if self._soon is None or self._soon.done():
            self._soon = asyncio.get_running_loop().create_task(
                self._fold_soon(), name="counter-fold"
            )

    async def _fold_soon(self) -> None:
        while self._kicked:
            await asyncio.sleep(self._delay)
            self._kicked = False  # a kick from here on may not be in this fold: go again
            try:
                await fold_pending(self._store)
            except Exception:
                stop_if_cancelled()
                log.exception("counter fold failed; the steps stay pending for the next one")
            stop_if_cancelled()

    async def aclose(self) -> None:
        """Stop the folds: what they would have folded stays pending, for the next process."""
        self._closed = True
        tasks = [t for t in (self._soon, self._periodic) if t is not None and not t.done()]
        self._soon = self._periodic = None
        for task in tasks:
            task.cancel()
        if tasks:
            # Not forever: a cancellation a database driver swallows must not hold shutdown.
            await asyncio.wait(tasks, timeout=5)
