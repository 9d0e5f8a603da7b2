"""Every query a repository makes is served by an index it declares (issue 26, finding 8).

Each `async def f(store: Store, ...)` of every `*/repository.py` is called with arguments
made from its annotations (every value of a Literal, with and without optional ones) against
a store that records the shape of each read: equality fields, range fields and sort. A shape
is served when an index of the collection (its expiry field's among them) starts with its
equality fields (any order) and continues with its sort, or starts with its range or sort
field; a read by `_id` always is. A partial index (`Index.only_with`) serves only a shape
that cannot want a document without its field: an equality to a value, `$in` of values or a
range on it.
A collection small enough to read whole is named below with its reason.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.storage import CollectionSpec, Delete, Document, Filter, Index, Store
from core.storage.sqlite import SqliteStore
from runtime.collections import COLLECTIONS

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
RANGE = {"$gt", "$gte", "$lt", "$lte"}

# Collections a query may read without an index: a handful of documents, read whole.
SMALL = {
    "signing_keys": "a few keys, read whole into the key cache",
    "checkpoints": "checkpoint names of a report page, by _id $in",
    "entry_points": "border points an administrator added: dozens, read whole",
    "trust_dcc_signers": "EU DCC signer certificates: hundreds, read whole into the verifier",
    "trust_dcc_revocations": "EU DCC revocation lists: up to three per signer, read whole "
    "into the verifier once per trust-list version",
    "trust_dcc_cscas": "EU DCC Country Signing CAs: a few per country, read whole for the "
    "chain rule when a signer is added or a bundle is loaded",
    "trust_shc_issuers": "SMART Health Card issuers: dozens, read whole into the verifier",
}

# Queries of a `khaibao db migrate` data step: run once per upgrade, in pages, over what an
# older version stored. An index for one would cost every write of the collection forever.
ONE_OFF = {
    "monitoring.repository.arrivals_with_older_contact": "arrivals handed over before entry "
    "added the traveller's contact as it is now (db migrate, entry/handover.py)",
}


@dataclass(frozen=True)
class Shape:
    collection: str
    equal: frozenset[str]
    ranges: frozenset[str]
    sort: tuple[str, ...]
    source: str
    present: frozenset[str] = frozenset()  # fields a matching document must have (not null)

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.collection} equal={sorted(self.equal)} "
            f"range={sorted(self.ranges)} sort={list(self.sort)}"
        )


def shape_of(
    collection: str, where: Filter, sort: Sequence[tuple[str, int]] = (), source: str = ""
) -> Shape:
    """The shape of one read: which fields it asks equal, in a range, sorted by, and which
    a document it finds must have (an equality to a value, `$in` of values, a range)."""
    equal, ranges, present = set(), set(), set()
    for name, condition in where.items():
        if isinstance(condition, Mapping):
            operators = set(condition)
            if "$in" in operators:
                equal.add(name)
                if None not in condition["$in"]:
                    present.add(name)
            if operators & RANGE:
                ranges.add(name)
                present.add(name)
        else:
            equal.add(name)
            if condition is not None:
                present.add(name)
    fields = tuple(name for name, _ in sort)
    return Shape(
        collection, frozenset(equal), frozenset(ranges), fields, source, frozenset(present)
    )


class RecordingStore:
    """A real store that notes the shape of every read."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.source = ""
        self.shapes: list[Shape] = []

    def _note(self, collection: str, where: Filter, sort: Sequence[tuple[str, int]] = ()) -> None:
        self.shapes.append(shape_of(collection, where, sort, self.source))

    async def get(self, collection: str, document_id: str) -> Document | None:
        return await self.store.get(collection, document_id)

    async def find_one(self, collection: str, where: Filter) -> Document | None:
        self._note(collection, where)
        return await self.store.find_one(collection, where)

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
    ) -> list[Document]:
        self._note(collection, where, sort)
        return await self.store.find(collection, where, sort=sort, limit=limit)

    async def count(self, collection: str, where: Filter) -> int:
        self._note(collection, where)
        return await self.store.count(collection, where)

    async def totals(
        self, collection: str, where: Filter, *, by: Sequence[str], sum_of: str
    ) -> list[Document]:
        self._note(collection, where)
        return await self.store.totals(collection, where, by=by, sum_of=sum_of)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def served(shape: Shape, spec: CollectionSpec) -> bool:
    if "_id" in shape.equal:
        return True
    sort = [name for name in shape.sort if name not in shape.equal]
    # The expiry field is indexed too: MongoDB's TTL index, SQLite's for the purge.
    expiry = (Index((spec.expires_field,)),) if spec.expires_field else ()
    for index in (*spec.indexes, *expiry):
        if index.only_with is not None and index.only_with not in shape.present:
            continue  # it may lack documents the query wants: no planner uses it
        fields = list(index.fields)
        prefix = 0
        while prefix < len(fields) and fields[prefix] in shape.equal:
            prefix += 1
        if prefix == 0:
            first = fields[0]
            if (first in shape.ranges or sort[:1] == [first]) and not shape.equal - set(fields):
                return True
            continue
        if sort and fields[prefix : prefix + len(sort)] != sort:
            continue
        return True
    return False


def _values(hint: Any) -> list[Any]:
    """Arguments worth trying for one annotation."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return list(typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        values: list[Any] = []
        for arg in typing.get_args(hint):
            values += [None] if arg is type(None) else _values(arg)[:1]
        return values
    if hint is str:
        return ["x"]
    if hint is int:
        return [5]
    if hint is datetime:
        return [NOW]
    if hint is date:
        return [NOW.date()]
    if hint is timedelta:
        return [timedelta(hours=1)]
    if origin in (Sequence, Iterable, list, tuple, typing.Sequence, typing.Iterable):
        inner = typing.get_args(hint)
        if inner and inner[0] in (str, int):
            return [[_values(inner[0])[0]]]
    raise LookupError(f"no sample for {hint!r}")


def _calls(fn: Any) -> list[dict[str, Any]]:
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "store"]
    hints.pop("return", None)
    calls: list[dict[str, Any]] = [{}]
    for param in params:
        try:
            options = _values(hints[param.name])
        except LookupError:
            if param.default is not inspect.Parameter.empty:
                continue
            raise
        calls = [{**call, param.name: value} for call in calls for value in options]
    return calls


# Shared plumbing that keeps a collection of its own, queried like a repository.
PLUMBING = ("core.idempotency",)


def repository_queries() -> list[tuple[str, Any]]:
    """Reads (`async def f(store, ...)`) and deletes by filter (`def f(...) -> Delete`)."""
    found = []
    modules = [f"{path.parent.name}.repository" for path in sorted(ROOT.glob("*/repository.py"))]
    for module in map(importlib.import_module, [*modules, *PLUMBING]):
        for name, fn in vars(module).items():
            if not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            params = list(inspect.signature(fn).parameters)
            reads = inspect.iscoroutinefunction(fn) and params[:1] == ["store"]
            deletes = typing.get_type_hints(fn).get("return") is Delete
            if reads or deletes:
                found.append((f"{module.__name__}.{name}", fn))
    return found


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> list[Shape]:
    return asyncio.run(_record(tmp_path_factory.mktemp("shapes")))


async def _record(directory: Path) -> list[Shape]:
    store = SqliteStore(directory / "k.sqlite3")
    await store.start(COLLECTIONS)
    recording = RecordingStore(store)
    try:
        for source, fn in repository_queries():
            try:
                calls = _calls(fn)
            except LookupError:
                continue  # takes documents: a write, not a query shape
            recording.source = source
            for kwargs in calls:
                if not inspect.iscoroutinefunction(fn):
                    delete = fn(**kwargs)
                    recording._note(delete.collection, delete.where)
                    continue
                try:
                    await fn(recording, **kwargs)
                except Exception:  # noqa: S112 (a precondition on an empty store; the shape is noted)
                    continue
    finally:
        await store.close()
    assert len(recording.shapes) > 20  # the test reached the queries
    return recording.shapes


def test_every_repository_query_is_served_by_an_index(shapes: list[Shape]) -> None:
    specs = {spec.name: spec for spec in COLLECTIONS}
    unserved = {
        str(shape)
        for shape in shapes
        if shape.collection not in SMALL
        and shape.source not in ONE_OFF
        and not served(shape, specs[shape.collection])
    }
    assert sorted(unserved) == [], "\n".join(sorted(unserved))


# Collections whose every read is a repository function the harness calls. Elsewhere some
# filters sit in functions that take documents (a person's erasure deletes refresh tokens by
# subject), so an index there may serve a query the harness never sees.
EVERY_READ_REACHED = ("audit_log", "checkins", "scans", "report_counters")


@pytest.mark.parametrize("collection", EVERY_READ_REACHED)
def test_every_index_serves_a_query(shapes: list[Shape], collection: str) -> None:
    """An index no query uses costs every write and serves nobody (the audit log's by user
    and by report did)."""
    spec = next(spec for spec in COLLECTIONS if spec.name == collection)
    unused = [
        index.fields
        for index in spec.indexes
        if not any(
            shape.collection == collection and served(shape, _only(spec, index)) for shape in shapes
        )
    ]
    assert unused == []


def _only(spec: CollectionSpec, index: Index) -> CollectionSpec:
    return CollectionSpec(spec.name, indexes=(index,), shard_key=spec.shard_key)


def test_a_partial_index_serves_only_a_query_that_names_its_field() -> None:
    """A partial index (`Index.only_with`) lacks the documents without its field, so no
    planner uses it for a query that could want them: the (kind, checkpoint_id, day) index
    of the counters serves a report of one checkpoint, not one of all counters of a kind."""
    partial = Index(("kind", "checkpoint_id", "day"), only_with="checkpoint_id")
    spec = CollectionSpec("report_counters", indexes=(partial,))
    days = {"$gte": "2026-12-01", "$lte": "2026-12-06"}

    def reads(where: Filter) -> bool:
        return served(shape_of("report_counters", where), spec)

    assert reads({"kind": "checkpoints", "checkpoint_id": "cp1", "day": days})
    assert reads({"kind": "checkpoints", "checkpoint_id": {"$in": ["cp1", "cp2"]}})
    assert reads({"kind": "checkpoints", "checkpoint_id": {"$gt": "cp"}})
    assert not reads({"kind": "checkpoints", "day": days})
    # Null, or $in with null: it wants the documents the index lacks.
    assert not reads({"kind": "checkpoints", "checkpoint_id": None})
    assert not reads({"kind": "checkpoints", "checkpoint_id": {"$in": ["cp1", None]}})
    full = CollectionSpec("report_counters", indexes=(Index(partial.fields),))
    assert served(shape_of("report_counters", {"kind": "checkpoints", "day": days}), full)
