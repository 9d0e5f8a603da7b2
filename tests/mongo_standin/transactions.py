"""Multi-document transactions, emulated with an undo log per logical session, and the
isolation that hides one session's uncommitted writes from the others."""

from __future__ import annotations

from typing import Any

import bson
import mongomock
import mongomock.collection

from tests.mongo_standin.protocol import TRANSIENT, CommandError, Doc
from tests.mongo_standin.store import BackendState, Call, Txn


class TransactionCommands(BackendState):
    """Undo logs, document ownership and the commands that end a transaction."""

    # -- isolation ----------------------------------------------------------------------

    def _images(self, call: Call) -> dict[bytes, Doc | None]:
        """Documents of this collection that other open transactions have written, as they
        were before the first of those writes (None: the document did not exist)."""
        images: dict[bytes, Doc | None] = {}
        for txn in self._txns.values():
            if txn is call.txn or txn.state != "active":
                continue
            for op, db, name, payload in txn.undo:
                if db != call.db or name != call.target:
                    continue
                doc_id = payload["_id"] if op == "restore" else payload
                images.setdefault(bson.encode({"_id": doc_id}), None if op == "remove" else payload)
        return images

    def _readable(self, call: Call) -> Any:
        """The collection as this session may read it: without other sessions' uncommitted
        writes. Usually the collection itself; a copy while other transactions are open on
        it."""
        coll = self._coll(call)
        images = self._images(call)
        if not images:
            return coll
        docs: list[Doc] = []
        for doc in coll.find({}):
            key = bson.encode({"_id": doc["_id"]})
            if key in images:
                image = images.pop(key)
                if image is not None:
                    docs.append(image)
            else:
                docs.append(doc)
        docs.extend(image for image in images.values() if image is not None)
        view: Any = mongomock.MongoClient()[call.db][call.target]
        if docs:
            view.insert_many(docs)
        return view

    def _held_by_another(self, call: Call, doc_id: Any) -> bool:
        owner = self._owners.get((call.db, call.target, bson.encode({"_id": doc_id})))
        return owner is not None and owner is not call.txn and owner.state == "active"

    def _check_uncommitted_clash(self, call: Call, coll: Any, doc: Doc) -> None:
        """A transaction's insert that meets another open transaction's uncommitted document
        (same `_id`, or same values of a unique index) is a WriteConflict on mongod."""
        if call.txn is None:
            return
        for info in coll.index_information().values():
            fields = [name for name, _ in info["key"]]
            if not (info.get("unique") or fields == ["_id"]) or any(n not in doc for n in fields):
                continue
            for other in coll.find({name: doc[name] for name in fields}):
                if self._held_by_another(call, other["_id"]):
                    message = (
                        "WriteConflict error: this operation conflicted with another operation."
                    )
                    raise CommandError(112, message, TRANSIENT)

    # -- transactions -------------------------------------------------------------------

    def _txn_for(self, name: str, cmd: Doc) -> Txn | None:
        lsid, number = cmd.get("lsid"), cmd.get("txnNumber")
        if not isinstance(lsid, dict) or number is None:
            return None
        key, number = bytes(lsid["id"]), int(number)
        current = self._txns.get(key)
        if cmd.get("autocommit") is not False:  # a retryable write, not a transaction
            if current is not None and current.state == "active" and current.number < number:
                self._rollback(current)
            return None
        if cmd.get("startTransaction"):
            if current is not None and current.number >= number:
                raise CommandError(225, f"txnNumber {number} is not newer than {current.number}")
            if current is not None and current.state == "active":
                self._rollback(current)
            self._txns[key] = Txn(number)
            return self._txns[key]
        if current is None or current.number != number or current.state == "aborted":
            message = f"Transaction with {{ txnNumber: {number} }} has been aborted or is unknown"
            raise CommandError(251, message, TRANSIENT)
        if current.state == "committed" and name != "commitTransaction":
            raise CommandError(256, f"Transaction {number} has been committed.")
        return current

    def _record(self, call: Call, op: str, payloads: list[Any]) -> None:
        """Log undo steps for a transactional write and claim the documents it touches."""
        txn = call.txn
        if txn is None:
            return
        for payload in payloads:
            txn.undo.append((op, call.db, call.target, payload))
            doc_id = payload["_id"] if op == "restore" else payload
            key = (call.db, call.target, bson.encode({"_id": doc_id}))
            if self._owners.setdefault(key, txn) is not txn:
                message = "WriteConflict error: this operation conflicted with another operation."
                raise CommandError(112, message, TRANSIENT)
            txn.owned.add(key)

    def _finish(self, txn: Txn, state: str) -> None:
        for key in txn.owned:
            if self._owners.get(key) is txn:
                del self._owners[key]
        txn.owned.clear()
        txn.undo.clear()
        txn.state = state

    def _rollback(self, txn: Txn) -> None:
        for op, db, coll_name, payload in reversed(txn.undo):
            coll = self._collection(db, coll_name)
            if op == "remove":
                coll.delete_one({"_id": payload})
            else:
                coll.replace_one({"_id": payload["_id"]}, payload, upsert=True)
        self._finish(txn, "aborted")

    def cmd_committransaction(self, call: Call) -> Doc:
        if call.txn is None:
            raise CommandError(251, "commitTransaction must run inside a transaction")
        self._finish(call.txn, "committed")
        return {"ok": 1.0}

    def cmd_aborttransaction(self, call: Call) -> Doc:
        if call.txn is None:
            raise CommandError(251, "abortTransaction must run inside a transaction")
        if call.txn.state == "committed":
            raise CommandError(256, "Transaction has been committed.")
        self._rollback(call.txn)
        return {"ok": 1.0}

    def cmd_endsessions(self, call: Call) -> Doc:
        for lsid in call.target or []:
            txn = self._txns.pop(bytes(lsid["id"]), None)
            if txn is not None and txn.state == "active":
                self._rollback(txn)
        return {"ok": 1.0}
