"""One validated settings object, read from `KHAIBAO_*` environment variables."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development defaults. Refused at start-up when KHAIBAO_ENV=production, so a forgotten
# variable cannot ship a publicly known key.
DEV_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105 (refused in production)
DEV_DATA_KEY = "ZGV2LW9ubHktZGF0YS1rZXktMzItYnl0ZXMtbG9uZyE="  # base64 of 32 bytes

DEFAULT_DATABASE_URL = "sqlite:///var/khaibao.sqlite3"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A shared HMAC key shorter than this is guessable offline from one signed request.
MIN_SECRET_CHARACTERS = 32

Environment = Literal["dev", "test", "production"]
SETTINGS_REFUSAL = "refusing to start: "
PRODUCTION_SUFFIX = " (KHAIBAO_ENV=production)"
PROBLEM_SEPARATOR = "; "


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHAIBAO_", extra="ignore")

    env: Environment = "dev"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    # Every MongoDB write and transaction commit waits for this write concern, and reads use
    # this read concern: with "majority", an acknowledged declaration survives a failover.
    mongodb_write_concern: str = "majority"
    mongodb_read_concern: Literal["local", "majority", "linearizable", "available", "snapshot"] = (
        "majority"
    )
    # Client-side operation timeout (PyMongo `timeoutMS`): every read, write and transaction,
    # its retries included, ends within it, and the request gets 503 + Retry-After.
    mongodb_timeout_ms: int = Field(default=5000, ge=100, le=120_000)

    # Secrets. `secret_key` signs access tokens and keys the lookup hashes;
    # `data_key` (base64, 32 bytes) encrypts identity numbers, phones and signing keys.
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    data_key: SecretStr = SecretStr(DEV_DATA_KEY)

    test_otp: str = ""
    public_url: str = "http://127.0.0.1:8000"

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # How long a process trusts what it read of a staff account (disabled? token version?):
    # the longest a disabled account's token still works in another process. 0: every request.
    staff_check_seconds: float = Field(default=2, ge=0, le=300)
    otp_minutes: int = Field(default=5, ge=1, le=60)
    # Sign-in codes (SECURITY.md, "Abuse limits"). Wrong codes for one phone
    # from one address in an hour: past them that address (only) is refused for that phone
    # until the hour ends. A code dies after `otp_attempts_per_code` wrong codes while it
    # lives, from every address together: keep it above twice the former, so that one
    # address, even across an hour's edge, cannot kill the owner's code. Codes sent per
    # phone per hour, from all addresses, and per phone from one address: keep the former
    # above the latter, so that one address cannot use up a phone's codes.
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    otp_attempts_per_code: int = Field(default=12, ge=1, le=100)
    otp_per_phone_per_hour: int = Field(default=10, ge=1)
    otp_per_phone_per_address_per_hour: int = Field(default=3, ge=1)
    otp_per_address_per_hour: int = Field(default=30, ge=1)
    # Wrong staff passwords within one window, per account (known or not) and per client
    # address: past them every sign-in is 429 until the window ends, the right password too
    # (but not from a device with a device token of that user name: see below).
    staff_sign_in_failures_per_account: int = Field(default=5, ge=1, le=100)
    staff_sign_in_failures_per_address: int = Field(default=20, ge=1)
    staff_sign_in_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # How long a device token (`accounts.devices`) vouches for a phone that signed in as a
    # user name: its wrong passwords are counted on it alone, so the user name's lock-out
    # does not stop its owner. Each sign-in with the password returns a fresh one.
    staff_device_token_days: int = Field(default=30, ge=1, le=365)
    # Generous: many phones share one carrier-grade NAT address.
    requests_per_address_per_minute: int = Field(default=3000, ge=1)
    # One account's (or one stolen token's) declarations, and one person's: a flood is
    # refused (429) before it is stored. Generous for a household declaring for its members.
    declarations_per_account_per_hour: int = Field(default=60, ge=1)
    declarations_per_person_per_day: int = Field(default=30, ge=1)
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names
    # the client. Empty: the header is ignored, the connecting address is the client; were
    # it believed from anyone, a flooder would name a new address per request.
    trusted_proxies: str = ""

    retention_days: int = Field(default=30, ge=1, le=3650)
    # A household's phone declares for its members; a cap keeps one account (or one stolen
    # token) from filling the store with people and makes GET /v1/people a bounded list.
    max_people_per_account: int = Field(default=20, ge=1, le=1000)
    # Entry declarations need no account: limited per client address (generous: an airport's
    # Wi-Fi puts a whole plane-load behind one address) and per passport.
    entry_per_address_per_hour: int = Field(default=600, ge=1)
    entry_per_passport_per_day: int = Field(default=20, ge=1)
    # Questions, feedback and reports one citizen account may send per day (UTC day).
    questions_per_day: int = Field(default=5, ge=1, le=1000)
    # Exports of everything held about an account (`GET /v1/me/export`) per account per day.
    exports_per_day: int = Field(default=3, ge=1, le=100)
    # The longest a citizen may consent to an organisation seeing a person's status colour.
    consent_max_days: int = Field(default=365, ge=1, le=3650)
    rules_path: Path | None = None

    qr_token_hours: int = Field(default=24, ge=1, le=24 * 30)
    qr_algorithm: Literal["ES256", "EdDSA"] = "ES256"
    venue_token_days: int = Field(default=365, ge=1)
    scan_leeway_seconds: int = Field(default=60, ge=0, le=600)
    stay_window_minutes: int = Field(default=120, ge=1)
    # The longest one visit lasts: a check-in after that opens a new visit, so tracing reads
    # a venue's visits that arrived in [start - this, end] through one index range. Raising
    # it is safe at once; lowering it hides the longer visits already stored until they expire.
    visit_max_hours: int = Field(default=12, ge=1, le=72)
    exposure_window_minutes: int = Field(default=120, ge=1)
    exposure_lookback_days: int = Field(default=14, ge=1, le=60)
    # How long a process trusts its cached signing keys before rereading them (a token with
    # an unknown kid rereads at once); also how long a removed key may still verify elsewhere.
    qr_key_cache_seconds: int = Field(default=30, ge=0, le=3600)

    notify_provider: Literal["console", "webhook"] = "console"
    notify_webhook_url: str | None = None
    notify_webhook_secret: SecretStr = SecretStr(DEV_SECRET)
    notify_max_retries: int = Field(default=5, ge=0, le=20)

    # Certificates from abroad: trust bundles to refresh the trust list from, comma-separated
    # (empty: the list changes only through the admin API), and how often.
    trust_refresh_urls: str = ""
    trust_refresh_minutes: int = Field(default=360, ge=1, le=7 * 24 * 60)

    # How often scheduled work runs (monitoring's daily jobs): Celery beat sends it with
    # Redis (`khaibao scheduler`), each API process runs it itself without.
    scheduler_tick_seconds: int = Field(default=600, ge=5, le=3600)
    # Without Redis, whether this API process runs that work itself. Off for one process of
    # several on one file that should leave it to the others, and for the benchmarks' servers:
    # a day's reminders sent while a route is measured are counted as the route's cost.
    scheduled_jobs_in_api: bool = True

    small_cell_threshold: int = Field(default=5, ge=1)
    # Keys the rounding of every published count (reports.suppression). Without it, a key is
    # derived from `secret_key`; set it so that rotating that secret does not redraw every
    # published figure (two draws of the same cell narrow it down).
    publication_key: SecretStr | None = None
    # How old the public map's snapshot may get before the refresh job rebuilds it; also
    # how long phones and CDNs may reuse an answer without asking (Cache-Control max-age).
    map_refresh_seconds: int = Field(default=60, ge=1, le=3600)
    # How often each API and worker process folds the counters' pending steps (reports.folding)
    # that no kick after a commit folded: what a process that died right after a commit left.
    counter_fold_seconds: float = Field(default=5.0, gt=0, le=3600)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Little's law on 2 cores: ~160 declarations/s x 0.4 s keeps admitted latency bounded.
    max_in_flight: int = Field(default=64, ge=1)
    # Shed new requests while every event-loop timer for 0.25 s ran later than this (a
    # standing queue in front of the app, which an in-flight count cannot see). 0: never.
    shed_loop_lag_ms: int = Field(default=50, ge=0)
    # Freeze what start-up built out of the cycle collector's sight (api/app.py). Off in the
    # tests, which start a thousand apps in one process: each freeze's full collection walked
    # every object the earlier tests left, a seventh of a second per app.
    freeze_at_start: bool = True
    group_commit: bool = True
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "mongodb://", "mongodb+srv://")):
            raise ValueError("must start with sqlite:///, mongodb:// or mongodb+srv://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None  # empty is unset: no Redis
        # Celery reads any other URL as another broker's (`notaurl` became amqp://guest@notaurl)
        # and retries it forever instead of refusing.
        if not value.startswith(REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("data_key")
    @classmethod
    def _thirty_two_bytes(cls, value: SecretStr) -> SecretStr:
        # Decoded as core.crypto.FieldCipher decodes it, so what passes here opens there.
        try:
            key = base64.b64decode(value.get_secret_value())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError("must be base64 of 32 bytes (e.g. base64 of os.urandom(32))")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for item in _comma_list(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    "must list IP addresses or networks (10.0.0.0/8), separated by commas"
                ) from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _comma_list(self.trusted_proxies)

    @model_validator(mode="after")
    def _holds_together(self) -> Settings:
        problems = []
        if self.notify_provider == "webhook" and not self.notify_webhook_url:
            problems.append(
                "KHAIBAO_NOTIFY_WEBHOOK_URL is required when KHAIBAO_NOTIFY_PROVIDER=webhook"
            )
        if self.env == "production":
            problems.extend(problem + PRODUCTION_SUFFIX for problem in self._production_problems())
        if problems:
            raise ValueError(SETTINGS_REFUSAL + PROBLEM_SEPARATOR.join(problems))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        if self.secret_key.get_secret_value() == DEV_SECRET:
            problems.append("KHAIBAO_SECRET_KEY is the development default")
        if len(self.secret_key.get_secret_value()) < MIN_SECRET_CHARACTERS:
            problems.append("KHAIBAO_SECRET_KEY must be at least 32 characters")
        if self.data_key.get_secret_value() == DEV_DATA_KEY:
            problems.append("KHAIBAO_DATA_KEY is the development default")
        if self.test_otp:
            problems.append("KHAIBAO_TEST_OTP must not be set in production")
        if not self.redis_url:
            # Without Redis every request's rate limit is a durable upsert and a read in the
            # database: the database's write rate doubles for nothing.
            problems.append("KHAIBAO_REDIS_URL must be set in production (rate limits live there)")
        if self.notify_provider == "webhook":
            # The gateway trusts what this key signs: an empty one lets anyone send SMS.
            webhook_secret = self.notify_webhook_secret.get_secret_value()
            if webhook_secret == DEV_SECRET:
                problems.append("KHAIBAO_NOTIFY_WEBHOOK_SECRET is the development default")
            elif len(webhook_secret) < MIN_SECRET_CHARACTERS:
                problems.append("KHAIBAO_NOTIFY_WEBHOOK_SECRET must be at least 32 characters")
        return problems

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def is_mongodb(self) -> bool:
        return self.database_url.startswith("mongodb")

    def test_otp_codes(self) -> dict[str, str]:
        """`+84900000001:123456,+84900000002:654321` as a dict of phone to code."""
        codes: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in self.test_otp.split(","))):
            phone, _, code = pair.partition(":")
            codes[phone.strip()] = code.strip()
        return codes


def settings_problems(error: ValidationError) -> list[str]:
    """What is wrong with the environment, one sentence per problem, naming the variable."""
    problems = []
    for item in error.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            name = "KHAIBAO_" + "_".join(str(part) for part in item["loc"]).upper()
            problems.append(f"{name}: {message}")
        elif message.startswith(SETTINGS_REFUSAL):
            problems.extend(message.removeprefix(SETTINGS_REFUSAL).split(PROBLEM_SEPARATOR))
        else:
            problems.append(message)
    return problems


def _comma_list(value: str) -> list[str]:
    return [item for item in (part.strip() for part in value.split(",")) if item]


@lru_cache
def get_settings() -> Settings:
    return Settings()
