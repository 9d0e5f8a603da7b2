"""The storage port: a small document-store contract that SQLite and MongoDB both implement.

Domain repositories are written once against this contract. It is deliberately narrow:

* Reads: `get`, `find_one`, `find`, `count` with a filter of equality, `$in`, `$ne`, and
  range operators (`$gt`, `$gte`, `$lt`, `$lte`) on top-level or dotted fields. Arrays
  are not matched element-wise: store what you query as scalars.
* Sums: `totals` adds up a numeric field per group of documents in the database, so a
  report reads one row per group instead of every document.
* Text search: `search` ranks the documents of a collection that declares a `TextIndex`
  by relevance to some words, with a filter on other fields (see `core.storage.text`).
* Writes: `write(ops)` applies a list of operations atomically, all or none. There are no
  reads inside a write; a conditional write is an `Update` with `when` and `must_match`,
  and uniqueness is a unique index (a clash raises `DuplicateKey` naming the collection).
* After a commit: `after_insert` names a callback the store calls once a batch that
  inserted into a collection has committed, whoever wrote the batch.

Atomic batches are what make the service's guarantees simple: a declaration, its
idempotency record, its counter steps and its outbox notification land together or not at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.settings import Settings

Document = dict[str, Any]
Filter = Mapping[str, Any]

log = logging.getLogger(__name__)

FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$")
RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")


class StorageError(Exception):
    """Base of what the storage layer raises on purpose."""


class DuplicateKey(StorageError):
    def __init__(self, collection: str) -> None:
        super().__init__(f"duplicate key in {collection}")
        self.collection = collection


class PreconditionFailed(StorageError):
    """An `Update(must_match=True)` matched nothing: the batch was rolled back."""

    def __init__(self, collection: str, document_id: str) -> None:
        super().__init__(f"precondition failed on {collection}/{document_id}")
        self.collection = collection
        self.document_id = document_id


class StorageDown(StorageError):
    """The database cannot answer now (read-only, disk full, unreachable, a timeout)."""


class SchemaMissing(StorageError):
    """The database lacks collections or indexes: `khaibao db migrate` has not run."""

    def __init__(self, missing: Sequence[str]) -> None:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        super().__init__(
            f"the database is not migrated (run `khaibao db migrate`): missing {shown}"
        )
        self.missing = list(missing)


class DatabaseDirectoryMissing(StorageError):
    """A SQLite URL names a file in a directory that does not exist: most likely a typo,
    which would otherwise become a new, empty database."""

    def __init__(self, directory: str) -> None:
        super().__init__(
            f"KHAIBAO_DATABASE_URL: the directory {directory} does not exist; create it, or "
            "run `khaibao db migrate`, if a new database is meant there"
        )


@dataclass(frozen=True)
class Index:
    """An index over `fields`, in that order; `unique` refuses two documents with the same
    values in all of them.

    `only_with` names one of those fields, a top-level one: the index then holds only the
    documents that have it (a partial index), so a write to a document without it skips the
    index altogether. That pays where most documents of a busy collection lack the field:
    only checkpoint counters have a `checkpoint_id`, so the counters a declaration writes
    stay out of the index by checkpoint. Such an index serves only a query that names the
    field with an equality to a value or a range (`$in` of values counts), since only that
    query cannot want a document without it; SQLite's planner and MongoDB's both pass it over
    for any other. A document holding the field as null is in MongoDB's index
    (`$exists`) but not in SQLite's (`IS NOT NULL`): a query for null must not need it.
    The adapters name it apart from the full index over the same fields (`name`), so
    `khaibao db migrate` creates it beside the full one and names that one retired.
    """

    fields: tuple[str, ...]
    unique: bool = False
    only_with: str | None = None

    def __post_init__(self) -> None:
        if self.only_with is None:
            return
        if "." in check_field(self.only_with) or self.only_with == "_id":
            raise ValueError(f"only_with is a top-level field other than _id: {self.only_with!r}")
        if self.only_with not in self.fields:
            raise ValueError(f"only_with {self.only_with!r} is not a field of {self.fields}")

    @property
    def name(self) -> str:
        """What the adapters call it, after their prefix: `kind_checkpoint_id_day`, and for
        a partial index `kind_checkpoint_id_day_with_checkpoint_id`."""
        name = "_".join(f.replace(".", "_") for f in self.fields)
        return f"{name}_with_{self.only_with}" if self.only_with else name


@dataclass(frozen=True)
class TextIndex:
    """Top-level text fields that `Store.search` looks in, each with a weight: a word in a
    field of weight 3 counts about three times as much as in a field of weight 1."""

    fields: tuple[str, ...]
    weights: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.fields or len(set(self.fields)) != len(self.fields):
            raise ValueError("a text index needs distinct fields")
        if self.weights and (len(self.weights) != len(self.fields) or min(self.weights) < 1):
            raise ValueError("one positive weight per text field")
        for name in self.fields:
            if "." in check_field(name) or name.startswith("_"):
                raise ValueError(f"text fields are top-level names: {name!r}")

    def weight(self, position: int) -> int:
        return self.weights[position] if self.weights else 1


@dataclass(frozen=True)
class CollectionSpec:
    """A collection's name, indexes and which top-level fields hold datetimes.

    `expires_field` names a datetime field; documents whose value has passed are deleted
    (a TTL index on MongoDB, a periodic purge on SQLite). `text` makes the collection
    searchable with `Store.search`.

    `shard_key` is the field a sharded cluster hashes to place documents (docs/shard-plan.md);
    None keeps a small collection unsharded. A cluster keeps a unique index unique only when
    it starts with the shard key, so a sharded collection has none besides `_id` itself:
    uniqueness comes from deriving `_id` from what must be unique.
    """

    name: str
    indexes: tuple[Index, ...] = ()
    datetime_fields: frozenset[str] = frozenset()
    expires_field: str | None = None
    text: TextIndex | None = None
    shard_key: str | None = "_id"

    def __post_init__(self) -> None:
        names = [f for index in self.indexes for f in index.fields]
        if self.expires_field:
            names.append(self.expires_field)
        for name in names:
            check_field(name)

    def unshardable(self) -> list[str]:
        """Why a sharded cluster could not hold this collection as declared: a unique index
        that does not start with the shard key cannot be created there."""
        return [
            f"{self.name}: unique index {index.fields} does not start with the shard key "
            f"{self.shard_key!r}"
            for index in self.indexes
            if index.unique and self.shard_key is not None and index.fields[0] != self.shard_key
        ]


@dataclass(frozen=True)
class DataStep:
    """A change to documents an older version stored, made by `khaibao db migrate` once the
    collections and indexes are there: what the service now writes into every new document
    but an older one lacks (questions' `expires_at`).

    Nothing records that a step ran, as nothing records which indexes were made: like the
    schema half, a step converges. `run(store, settings)` finds the documents it has yet to
    change by a filter, changes only those (each `Update` conditional on that filter still
    holding, so a service writing at the same time wins), and returns how many it changed;
    running migrate again finds none and changes nothing. Through the port, so one step
    serves both adapters."""

    name: str  # what it brings up to date, for migrate's line: "questions without expires_at"
    run: Callable[[Store, Settings], Awaitable[int]]


# Operations are values: built, handed to `Store.write`, never changed. They are not frozen
# dataclasses because a frozen one's __init__ sets each field through object.__setattr__,
# and a declaration builds about ten of them: 1.6 % of its instructions (callgrind, 512
# declarations over HTTP, 2.86M -> 2.81M per request).
@dataclass(slots=True)
class Insert:
    collection: str
    document: Document


@dataclass(slots=True)
class Update:
    """Set and increment fields of the document with `_id == id`.

    `when` adds equality conditions (compare-and-set). With `upsert`, a missing document is
    created from `id`, `set_on_insert`, `set` and `inc`. With `must_match`, matching nothing
    rolls the whole batch back with `PreconditionFailed`.
    """

    collection: str
    id: str
    set: Mapping[str, Any] = field(default_factory=dict)
    inc: Mapping[str, int | float] = field(default_factory=dict)
    set_on_insert: Mapping[str, Any] = field(default_factory=dict)
    when: Mapping[str, Any] = field(default_factory=dict)
    upsert: bool = False
    must_match: bool = False


@dataclass(slots=True)
class Delete:
    collection: str
    where: Filter


Operation = Insert | Update | Delete


class Store(Protocol):
    """What every adapter provides. Results of `write` are the matched/affected counts.

    `migrate` creates collections and indexes (once per deployment: `khaibao db migrate`);
    `start` checks they exist and raises `SchemaMissing` naming what is not (SQLite creates
    them there: on one file it is as cheap as checking). `migrate` also names each retired
    index (`retired_index`) and each index whose uniqueness differs from its declaration
    under the same name (`changed_index`) and, with `drop_retired`, drops the first and
    builds the second again as declared; `start` never does, since during a rolling
    deployment a process of the older version may still read through them.
    `expires_by_itself`: the database deletes expired documents on its own (MongoDB's TTL
    monitor), so no purge loop runs.
    `serialises_writes`: one transaction commits at a time (SQLite's one writer), so two
    writes can never conflict on a document and a hot one costs nothing to share."""

    expires_by_itself: bool
    serialises_writes: bool

    async def migrate(
        self, specs: Sequence[CollectionSpec], *, drop_retired: bool = False
    ) -> list[str]: ...

    async def start(self, specs: Sequence[CollectionSpec]) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def get(self, collection: str, document_id: str) -> Document | None: ...

    async def find_one(self, collection: str, where: Filter) -> Document | None: ...

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
    ) -> list[Document]: ...

    async def count(self, collection: str, where: Filter) -> int: ...

    async def totals(
        self, collection: str, where: Filter, *, by: Sequence[str], sum_of: str
    ) -> list[Document]:
        """The sum of the numeric field `sum_of` over the documents matching `where`, one
        document per distinct combination of the `by` fields: `{by fields..., sum_of: total}`,
        in no particular order (a document without `sum_of` adds 0). Group by fields holding
        text or numbers; a missing field groups as None. A group of no documents is absent;
        with `by` empty, one grand total when anything matched. Added up by the database
        (`GROUP BY`, `$group`): one row per group crosses to the service."""
        ...

    async def search(
        self, collection: str, text: str, where: Filter | None = None, *, limit: int = 20
    ) -> list[Document]:
        """The documents of `collection` (which has a `TextIndex`) matching `where` whose
        text fields hold at least one word of `text`, most relevant first, at most `limit`.
        Words are compared folded (`core.storage.text.fold`: no diacritics, đ as d, lower
        case) and whole: `khai bao` finds "Khai báo", `kha` does not. Relevance weighs
        how many of the words a document holds, in which fields, and how short the field
        is; the exact scores differ between adapters. A text without any word finds
        nothing."""
        ...

    async def write(self, ops: Sequence[Operation]) -> list[int]: ...

    def after_insert(self, collection: str, callback: Callable[[], None]) -> None:
        """From now on, call `callback()` after each committed batch that inserted into
        `collection` (an `Insert`), on the event loop, once the commit is as durable as
        `write` acknowledges it and before that `write` returns. Batches committed together
        may share one call; a batch that failed (a duplicate key, a precondition, an
        outage) makes none. The callback runs inside the store's commit path: it must be
        quick, and work that takes long is a task it starts. An exception it raises is
        logged, not passed on."""
        ...

    async def purge_expired(self, now: datetime) -> int: ...


class InsertHooks:
    """What `Store.after_insert` registered, for an adapter to call after its commits."""

    __slots__ = ("_by_collection",)

    def __init__(self) -> None:
        self._by_collection: dict[str, list[Callable[[], None]]] = {}

    def add(self, collection: str, callback: Callable[[], None]) -> None:
        self._by_collection.setdefault(collection, []).append(callback)

    def __bool__(self) -> bool:
        return bool(self._by_collection)

    def committed(self, batches: Iterable[Sequence[Operation]]) -> None:
        """These batches committed: call, once per collection, the callbacks of each
        collection they inserted into. Runs on every committed write when anything is
        registered: a dictionary lookup per operation, nothing more when none matches."""
        hooks = self._by_collection
        inserted = {
            op.collection
            for ops in batches
            for op in ops
            if op.collection in hooks and isinstance(op, Insert)
        }
        for collection in inserted:
            for callback in hooks[collection]:
                try:
                    callback()
                except Exception:  # the commit stands; its writers must get their answer
                    log.exception("after-insert callback for %s failed", collection)


def changed_index(collection: str, name: str, *, unique: bool, rebuilt: bool) -> str:
    """`khaibao db migrate`'s line for an index the adapter made under the name it still
    declares, but unique where the declaration no longer is, or the other way round.
    Creating "if not exists" would keep the old one silently: a uniqueness the code now
    relies on would not be enforced."""
    declared = "unique" if unique else "not unique"
    if rebuilt:
        return f"rebuilt index {collection}.{name} as declared ({declared})"
    return (
        f"changed index {collection}.{name}: declared {declared} but built otherwise; "
        "rebuild it with `khaibao db migrate --drop-retired` once no process of an older "
        "version runs"
    )


def retired_index(collection: str, name: str, *, dropped: bool) -> str:
    """`khaibao db migrate`'s line for an index of `collection` named as the adapter names
    the indexes it creates but that no spec declares any more: what an older version made
    (issue 26). It costs every write and serves no read of this version, but a process of
    the older version may still use it, so it goes only when the operator says so."""
    if dropped:
        return f"dropped retired index {collection}.{name}"
    return (
        f"retired index {collection}.{name}: no longer declared; drop it with "
        "`khaibao db migrate --drop-retired` once no process of an older version runs"
    )


def check_field(name: str) -> str:
    """Field names come from code, never from users; this guards that rule."""
    if not FIELD_NAME.match(name):
        raise ValueError(f"invalid field name {name!r}")
    return name
