"""Text search on SQLite: an FTS5 index per searchable collection, kept by triggers.

For a collection `faq` with `TextIndex(("title", "body"))` there is a contentless FTS5 table
`faq__text(f0, f1)` whose rowids are the rowids of `faq`. Triggers on `faq` insert, delete
and re-index a document's words in the statement that writes it, so the index changes in the
same transaction as the document: a rolled-back batch leaves no words behind, and no code
path (an upsert, a delete by filter, another process) can forget it.

Folding (see `core.storage.text`): the triggers turn đ/Đ into d, and the `unicode61`
tokenizer with `remove_diacritics 2` removes the other diacritics (all of Vietnamese, even
two on one letter, in precomposed or decomposed form) and lower-cases. The query is folded
by `core.storage.text.search_terms` and then goes through the same tokenizer. Plain SQL
rather than a Python function in the triggers, so that any connection, from any process or
from the sqlite3 shell, keeps the index right.

Contentless: the table keeps only the index, not a second copy of the text, so a delete
must name the words it removes; the triggers compute them from the old document with the
same expressions. The index is tied to the collection's rowids, which VACUUM keeps for
rowid tables; a collection created WITHOUT ROWID (files older than the rowid layout) cannot
carry a text index and start-up says so.

Ranking is FTS5's bm25 with the index's weights; ties go to the smaller id.
"""

from __future__ import annotations

import sqlite3

from core.storage.port import CollectionSpec, StorageError, TextIndex
from core.storage.text import search_terms


def text_table(collection: str) -> str:
    return f'"{collection}__text"'


def _folded(row: str, field: str) -> str:
    """SQL for one text field of the `new` or `old` row, with đ already folded."""
    value = f"coalesce(json_extract({row}.doc, '$.{field}'), '')"
    return f"replace(replace({value}, 'đ', 'd'), 'Đ', 'd')"


def _columns(index: TextIndex) -> str:
    # Column names of our own, f0, f1 …: a field called `id`, `doc` or `rank` must not
    # clash with the columns of the search's join.
    return ", ".join(f"f{n}" for n in range(len(index.fields)))


def create_text_index(conn: sqlite3.Connection, spec: CollectionSpec) -> None:
    """Create the FTS table and its triggers if missing (on the schema connection, in the
    writer's turn). A table created for a collection that already has documents is filled
    from them in the same transaction."""
    index = spec.text
    if index is None:
        return
    table, fts = f'"{spec.name}"', text_table(spec.name)
    found = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (spec.name,)).fetchone()
    if found and "WITHOUT ROWID" in found[0].upper():
        raise StorageError(f"{spec.name} is a WITHOUT ROWID table: it cannot have a text index")
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ?", (f"{spec.name}__text",)
    ).fetchone()
    columns = _columns(index)
    new = ", ".join(_folded("new", f) for f in index.fields)
    old = ", ".join(_folded("old", f) for f in index.fields)
    changed = " OR ".join(
        f"json_extract(old.doc, '$.{f}') IS NOT json_extract(new.doc, '$.{f}')"
        for f in index.fields
    )
    statements = [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({columns}, content='', "
        "tokenize='unicode61 remove_diacritics 2')",
        f'CREATE TRIGGER IF NOT EXISTS "{spec.name}__text_insert" AFTER INSERT ON {table} '
        f"BEGIN INSERT INTO {fts} (rowid, {columns}) VALUES (new.rowid, {new}); END",
        f'CREATE TRIGGER IF NOT EXISTS "{spec.name}__text_delete" AFTER DELETE ON {table} '
        f"BEGIN INSERT INTO {fts} ({fts}, rowid, {columns}) "
        f"VALUES ('delete', old.rowid, {old}); END",
        f'CREATE TRIGGER IF NOT EXISTS "{spec.name}__text_update" AFTER UPDATE OF doc '
        f"ON {table} WHEN {changed} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, {columns}) VALUES ('delete', old.rowid, {old}); "
        f"INSERT INTO {fts} (rowid, {columns}) VALUES (new.rowid, {new}); END",
    ]
    if not exists:
        statements.append(
            f"INSERT INTO {fts} (rowid, {columns}) SELECT rowid, "
            + ", ".join(_folded(table, f) for f in index.fields)
            + f" FROM {table}"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def match_expression(text: str) -> str | None:
    """The FTS5 query for `text`: any of its folded words, each quoted so that nothing a
    user types is read as FTS5 syntax (`NEAR`, `*`, `-`, column filters). None: no word."""
    terms = search_terms(text)
    return " OR ".join(f'"{term}"' for term in terms) if terms else None


def search_sql(spec: CollectionSpec, where_clause: str) -> str:
    """Parameters: the match expression, the filter's parameters, the limit. `where_clause`
    is the adapter's filter SQL over the collection's `doc` and `id` columns."""
    assert spec.text is not None
    fts = text_table(spec.name)
    weights = ", ".join(str(spec.text.weight(n)) for n in range(len(spec.text.fields)))
    return (
        f'SELECT "{spec.name}".doc FROM {fts} JOIN "{spec.name}" '
        f'ON "{spec.name}".rowid = {fts}.rowid '
        f"WHERE {fts} MATCH ? AND ({where_clause}) "
        f'ORDER BY bm25({fts}, {weights}), "{spec.name}".id LIMIT ?'
    )
