"""`FakeSmsGateway`: the stand-in for the SMS gateway, the one thing the notification tests
mock because it crosses the border. It behaves as real gateways do where our guarantees
depend on it: it checks the HMAC signature, and it deduplicates on `Idempotency-Key`, so a
repeated request for a message it already took is answered again without a second SMS."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "fail", "reject", "slow_first"]


@dataclass(frozen=True)
class Received:
    key: str
    body: dict[str, Any]
    headers: dict[str, str]
    signature_valid: bool


class FakeSmsGateway:
    """`mode`: `ok` sends; `fail` answers 500; `reject` answers 400; `slow_first` sends the
    first message it gets and then holds the answer until `release()` (the sender's process
    can be killed while it waits)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode: Mode = "ok"
        self.received: list[Received] = []
        self.sent: Counter[str] = Counter()  # SMS handed to the carrier, per idempotency key
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._held = False
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                gateway._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/sms"

    def __enter__(self) -> FakeSmsGateway:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        self._release.set()

    def requests_for(self, key: str) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.key == key)

    def _valid(self, timestamp: str, body: bytes, header: str) -> bool:
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        digits = timestamp.isascii() and timestamp.isdigit()
        fresh = digits and abs(time.time() - int(timestamp)) < 300
        return fresh and hmac.compare_digest("sha256=" + expected, header)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        key = request.headers.get("Idempotency-Key", "")
        valid = self._valid(
            request.headers.get("X-Khaibao-Timestamp", ""),
            body,
            request.headers.get("X-Khaibao-Signature", ""),
        )
        hold = False
        with self._lock:
            self.received.append(Received(key, json.loads(body), dict(request.headers), valid))
            if not valid:
                status = 401
            elif self.mode == "fail":
                status = 500
            elif self.mode == "reject":
                status = 400
            else:
                status = 200
                if not self.sent[key]:  # a replayed key is answered, not sent again
                    self.sent[key] += 1
                    hold = self.mode == "slow_first" and not self._held
                    self._held = self._held or hold
        if hold:
            self._release.wait(30)
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", "2")
            request.end_headers()
            request.wfile.write(b"{}")
        except OSError:
            pass  # the sender is gone (killed while we held the answer)
