"""What a run prepares before the first simulated user starts: staff tokens, checkpoints and
the real QR tokens the clerks will scan. Written to JSON by the seeding step, read by the
Locust user classes and the benchmark."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel


class Clerk(BaseModel):
    checkpoint_id: str
    access_token: str


class SignedInCitizen(BaseModel):
    phone: str
    access_token: str
    person_ids: list[str]


class Monitored(BaseModel):
    """An episode the seeding opened, and the citizen who reports for its person."""

    episode_id: str
    citizen_token: str


class CertificateScan(BaseModel):
    """A certificate from abroad (EU DCC or SMART Health Card) signed for this run by a
    signer trusted over the admin API, and the clerk who scans it."""

    path: str
    authorization: str
    body: str


class Fixtures(BaseModel):
    base_url: str
    admin_token: str
    analyst_token: str
    clerks: list[Clerk]
    # QR tokens of real people, fetched from the service; and tokens a checkpoint must deny.
    valid_tokens: list[str]
    invalid_tokens: list[str]
    # Citizens already signed in with a declaration each (for the benchmark's QR fetch).
    citizens: list[SignedInCitizen]
    report_from: str
    report_to: str
    # Border arrivals: clerks of border checkpoints, the border gate the forms name, and
    # the short codes and QR tokens of families already declared (for the entry scan rows).
    border_clerks: list[Clerk] = []
    entry_point: str = ""
    entry_codes: list[str] = []
    entry_tokens: list[str] = []
    # Medical monitoring: an officer, the episodes opened for people of the ward the
    # seeding settled them in (province, ward), so a later declaration keeps them there.
    officer_token: str = ""
    monitored: list[Monitored] = []
    officer_ward: tuple[int, int] | None = None
    certificate_scans: list[CertificateScan] = []

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1), "utf-8")


@lru_cache(maxsize=4)
def load_fixtures(path: Path) -> Fixtures:
    return Fixtures.model_validate_json(path.read_text("utf-8"))
