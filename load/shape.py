"""The surge: a steady population, then ten times as many for a minute (the evening the
app is announced on television), then back down, to see that the service recovers."""

from __future__ import annotations

from locust import LoadTestShape

from load.settings import get_load_settings
from load.stages import stage_at, surge_stages


class SurgeShape(LoadTestShape):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.stages = surge_stages(get_load_settings())

    def tick(self) -> tuple[int, float] | None:
        stage = stage_at(self.stages, self.get_run_time())  # type: ignore[no-untyped-call]
        return None if stage is None else (stage.users, stage.spawn_rate)
