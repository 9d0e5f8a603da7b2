"""The stages of the surge, apart from Locust so the report can split results by stage."""

from __future__ import annotations

from dataclasses import dataclass

from load.settings import LoadSettings


@dataclass(frozen=True)
class Stage:
    name: str
    until: float  # seconds since the start
    users: int
    spawn_rate: float


def surge_stages(settings: LoadSettings) -> list[Stage]:
    steady, peak = settings.users, settings.peak_users
    ramp = settings.ramp_seconds
    first = settings.steady_seconds
    second = first + settings.spike_seconds
    third = second + settings.recovery_seconds
    return [
        Stage("steady", first, steady, max(1.0, steady / ramp)),
        Stage("spike", second, peak, max(1.0, (peak - steady) / ramp)),
        Stage("recovery", third, steady, max(1.0, (peak - steady) / ramp)),
    ]


def stage_at(stages: list[Stage], elapsed: float) -> Stage | None:
    for stage in stages:
        if elapsed < stage.until:
            return stage
    return None
