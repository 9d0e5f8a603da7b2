"""How documents, filters and operations become SQL: no threads, no state.

Every document is a row `(id, doc)` of a rowid table, with `doc` as JSON; indexes are
expression indexes on `json_extract(doc, '$.field')`, and filters are translated to the
same expressions so the planner uses them.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from core.storage.port import (
    RANGE_OPERATORS,
    CollectionSpec,
    Delete,
    Document,
    DuplicateKey,
    Filter,
    Index,
    Insert,
    Operation,
    PreconditionFailed,
    StorageError,
    Update,
    check_field,
)

_SQL_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def encode_datetime(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order in indexes and comparisons."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"  # strftime: half as fast


def create_table_sql(collection: str) -> str:
    """The table of one collection; `load/inprocess/bench_reports.py` bulk-loads the same
    layout."""
    # A rowid table, not WITHOUT ROWID: documents are ≈ 1 KB, and a WITHOUT ROWID
    # table keeps whole rows in its primary-key B-tree, so inserts under random keys
    # (keyed hashes) split leaves of big rows all over the file. A rowid table
    # appends rows at its right edge and keeps the ids in a small separate index:
    # 45% fewer bytes written per declaration, the disk's work at every commit and
    # checkpoint (BENCHMARKS.md, "Rowid tables"). Files created before keep their
    # WITHOUT ROWID tables, which work the same.
    return f'CREATE TABLE IF NOT EXISTS "{collection}" (id TEXT PRIMARY KEY, doc TEXT NOT NULL)'


def _declared_indexes(spec: CollectionSpec) -> list[Index]:
    indexes = list(spec.indexes)
    if spec.expires_field:
        indexes.append(Index((spec.expires_field,)))
    return indexes


def _index_prefix(collection: str) -> str:
    return "ix_" + collection + "_"


def index_name(collection: str, index: Index) -> str:
    """`ix_<collection>_<fields>` (`Index.name`): the name of every index the adapter
    creates."""
    return _index_prefix(collection) + index.name


def create_indexes_sql(spec: CollectionSpec) -> list[str]:
    """The expression indexes of one collection, the expiry field's among them. A partial
    one (`Index.only_with`) says `json_extract(…) IS NOT NULL` in its WHERE: the planner
    uses it for a query with `json_extract(…) = ?`, `IN` or a range on the same expression
    (`where` writes exactly that), which implies it."""
    statements = []
    for index in _declared_indexes(spec):
        name = index_name(spec.name, index)
        columns = ", ".join(expr(f) for f in index.fields)
        kind = "UNIQUE INDEX" if index.unique else "INDEX"
        sql = f'CREATE {kind} IF NOT EXISTS "{name}" ON "{spec.name}" ({columns})'
        if index.only_with is not None:
            sql += f" WHERE {expr(index.only_with)} IS NOT NULL"
        statements.append(sql)
    return statements


def retired_indexes(conn: sqlite3.Connection, spec: CollectionSpec) -> list[str]:
    """The indexes of the collection's table named as `create_indexes_sql` names its own
    but no longer declared (an older version's). SQLite's own (`sqlite_autoindex_…`), an
    index named otherwise (an operator's) and the text index's FTS5 tables, which index
    tables of their own (`core.storage.sqlite.text`), are not among them."""
    declared = {index_name(spec.name, index) for index in _declared_indexes(spec)}
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name",
        (spec.name,),
    ).fetchall()
    prefix = _index_prefix(spec.name)
    return [name for (name,) in rows if name.startswith(prefix) and name not in declared]


def changed_indexes(conn: sqlite3.Connection, spec: CollectionSpec) -> list[tuple[str, str, bool]]:
    """(name, CREATE statement as declared now, declared uniqueness) of each declared index
    that exists under its name with the other uniqueness: `CREATE … IF NOT EXISTS` would
    keep it as it is. (Its fields and `only_with` are in its name, so only uniqueness can
    differ.)"""
    built = {
        str(row[1]): bool(row[2])
        for row in conn.execute("SELECT * FROM pragma_index_list(?)", (spec.name,))
    }
    declared = zip(_declared_indexes(spec), create_indexes_sql(spec), strict=True)
    return [
        (name, sql, index.unique)
        for index, sql in declared
        if (name := index_name(spec.name, index)) in built and built[name] != index.unique
    ]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return encode_datetime(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def decode(raw: str, datetime_fields: frozenset[str]) -> Document:
    return decode_fields(orjson.loads(raw), datetime_fields)


def decode_fields(document: Document, datetime_fields: frozenset[str]) -> Document:
    """The datetimes among a document's top-level fields, stored as text, read back."""
    for name in datetime_fields:
        value = document.get(name)
        if isinstance(value, str):
            document[name] = datetime.fromisoformat(value)
    return document


def _param(value: Any) -> Any:
    """A filter value as SQLite compares it with json_extract's result."""
    if isinstance(value, datetime):
        return encode_datetime(value)
    if isinstance(value, bool):
        return int(value)
    return value


# Field names come from code, so a few hundred distinct ones at most: each is checked and
# turned into SQL once per process instead of once per write.
@functools.lru_cache(maxsize=4096)
def _path(name: str) -> str:
    return "$." + check_field(name)


@functools.lru_cache(maxsize=4096)
def expr(name: str) -> str:
    return "id" if name == "_id" else f"json_extract(doc, '{_path(name)}')"


def where(condition: Filter) -> tuple[str, list[Any]]:
    """A filter as a WHERE clause and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for name, wanted in condition.items():
        column = expr(name)
        if isinstance(wanted, Mapping):
            for operator, value in wanted.items():
                if operator == "$in":
                    values = list(value)
                    if not values:
                        clauses.append("0")
                        continue
                    clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                    params.extend(_param(v) for v in values)
                elif operator == "$ne":
                    clauses.append(f"({column} IS NULL OR {column} != ?)")
                    params.append(_param(value))
                elif operator in RANGE_OPERATORS:
                    clauses.append(f"{column} {_SQL_RANGE[operator]} ?")
                    params.append(_param(value))
                else:
                    raise StorageError(f"unsupported operator {operator!r}")
        elif wanted is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"{column} = ?")
            params.append(_param(wanted))
    return (" AND ".join(clauses) or "1"), params


_AS_THEY_ARE = (str, int, float)  # exactly these types: not bool, not enums


def _json_values(values: Iterable[Any]) -> tuple[tuple[bool, ...], list[Any]]:
    """Values for json_set: whether SQL must parse each with json(), and the parameters.
    Text, numbers and null bind as they are; one orjson call per value was a third of a
    declaration's update. One loop, no call per value: a person's update sets about twenty
    fields."""
    parsed: list[bool] = []
    params: list[Any] = []
    for value in values:
        if value is None or type(value) in _AS_THEY_ARE:
            parsed.append(False)
            params.append(value)
        elif isinstance(value, datetime):
            parsed.append(False)
            params.append(encode_datetime(value))
        else:  # booleans, lists, objects
            parsed.append(True)
            params.append(dumps(value))
    return tuple(parsed), params


@functools.lru_cache(maxsize=1024)
def _set_clause(
    table: str, names: tuple[str, ...], parsed: tuple[bool, ...], incs: tuple[str, ...]
) -> str:
    setters = [
        f"'{_path(name)}', {'json(?)' if as_json else '?'}"
        for name, as_json in zip(names, parsed, strict=True)
    ]
    setters += [f"'{_path(n)}', coalesce(json_extract(doc, '{_path(n)}'), 0) + ?" for n in incs]
    return f"UPDATE {table} SET doc = json_set(doc, {', '.join(setters)})"


def _nested(flat: Mapping[str, Any]) -> Document:
    """{"a.b": 1} -> {"a": {"b": 1}}, as MongoDB builds a document on upsert."""
    out: Document = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def apply(conn: sqlite3.Connection, op: Operation) -> int:
    """One operation inside the caller's transaction; the matched/affected count."""
    table = f'"{op.collection}"'
    if isinstance(op, Insert):
        try:
            conn.execute(
                f"INSERT INTO {table} (id, doc) VALUES (?, ?)",
                (op.document["_id"], dumps(op.document)),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(op.collection) from exc
        return 1
    if isinstance(op, Delete):
        clause, params = where(op.where)
        return conn.execute(f"DELETE FROM {table} WHERE {clause}", params).rowcount
    return _update(conn, table, op)


def _update(conn: sqlite3.Connection, table: str, op: Update) -> int:
    clause, where_params = where({"_id": op.id, **op.when})
    try:
        matched = 0
        if op.set or op.inc:
            parsed, params = _json_values(op.set.values())
            head = _set_clause(table, tuple(op.set), parsed, tuple(op.inc))
            params += [*op.inc.values(), *where_params]
            matched = conn.execute(f"{head} WHERE {clause}", params).rowcount
        else:
            sql = f"SELECT count(*) FROM {table} WHERE {clause}"
            matched = conn.execute(sql, where_params).fetchone()[0]
        if matched == 0 and op.upsert:
            document = _nested({**op.set_on_insert, **op.set, **op.inc})
            document["_id"] = op.id
            conn.execute(f"INSERT INTO {table} (id, doc) VALUES (?, ?)", (op.id, dumps(document)))
            return 1
    except sqlite3.IntegrityError as exc:
        raise DuplicateKey(op.collection) from exc
    if matched == 0 and op.must_match:
        raise PreconditionFailed(op.collection, op.id)
    return int(matched)
