"""The rows `khaibao bench` measures: each scenario's key, its title in the table, the
request it names, and whether each request needs a fresh Idempotency-Key."""

from __future__ import annotations

from dataclasses import dataclass

from load.faq import ENTRIES as FAQ_ENTRIES
from load.inprocess.worklist import EPISODES as WORKLIST_EPISODES


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    request: str
    idempotent: bool = False


NOOP = Scenario("noop", "no-op ceiling", "POST /bench/noop")
BARE_NOOP = Scenario(
    "bare_noop", "bare FastAPI no-op (peer)", "POST /bench/noop on load/naive.py, no middleware"
)
NAIVE_SUBMIT = Scenario(
    "naive_submit",
    "naive peer's submit (peer)",
    "POST /v1/declarations on load/naive.py: 1 SQLite commit each",
    idempotent=True,
)
ENTRY_SUBMIT = Scenario(
    "entry_submit",
    "entry declaration, family of 3",
    "POST /v1/entry-declarations",
    idempotent=True,
)
ENTRY_SCAN = Scenario(
    "entry_scan", "border scan (token, code)", "POST /v1/checkpoints/{id}/entry-scans"
)
NOOP_RESOLVED = Scenario(
    "noop_resolved", "no-op, resolved like submit and scan", "POST /bench/noop-resolved"
)
SUBMIT = Scenario("submit", "declaration submit", "POST /v1/declarations", idempotent=True)
QR = Scenario("qr", "QR fetch", "GET /v1/people/{id}/qr")
SCAN = Scenario("scan", "checkpoint scan", "POST /v1/checkpoints/{id}/scans")
REPORT = Scenario("report", "report query", "GET /v1/reports/declarations")
MAP = Scenario("map", "public map, provinces", "GET /v1/public/regions?level=province")
MAP_304 = Scenario(
    "map_304", "public map, revalidated (304)", "GET /v1/public/regions + If-None-Match"
)
CERTIFICATE_DCC = Scenario(
    "certificate_eu_dcc",
    "certificate scan, EU DCC (HC1, ES256)",
    "POST /v1/checkpoints/{id}/certificates",
)
CERTIFICATE_SHC = Scenario(
    "certificate_shc",
    "certificate scan, SMART Health Card",
    "POST /v1/checkpoints/{id}/certificates",
)
FAQ = Scenario("faq", f"FAQ search ({FAQ_ENTRIES:,} answers)", "GET /v1/faq?q=")
WORKLIST = Scenario(
    "worklist",
    f"worklist, ward officer ({WORKLIST_EPISODES:,} episodes nationally)",
    "GET /v1/monitoring",
)
WORKLIST_PROVINCE = Scenario(
    "worklist_province",
    f"worklist, province officer ({WORKLIST_EPISODES:,} episodes nationally)",
    "GET /v1/monitoring",
)
GC_ON = Scenario(
    "submit_gc_on",
    "declaration submit, group commit on (fresh servers, ABBA)",
    "POST /v1/declarations",
    idempotent=True,
)
# Measured whatever --only says: the ceiling, and the group commit comparison.
ALWAYS = frozenset({"noop", "bare_noop", "noop_resolved", "submit_gc_on", "submit_baseline"})
# Rows that run whenever another runs: a peer with the row it is compared with, the
# province officer's worklist with the ward officer's.
RUNS_WITH = {"naive_submit": "submit", "worklist_province": "worklist"}
BASELINE = Scenario(
    "submit_baseline",
    "declaration submit, group commit off (fresh servers, ABBA)",
    "POST /v1/declarations",
    idempotent=True,
)
