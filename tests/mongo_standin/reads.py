"""Reads: ``find`` (with ``$text``), cursors and ``getMore``, ``count``, ``distinct`` and
``aggregate``, each seeing only committed data from other sessions."""

from __future__ import annotations

import random
from typing import Any

from bson.int64 import Int64

from tests.mongo_standin.protocol import CommandError, Doc
from tests.mongo_standin.store import Call, Cursor, sort_spec
from tests.mongo_standin.text import find_text
from tests.mongo_standin.transactions import TransactionCommands

DEFAULT_BATCH_SIZE = 101


def _groups_nothing(coll: Any, pipeline: list[Doc]) -> bool:
    """Whether the first `$group` of the pipeline gets no documents: mongod then answers no
    group at all, where mongomock answers one with `_id: null` (so nothing after it runs;
    `$facet` and `$unionWith` are not emulated)."""
    for position, stage in enumerate(pipeline):
        if "$group" in stage:
            return not list(coll.aggregate([*pipeline[:position], {"$limit": 1}]))
    return False


class ReadCommands(TransactionCommands):
    """Commands that read documents and the cursors that page through them."""

    # -- reads and cursors --------------------------------------------------------------

    def _cursor_reply(self, ns: str, docs: list[Doc], batch_size: Any, single: bool = False) -> Doc:
        cursor = Cursor(ns, docs)
        first = cursor.take(DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size))
        cursor_id = 0
        if not cursor.exhausted and not single:
            cursor_id = random.getrandbits(62) + 1
            self._cursors[cursor_id] = cursor
        return {"cursor": {"id": Int64(cursor_id), "ns": ns, "firstBatch": first}, "ok": 1.0}

    def cmd_find(self, call: Call) -> Doc:
        if call.opt("collation"):
            raise NotImplementedError("collation")
        limit = int(call.opt("limit", 0))
        if "$text" in call.opt("filter", {}):
            index = self._text.get((call.db, call.target))
            if index is None:
                raise CommandError(27, "text index required for $text query")
            docs = find_text(
                self._readable(call),
                index,
                call.opt("filter"),
                projection=call.opt("projection") or None,
                sort=sort_spec(call.opt("sort")),
                skip=int(call.opt("skip", 0)),
                limit=abs(limit),
            )
            single = bool(call.opt("singleBatch")) or limit < 0
            return self._cursor_reply(call.ns, docs, call.opt("batchSize"), single)
        cursor = self._readable(call).find(
            call.opt("filter", {}),
            projection=call.opt("projection") or None,
            skip=int(call.opt("skip", 0)),
            limit=abs(limit),
            sort=sort_spec(call.opt("sort")),
        )
        single = bool(call.opt("singleBatch")) or limit < 0
        return self._cursor_reply(call.ns, list(cursor), call.opt("batchSize"), single)

    def cmd_getmore(self, call: Call) -> Doc:
        cursor_id = int(call.target)
        cursor = self._cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = cursor.take(int(call.opt("batchSize", 0)) or None)
        if cursor.exhausted:
            del self._cursors[cursor_id]
            cursor_id = 0
        return {"cursor": {"id": Int64(cursor_id), "ns": cursor.ns, "nextBatch": batch}, "ok": 1.0}

    def cmd_killcursors(self, call: Call) -> Doc:
        killed: list[Int64] = []
        unknown: list[Int64] = []
        for cursor_id in call.opt("cursors", []):
            found = self._cursors.pop(int(cursor_id), None) is not None
            (killed if found else unknown).append(Int64(cursor_id))
        return {
            "cursorsKilled": killed,
            "cursorsNotFound": unknown,
            "cursorsAlive": [],
            "cursorsUnknown": [],
            "ok": 1.0,
        }

    def cmd_count(self, call: Call) -> Doc:
        options: Doc = {"skip": int(call.opt("skip", 0))}
        if call.opt("limit"):
            options["limit"] = abs(int(call.opt("limit")))
        count = self._readable(call).count_documents(call.opt("query", {}), **options)
        return {"n": count, "ok": 1.0}

    def cmd_distinct(self, call: Call) -> Doc:
        values = self._readable(call).distinct(call.cmd["key"], call.opt("query", {}))
        return {"values": list(values), "ok": 1.0}

    def cmd_aggregate(self, call: Call) -> Doc:
        if not isinstance(call.target, str):
            raise NotImplementedError("database-level aggregate")
        if call.opt("explain") or call.opt("collation"):
            raise NotImplementedError("explain/collation")
        pipeline = call.opt("pipeline", [])
        coll = self._readable(call)
        docs = [] if _groups_nothing(coll, pipeline) else list(coll.aggregate(pipeline))
        if pipeline and next(iter(pipeline[-1]), "") in ("$out", "$merge"):
            docs = []
        return self._cursor_reply(call.ns, docs, call.opt("cursor", {}).get("batchSize"))
