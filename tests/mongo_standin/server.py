"""A MongoDB wire-protocol stand-in for tests, backed by ``mongomock``.

What it is: a small TCP server that speaks enough of the MongoDB wire protocol (OP_MSG, plus
OP_QUERY answered with OP_REPLY) for the real PyMongo driver -- ``pymongo.MongoClient`` and
``pymongo.AsyncMongoClient`` -- to talk to it exactly as it would to ``mongod``. Commands are
decoded with ``bson`` and executed one at a time (a lock serialises them) against one in-memory
``mongomock.MongoClient`` per server. It presents itself as the primary of a one-member replica
set (``setName: "rs0"``, wire version 21 = MongoDB 7.0), so the driver uses sessions, retryable
writes and multi-document transactions.

Transactions are emulated with an undo log per logical session: writes inside a transaction are
applied immediately and recorded (inserted ``_id``s, prior versions of updated or deleted
documents); ``abortTransaction``, a failed statement, ``endSessions`` or a newer transaction on
the same session replays the log backwards, ``commitTransaction`` drops it. As on mongod:

* a transaction that writes a document another open transaction has written, inserts an
  ``_id`` another has inserted, or clashes on a unique index with another's uncommitted
  document gets ``WriteConflict`` (code 112, label ``TransientTransactionError``), not E11000,
  so ``with_transaction`` retries;
* reads from other sessions do not see uncommitted writes: they see the documents as they
  were before the open transactions touched them (read committed, not a snapshot).

For tests to assert on (``Backend.log``): every command received, as decoded, with its
database under ``$db``; ``Backend.counts`` counts them by name. ``configureFailPoint`` with
``failCommand`` (``errorCode``, ``errorLabels``, ``writeConcernError``, ``blockConnection`` +
``blockTimeMS``; mode ``alwaysOn``, ``{times: n}`` or ``off``) injects failures as mongod's
test failpoint does. Client-level ``bulkWrite`` (MongoDB 8.0) is answered.

``MongoStandin(sharded=True)`` answers as a mongos in front of a sharded cluster:
``shardCollection`` records a key; a unique index that does not start with the shard key is
refused (code 67), and so is a sharded collection with one; an ``updateOne`` or upsert whose
filter lacks the shard key (code 72 / 61); and a write inside a transaction to a collection
that does not exist yet (code 263).

What it does NOT do:

* no snapshot isolation inside a transaction, and a non-transactional write to a document held
  by an open transaction is neither blocked nor protected (if that transaction aborts, it
  restores its own prior version over the write);
* no TTL expiry: ``expireAfterSeconds`` is accepted and reported by ``listIndexes`` but nothing
  ever expires (mongomock's own immediate expiry is deliberately bypassed);
* no authentication, TLS, compression, replication, change streams, ``explain``, collations,
  geo search, validators or capped collections (text indexes and ``$text`` in ``find`` are
  emulated, with their own limits: :mod:`tests.mongo_standin.text`); query, update and
  aggregation semantics are mongomock's, which cover the common operators but not all of them
  (a ``$group`` over no documents answers no group, as on mongod, not mongomock's null group);
* a rolled-back delete re-appends the document, so natural order may change after an abort.

Datetimes are kept as naive UTC internally (as mongod stores them, and as mongomock compares
them); clients get tz-aware values back when they connect with ``tz_aware=True``.

The real server is used whenever ``KHAIBAO_TEST_MONGODB_URL`` is set; this stand-in only
replaces it when that variable is absent (see :func:`tests.mongo_standin.mongodb_test_url`).

This module holds the TCP server; the rest is split by job: :mod:`.wire` (message framing),
:mod:`.backend` (command dispatch, failpoints, handshake) over :mod:`.writes`,
:mod:`.namespaces` (collections, indexes, sharding), :mod:`.reads`, :mod:`.transactions`
(undo logs, isolation) and :mod:`.store` (state); :mod:`.protocol` has limits and error codes.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import struct
import threading
from types import TracebackType

import bson

from tests.mongo_standin.backend import Backend
from tests.mongo_standin.protocol import MAX_MESSAGE_SIZE
from tests.mongo_standin.wire import HEADER, handle_message

__all__ = ["Backend", "MongoStandin"]


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn_id = self.server.track(sock)
        try:
            while (header := _recv_exact(sock, 16)) is not None:
                length, request_id, _, op_code = HEADER.unpack(header)
                if not 16 < length <= MAX_MESSAGE_SIZE:
                    return
                body = _recv_exact(sock, length - 16)
                if body is None:
                    return
                reply = handle_message(self.server.backend, op_code, request_id, body, conn_id)
                if reply is not None:
                    sock.sendall(reply)
        except (OSError, ValueError, struct.error, bson.errors.BSONError):
            return  # a closed connection or a malformed message: drop the connection
        finally:
            self.server.untrack(sock)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self._conn_ids = itertools.count(1)
        self._socks: set[socket.socket] = set()
        self._socks_lock = threading.Lock()

    def track(self, sock: socket.socket) -> int:
        with self._socks_lock:
            self._socks.add(sock)
        return next(self._conn_ids)

    def untrack(self, sock: socket.socket) -> None:
        with self._socks_lock:
            self._socks.discard(sock)

    def close_connections(self) -> None:
        with self._socks_lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class MongoStandin:
    """The stand-in server, running in a background thread (one thread per connection).

    TTL indexes (``expireAfterSeconds``) are accepted and reported by ``listIndexes`` but
    ignored: documents never expire, so tests purge explicitly and deterministically.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        replica_set: str = "rs0",
        *,
        sharded: bool = False,
    ) -> None:
        self.host = host
        self.replica_set = replica_set
        self.sharded = sharded
        self.backend = Backend(replica_set=replica_set, sharded=sharded)
        self._requested_port = port
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MongoStandin is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Connection string; the replica set name lets the driver run transactions."""
        if self.sharded:  # a mongos: no replica set to name
            return f"mongodb://{self.host}:{self.port}/?directConnection=true"
        options = f"directConnection=true&replicaSet={self.replica_set}"
        return f"mongodb://{self.host}:{self.port}/?{options}"

    def start(self) -> MongoStandin:
        """Bind (a free port unless one was given) and serve; returns once listening."""
        if self._server is None:
            self._server = _TCPServer((self.host, self._requested_port), self.backend)
            self.backend.address = f"{self.host}:{self.port}"
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"mongo-standin-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop open connections and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reset(self) -> None:
        """Forget all data, cursors and transactions (the server keeps running)."""
        self.backend.reset()

    def __enter__(self) -> MongoStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
