"""SQLite adapter: the embedded default. One file, WAL, durable commits, group commit.

Read it in this order: `store` (the `Store` contract, connections, schema), `statements`
(documents and filters as SQL), `writer` (group commit: one transaction and one fsync for
many requests), `readers` (reader threads, and which reads stay on the event loop),
`checkpointer` (the WAL copied back beside the commits), `filelock` (several processes
on one file, `khaibao serve --workers 4`, take turns writing) and `text` (the FTS5 index
behind `Store.search`).

Three kinds of thread: the event loop applies groups of writes and answers lookups; the
commit thread runs each group's COMMIT (the fsync); the checkpoint thread copies the WAL
back. Reader threads run longer reads.
"""

from core.storage.sqlite.filelock import FileLock
from core.storage.sqlite.statements import create_table_sql, encode_datetime
from core.storage.sqlite.store import SqliteStore

__all__ = ["FileLock", "SqliteStore", "create_table_sql", "encode_datetime"]
