"""Writes: ``insert``, ``update``, ``delete``, ``findAndModify`` and client-level
``bulkWrite``, each recorded for rollback when it runs inside a transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from bson.int64 import Int64

from tests.mongo_standin.namespaces import NamespaceCommands
from tests.mongo_standin.protocol import CODE_NAMES, TRANSIENT, CommandError, Doc, error_info
from tests.mongo_standin.store import Call, sort_spec


def _apply_update(
    coll: Any, query: Doc, update: Any, *, multi: bool, upsert: bool, array_filters: Any = None
) -> Any:
    """Run one update statement through mongomock; returns a pymongo ``UpdateResult``."""
    if not (isinstance(update, list) or any(str(k).startswith("$") for k in update)):
        if multi:
            raise CommandError(9, "multi update is not supported for replacement-style update")
        return coll.replace_one(query, update, upsert=upsert)
    extra: Doc = {"array_filters": array_filters} if array_filters else {}
    method = coll.update_many if multi else coll.update_one
    return method(query, update, upsert=upsert, **extra)


class WriteCommands(NamespaceCommands):
    """Commands that change documents; each statement's failure is its own writeError."""

    # -- writes -------------------------------------------------------------------------

    @staticmethod
    def _statements(call: Call, key: str, apply: Callable[[int, Doc], None]) -> Doc:
        """Run a write command's statements, collecting per-statement ``writeErrors``."""
        errors: list[Doc] = []
        for index, statement in enumerate(call.opt(key, [])):
            try:
                apply(index, statement)
            except Exception as exc:
                if isinstance(exc, CommandError) and exc.labels:
                    raise  # transaction-level failures are command errors on mongod too
                code, message = error_info(exc)
                errors.append({"index": index, "code": code, "errmsg": message})
            if errors and call.opt("ordered", True):
                break
        return {"writeErrors": errors} if errors else {}

    def cmd_insert(self, call: Call) -> Doc:
        self._check_namespace_in_transaction(call)
        coll, counts = self._coll(call), {"n": 0}

        def insert(index: int, doc: Doc) -> None:
            self._check_uncommitted_clash(call, coll, doc)
            inserted_id = coll.insert_one(doc).inserted_id
            counts["n"] += 1
            self._record(call, "remove", [inserted_id])

        errors = self._statements(call, "documents", insert)
        return {**counts, **errors, "ok": 1.0}

    def cmd_update(self, call: Call) -> Doc:
        self._check_namespace_in_transaction(call)
        coll, counts, upserted = self._coll(call), {"n": 0, "nModified": 0}, []

        def update(index: int, spec: Doc) -> None:
            query, multi = spec.get("q") or {}, bool(spec.get("multi"))
            if spec.get("collation"):
                raise NotImplementedError("collation")
            self._check_targetable(call, query, multi=multi, upsert=bool(spec.get("upsert")))
            plain_id = query.get("_id")
            if (
                call.txn is not None
                and plain_id is not None
                and not isinstance(plain_id, dict)
                and self._held_by_another(call, plain_id)
            ):
                message = "WriteConflict error: this operation conflicted with another operation."
                raise CommandError(112, message, TRANSIENT)
            priors: list[Doc] = []
            if call.txn is not None:
                found = list(coll.find(query)) if multi else [coll.find_one(query)]
                priors = [doc for doc in found if doc]
                if any(self._held_by_another(call, doc["_id"]) for doc in priors):
                    message = (
                        "WriteConflict error: this operation conflicted with another operation."
                    )
                    raise CommandError(112, message, TRANSIENT)
            result = _apply_update(
                coll,
                query,
                spec["u"],
                multi=multi,
                upsert=bool(spec.get("upsert")),
                array_filters=spec.get("arrayFilters"),
            )
            # A matched document left as it was is not written, as on mongod (a no-op update
            # writes nothing, not even an oplog entry): it claims nothing, so it conflicts
            # with no other transaction.
            if result.modified_count:
                self._record(call, "restore", priors)
            if result.upserted_id is not None:
                counts["n"] += 1
                upserted.append({"index": index, "_id": result.upserted_id})
                self._record(call, "remove", [result.upserted_id])
            else:
                counts["n"] += result.matched_count
                counts["nModified"] += result.modified_count

        errors = self._statements(call, "updates", update)
        return {**counts, **({"upserted": upserted} if upserted else {}), **errors, "ok": 1.0}

    def cmd_delete(self, call: Call) -> Doc:
        self._check_namespace_in_transaction(call)
        coll, counts = self._coll(call), {"n": 0}

        def delete(index: int, spec: Doc) -> None:
            query, just_one = spec.get("q") or {}, spec.get("limit", 0) == 1
            if spec.get("collation"):
                raise NotImplementedError("collation")
            if call.txn is not None:
                priors = [coll.find_one(query)] if just_one else list(coll.find(query))
                self._record(call, "restore", [doc for doc in priors if doc])
            result = coll.delete_one(query) if just_one else coll.delete_many(query)
            counts["n"] += result.deleted_count

        errors = self._statements(call, "deletes", delete)
        return {**counts, **errors, "ok": 1.0}

    def cmd_findandmodify(self, call: Call) -> Doc:
        coll, query, fields = self._coll(call), call.opt("query", {}), call.opt("fields") or None
        update, upsert, remove = call.opt("update"), bool(call.opt("upsert")), call.opt("remove")
        if call.opt("collation"):
            raise NotImplementedError("collation")
        if remove and (update is not None or upsert or call.opt("new")):
            raise CommandError(9, "remove cannot be combined with update, upsert or new")
        if not remove and update is None:
            raise CommandError(9, "Either an update or remove=true must be specified")
        old = coll.find_one(query, sort=sort_spec(call.opt("sort")))
        value = coll.find_one({"_id": old["_id"]}, fields) if old and fields else old
        last_error: Doc = {"n": 0, "updatedExisting": False}
        target_id: Any = None
        if old is not None:
            self._record(call, "restore", [old])
            if remove:
                coll.delete_one({"_id": old["_id"]})
                return {"lastErrorObject": {"n": 1}, "value": value, "ok": 1.0}
            target_id = old["_id"]
            one = (
                {"$and": [query, {"_id": target_id}]}
                if "_id" in query
                else {**query, "_id": target_id}
            )
            _apply_update(
                coll, one, update, multi=False, upsert=False, array_filters=call.opt("arrayFilters")
            )
            last_error = {"n": 1, "updatedExisting": True}
        elif upsert:
            result = _apply_update(
                coll,
                query,
                update,
                multi=False,
                upsert=True,
                array_filters=call.opt("arrayFilters"),
            )
            target_id = result.upserted_id
            self._record(call, "remove", [target_id])
            last_error = {"n": 1, "updatedExisting": False, "upserted": target_id}
        if call.opt("new") and target_id is not None:
            value = coll.find_one({"_id": target_id}, fields)
        return {"lastErrorObject": last_error, "value": value, "ok": 1.0}

    def cmd_bulkwrite(self, call: Call) -> Doc:
        """MongoDB 8.0's client-level bulk write: operations on any namespaces in one
        command, each answered in the reply's cursor."""
        namespaces = [str(ns["ns"]) for ns in call.opt("nsInfo", [])]
        ordered, errors_only = call.opt("ordered", True), call.opt("errorsOnly", False)
        results: list[Doc] = []
        totals: Counter[str] = Counter()
        for idx, op in enumerate(call.opt("ops", [])):
            kind = next(iter(op))
            db, _, name = namespaces[int(op[kind])].partition(".")
            sub: Doc
            if kind == "insert":
                sub = {"insert": name, "documents": [op["document"]]}
            elif kind == "update":
                statement = {
                    "q": op.get("filter") or {},
                    "u": op["updateMods"],
                    "multi": bool(op.get("multi")),
                    "upsert": bool(op.get("upsert")),
                }
                sub = {"update": name, "updates": [statement]}
            elif kind == "delete":
                limit = 0 if op.get("multi") else 1
                sub = {"delete": name, "deletes": [{"q": op.get("filter") or {}, "limit": limit}]}
            else:
                raise CommandError(2, f"unknown bulkWrite operation {kind!r}")
            reply = getattr(self, "cmd_" + kind)(Call(db, kind, sub, call.txn, call.conn_id))
            if reply.get("writeErrors"):
                error = reply["writeErrors"][0]
                totals["nErrors"] += 1
                code = int(error["code"])
                codename = CODE_NAMES.get(code, "UnknownError")
                results.append(
                    {
                        "ok": 0.0,
                        "idx": idx,
                        "code": code,
                        "errmsg": error["errmsg"],
                        "codeName": codename,
                    }
                )
                if ordered:
                    break
                continue
            result: Doc = {"ok": 1.0, "idx": idx, "n": reply["n"]}
            if kind == "insert":
                totals["nInserted"] += reply["n"]
            elif kind == "delete":
                totals["nDeleted"] += reply["n"]
            else:
                result["nModified"] = reply["nModified"]
                totals["nModified"] += reply["nModified"]
                if reply.get("upserted"):
                    result["upserted"] = {"_id": reply["upserted"][0]["_id"]}
                    totals["nUpserted"] += 1
                else:
                    totals["nMatched"] += reply["n"]
            if not errors_only:
                results.append(result)
        if totals["nErrors"] and call.txn is not None and call.txn.state == "active":
            self._rollback(call.txn)  # mongod aborts a transaction on a failed statement
        counts = {
            name: totals[name]
            for name in ("nErrors", "nInserted", "nMatched", "nModified", "nUpserted", "nDeleted")
        }
        cursor = {"id": Int64(0), "firstBatch": results, "ns": "admin.$cmd.bulkWrite"}
        return {**counts, "cursor": cursor, "ok": 1.0}
