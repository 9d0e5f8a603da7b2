"""The wire protocol: OP_MSG and OP_QUERY requests decoded, replies framed."""

from __future__ import annotations

import itertools
import struct

import bson
from bson.codec_options import CodecOptions

from tests.mongo_standin.backend import Backend
from tests.mongo_standin.protocol import Doc, error_reply

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_CHECKSUM_PRESENT, _MORE_TO_COME = 1, 2
# Requests decode to naive UTC datetimes: what mongomock stores and compares.
_CODEC: CodecOptions[Doc] = CodecOptions(document_class=dict, tz_aware=False)

_request_ids = itertools.count(1)


def _frame(op_code: int, response_to: int, payload: bytes) -> bytes:
    return HEADER.pack(16 + len(payload), next(_request_ids), response_to, op_code) + payload


def _encode(reply: Doc) -> bytes:
    try:
        return bson.encode(reply)
    except Exception as exc:
        return bson.encode(error_reply(exc))


def parse_op_msg(body: bytes) -> tuple[int, Doc]:
    """Decode an OP_MSG body (after the header) into (flagBits, command with sequences merged)."""
    (flags,) = struct.unpack_from("<I", body, 0)
    end = len(body) - (4 if flags & _CHECKSUM_PRESENT else 0)
    pos, command = 4, None
    sequences: dict[str, list[Doc]] = {}
    while pos < end:
        kind, (size,) = body[pos], _INT32.unpack_from(body, pos + 1)
        pos += 1
        if kind == 0:
            command = bson.decode(body[pos : pos + size], _CODEC)
        elif kind == 1:  # a document sequence: int32 size, cstring identifier, documents
            nul = body.index(b"\x00", pos + 4)
            docs = bson.decode_all(body[nul + 1 : pos + size], _CODEC)
            sequences.setdefault(body[pos + 4 : nul].decode(), []).extend(docs)
        else:
            raise ValueError(f"unknown OP_MSG section kind {kind}")
        pos += size
    if command is None:
        raise ValueError("OP_MSG without a body section")
    command.update(sequences)
    return flags, command


def parse_op_query(body: bytes) -> tuple[str, Doc]:
    """Decode an OP_QUERY body into (full collection name, query document)."""
    nul = body.index(b"\x00", 4)
    pos = nul + 1 + 8  # skip numberToSkip, numberToReturn
    (size,) = _INT32.unpack_from(body, pos)
    query = bson.decode(body[pos : pos + size], _CODEC)
    return body[4:nul].decode(), query.get("$query", query)


def handle_message(
    backend: Backend, op_code: int, request_id: int, body: bytes, conn_id: int
) -> bytes | None:
    """Answer one request message; None when no reply is due (moreToCome)."""
    if op_code == OP_MSG:
        flags, command = parse_op_msg(body)
        reply = backend.run(str(command.pop("$db", "admin")), command, conn_id)
        if flags & _MORE_TO_COME:
            return None
        return _frame(OP_MSG, request_id, struct.pack("<IB", 0, 0) + _encode(reply))
    if op_code == OP_QUERY:
        namespace, query = parse_op_query(body)
        if namespace.endswith(".$cmd"):
            reply = backend.run(namespace[: -len(".$cmd")], query, conn_id)
        else:
            reply = {"$err": "OP_QUERY is only supported for commands", "code": 352, "ok": 0.0}
        return _frame(OP_REPLY, request_id, struct.pack("<iqii", 0, 0, 0, 1) + _encode(reply))
    raise ValueError(f"unsupported opCode {op_code}")
