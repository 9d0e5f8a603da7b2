"""Knobs of a load run, read from `KHAIBAO_LOAD_*` variables so CI can shrink a run to tens
of seconds and an operator can replay launch day at full length."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where `khaibao load seed` writes the fixtures, and plain `locust -f load/locustfile.py`
# finds them without any variable set.
DEFAULT_FIXTURES = Path(__file__).resolve().parent / "reports" / "fixtures.json"


class LoadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHAIBAO_LOAD_", extra="ignore")

    # How the simulated population splits between roles (Locust user-class weights).
    citizen_weight: int = Field(default=20, ge=0)
    clerk_weight: int = Field(default=6, ge=0)
    analyst_weight: int = Field(default=1, ge=0)
    family_weight: int = Field(default=3, ge=0)  # arriving families at the border
    public_weight: int = Field(default=4, ge=0)  # the public map and FAQ, no sign-in
    officer_weight: int = Field(default=1, ge=0)  # health officers and monitored citizens

    # The surge: `users` for `steady_seconds`, then `spike_factor` times as many for
    # `spike_seconds`, then back to `users` for `recovery_seconds`.
    users: int = Field(default=100, ge=1)
    spike_factor: float = Field(default=10.0, ge=1.0)
    steady_seconds: float = Field(default=60.0, ge=1.0)
    spike_seconds: float = Field(default=60.0, ge=1.0)
    recovery_seconds: float = Field(default=60.0, ge=1.0)
    ramp_seconds: float = Field(default=5.0, gt=0.0, description="time to reach each level")

    # Think time of each role between requests, in seconds.
    citizen_wait: tuple[float, float] = (0.5, 1.5)
    clerk_wait: tuple[float, float] = (0.5, 1.5)
    analyst_wait: tuple[float, float] = (2.0, 6.0)
    family_wait: tuple[float, float] = (1.0, 3.0)
    public_wait: tuple[float, float] = (1.0, 3.0)
    officer_wait: tuple[float, float] = (1.0, 3.0)

    # A phone gives up on a request after this long and sends it again with the same
    # Idempotency-Key, at most `retries` times.
    request_timeout: float = Field(default=10.0, gt=0.0)
    retries: int = Field(default=3, ge=0)
    # Share of acknowledged declarations replayed as if the answer had been lost.
    replay_share: float = Field(default=0.02, ge=0.0, le=1.0)

    phones: int = Field(default=1000, ge=1, le=100_000)
    seed: int = 2021

    # A deployed service (`khaibao load --host URL`): the operator's accounts there, each
    # `username:password`; clerks and border clerks comma-separated (their checkpoints are
    # read from their tokens). The citizens' phones must be in the target's
    # KHAIBAO_TEST_OTP (`khaibao load numbers` prints the value).
    admin: str = ""
    analyst: str = ""
    clerks: str = ""
    border_clerks: str = ""
    officer: str = ""  # a health officer bound to one ward (the monitoring worklist)

    # Written by `load.run` before Locust starts; read by the user classes.
    fixtures: Path | None = None
    acknowledged: Path | None = None
    outcomes: Path | None = None

    @model_validator(mode="after")
    def _default_fixtures(self) -> LoadSettings:
        if self.fixtures is None and DEFAULT_FIXTURES.exists():
            self.fixtures = DEFAULT_FIXTURES
        return self

    @property
    def peak_users(self) -> int:
        return round(self.users * self.spike_factor)

    @property
    def total_seconds(self) -> float:
        return self.steady_seconds + self.spike_seconds + self.recovery_seconds


# A CI-sized surge (`khaibao load --ci`): the same shape, 45 s of it.
CI_PRESET = {
    "users": 40,
    "steady_seconds": 10.0,
    "spike_seconds": 20.0,
    "recovery_seconds": 15.0,
    "ramp_seconds": 3.0,
    "phones": 400,
}


@lru_cache
def get_load_settings() -> LoadSettings:
    return LoadSettings()
