"""The command dispatcher: one method per command, the command log, failpoints and the
handshake that makes the driver see a replica-set primary (or a mongos)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import ClassVar

from tests.mongo_standin.protocol import (
    MAX_BSON_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_WRITE_BATCH,
    SERVER_VERSION,
    WIRE_VERSION,
    CommandError,
    Doc,
    error_reply,
)
from tests.mongo_standin.store import Call, Txn
from tests.mongo_standin.writes import WriteCommands

# Handshake and monitoring: not what a test of the adapter's traffic wants to count.
_UNLOGGED = frozenset(
    {"hello", "ismaster", "ping", "buildinfo", "getparameter", "endsessions", "standincounts"}
)


class Backend(WriteCommands):
    """Executes decoded commands against one in-memory mongomock client.

    Command ``foo`` is handled by method ``cmd_foo`` (lower-cased name).
    """

    _ALIASES: ClassVar[dict[str, str]] = {"ismaster": "hello"}

    @property
    def command_names(self) -> list[str]:
        """Names of the commands this backend answers (lower-cased)."""
        names = [n[4:] for n in dir(self) if n.startswith("cmd_")]
        return sorted(names + list(self._ALIASES))

    def run(self, db: str, cmd: Doc, conn_id: int = 0) -> Doc:
        """Execute one command and return its reply document (never raises)."""
        name = next(iter(cmd), "")
        handler: Callable[[Call], Doc] | None = getattr(
            self, "cmd_" + self._ALIASES.get(name.lower(), name.lower()), None
        )
        failure = self._failure_for(name)
        if failure is not None and failure.get("blockConnection"):
            time.sleep(int(failure.get("blockTimeMS", 0)) / 1000)  # outside the lock
        with self._lock:
            if name.lower() not in _UNLOGGED:
                self.log.append({**cmd, "$db": db})
                self.counts[name] += 1
            txn: Txn | None = None
            try:
                if handler is None:
                    raise CommandError(59, f"no such command: '{name}'")
                if failure is not None and failure.get("errorCode") is not None:
                    labels = tuple(failure.get("errorLabels", ()))
                    raise CommandError(int(failure["errorCode"]), "failpoint failCommand", labels)
                txn = self._txn_for(name, cmd)
                reply = handler(Call(db, name, cmd, txn, conn_id))
                if txn is not None and txn.state == "active" and reply.get("writeErrors"):
                    self._rollback(txn)  # mongod aborts a transaction on a failed statement
                if failure is not None and failure.get("writeConcernError"):
                    reply["writeConcernError"] = dict(failure["writeConcernError"])
                return reply
            except Exception as exc:  # every failure becomes an error reply
                if txn is not None and txn.state == "active" and not name.endswith("Transaction"):
                    self._rollback(txn)
                return error_reply(exc)

    def _failure_for(self, name: str) -> Doc | None:
        """The failCommand failpoint's data, when it applies to this command now."""
        with self._lock:
            point = self._failpoint
            if point is None or name not in point["data"].get("failCommands", ()):
                return None
            if point["remaining"] is not None:
                point["remaining"] -= 1
                if point["remaining"] <= 0:
                    self._failpoint = None
            data: Doc = point["data"]
            return data

    def cmd_standincounts(self, call: Call) -> Doc:
        """The command log's counts by name, for a process that cannot reach `Backend`
        (`load/mongo_commands.py`); `reset: true` starts counting afresh."""
        counts = dict(self.counts)
        if call.opt("reset"):
            self.log.clear()
            self.counts.clear()
        return {"counts": counts, "ok": 1.0}

    def cmd_configurefailpoint(self, call: Call) -> Doc:
        if call.target != "failCommand":
            raise NotImplementedError(f"failpoint {call.target}")
        mode, data = call.cmd.get("mode"), call.opt("data", {})
        remaining = int(mode["times"]) if isinstance(mode, dict) else None
        self._failpoint = None if mode == "off" else {"remaining": remaining, "data": data}
        return {"ok": 1.0}

    # -- handshake and server info ------------------------------------------------------

    def cmd_hello(self, call: Call) -> Doc:
        if self.sharded:  # a mongos
            mongos: Doc = {
                "isWritablePrimary" if call.name == "hello" else "ismaster": True,
                "msg": "isdbgrid",
                "maxBsonObjectSize": MAX_BSON_SIZE,
                "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
                "maxWriteBatchSize": MAX_WRITE_BATCH,
                "localTime": datetime.datetime.now(datetime.UTC),
                "logicalSessionTimeoutMinutes": 30,
                "connectionId": call.conn_id,
                "minWireVersion": 0,
                "maxWireVersion": WIRE_VERSION,
                "readOnly": False,
            }
            return {**mongos, **({"helloOk": True} if call.cmd.get("helloOk") else {}), "ok": 1.0}
        reply: Doc = {
            "isWritablePrimary" if call.name == "hello" else "ismaster": True,
            "secondary": False,
            "setName": self.replica_set,
            "setVersion": 1,
            "hosts": [self.address],
            "me": self.address,
            "primary": self.address,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH,
            "localTime": datetime.datetime.now(datetime.UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": call.conn_id,
            "minWireVersion": 0,
            "maxWireVersion": WIRE_VERSION,
            "readOnly": False,
        }
        if call.cmd.get("helloOk"):
            reply["helloOk"] = True
        return {**reply, "ok": 1.0}

    def cmd_ping(self, call: Call) -> Doc:
        return {"ok": 1.0}

    def cmd_buildinfo(self, call: Call) -> Doc:
        version = [int(part) for part in SERVER_VERSION.split(".")] + [0]
        return {
            "version": SERVER_VERSION,
            "versionArray": version,
            "gitVersion": "standin",
            "modules": [],
            "bits": 64,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "ok": 1.0,
        }

    def cmd_getparameter(self, call: Call) -> Doc:
        reply: Doc = {"ok": 1.0}
        if "featureCompatibilityVersion" in call.cmd:
            reply["featureCompatibilityVersion"] = {"version": SERVER_VERSION[:3]}
        return reply
