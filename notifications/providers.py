"""Where a rendered message goes: the log (`console`) or an SMS/push gateway (`webhook`).

The webhook is the contract a gateway implements:

    POST <KHAIBAO_NOTIFY_WEBHOOK_URL>
    Content-Type: application/json
    Idempotency-Key: <notification id>
    X-Khaibao-Timestamp: <unix seconds>
    X-Khaibao-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed with
                         KHAIBAO_NOTIFY_WEBHOOK_SECRET>
    {"id", "kind", "to", "text", "locale"}

A 2xx means the gateway took the message. 5xx, 408, 429, timeouts and connection errors are
retried; any other answer fails the notification at once (retrying a request the gateway
called wrong cannot succeed).

Exactly once, honestly: we mark a notification delivered only after the gateway said so,
and a process can die between the gateway sending the SMS and us recording it. Then the
send is repeated with the same `Idempotency-Key`, and it is the gateway's deduplication on
that key (as real SMS and push gateways offer) that keeps the person from getting the
message twice. Without it the guarantee is at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from core.logging import log_event
from core.settings import Settings
from core.validation import ascii_digits
from notifications.config import DeliverySettings

log = logging.getLogger(__name__)
# httpx logs each request line at INFO; a gateway URL may carry a credential in its query.
logging.getLogger("httpx").setLevel(logging.WARNING)

SIGNATURE_HEADER = "X-Khaibao-Signature"
TIMESTAMP_HEADER = "X-Khaibao-Timestamp"
_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Message:
    id: str
    kind: str
    to: str
    text: str
    locale: str


@dataclass(frozen=True)
class SendResult:
    """`error` is for operators: status codes and error kinds only, never personal data."""

    ok: bool
    retry: bool = False
    error: str | None = None


class Provider(Protocol):
    name: str

    async def send(self, message: Message) -> SendResult: ...

    async def aclose(self) -> None: ...


class ConsoleProvider:
    """Logs that a message went out: its id and kind, never the phone.

    In `KHAIBAO_ENV=dev` the one-time code's text is logged too, so a developer without an
    SMS gateway can sign in; in `test` and `production` it never is.
    """

    name = "console"

    def __init__(self, *, show_codes: bool) -> None:
        self._show_codes = show_codes

    async def send(self, message: Message) -> SendResult:
        fields: dict[str, str] = {
            "notification_id": message.id,
            "kind": message.kind,
            "locale": message.locale,
            "provider": self.name,
        }
        if self._show_codes and message.kind == "otp":
            fields["text"] = message.text
        log_event(log, "notification sent to console", **fields)
        return SendResult(ok=True)

    async def aclose(self) -> None:
        return None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, *, timestamp: str, body: bytes, header: str, tolerance_seconds: int = 300
) -> bool:
    """What a gateway runs on each request: the signature matches and is recent."""
    if not ascii_digits(timestamp):  # int() would also take "١٧٠٠…", " 17_00…"
        return False
    age = abs(time.time() - int(timestamp))
    return age <= tolerance_seconds and hmac.compare_digest(
        signature(secret, timestamp, body), header
    )


class WebhookProvider:
    name = "webhook"

    def __init__(self, url: str, secret: str, *, timeout_seconds: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Created on first use, inside the event loop that will use it.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout), follow_redirects=False
            )
        return self._client

    async def send(self, message: Message) -> SendResult:
        body = orjson.dumps(
            {
                "id": message.id,
                "kind": message.kind,
                "to": message.to,
                "text": message.text,
                "locale": message.locale,
            }
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
        }
        try:
            response = await self._http().post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            return SendResult(ok=False, retry=True, error="gateway timeout")
        except httpx.HTTPError as exc:
            return SendResult(
                ok=False, retry=True, error=f"gateway unreachable: {type(exc).__name__}"
            )
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(ok=True)
        retry = status >= 500 or status in _RETRYABLE_4XX
        return SendResult(ok=False, retry=retry, error=f"gateway answered HTTP {status}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def make_provider(settings: Settings, delivery: DeliverySettings) -> Provider:
    if settings.notify_provider == "webhook":
        if not settings.notify_webhook_url:
            raise ValueError(
                "KHAIBAO_NOTIFY_WEBHOOK_URL is required when KHAIBAO_NOTIFY_PROVIDER=webhook"
            )
        return WebhookProvider(
            settings.notify_webhook_url,
            settings.notify_webhook_secret.get_secret_value(),
            timeout_seconds=delivery.webhook_timeout_seconds,
        )
    if settings.env == "production":
        log.warning("KHAIBAO_NOTIFY_PROVIDER=console in production: messages are only logged")
    return ConsoleProvider(show_codes=settings.env == "dev")
