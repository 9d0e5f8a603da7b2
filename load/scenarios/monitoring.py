"""Medical monitoring: a health officer works through the worklist of their ward (all active
episodes, then those needing attention) and records a call, and the people being watched
send their daily report (temperature, symptoms) with an Idempotency-Key."""

from __future__ import annotations

import random
import uuid

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from load.fixtures import Fixtures, load_fixtures
from load.scenarios.common import bearer, call
from load.settings import get_load_settings

_settings = get_load_settings()


class MonitoringOfficer(FastHttpUser):
    weight = _settings.officer_weight
    wait_time = between(*_settings.officer_wait)
    network_timeout = _settings.request_timeout
    connection_timeout = _settings.request_timeout

    fixtures: Fixtures
    rng: random.Random

    def on_start(self) -> None:
        if _settings.fixtures is None:
            raise StopUser()
        self.fixtures = load_fixtures(_settings.fixtures)
        if not self.fixtures.officer_token or not self.fixtures.monitored:
            raise StopUser()  # no officer account or no episode on this service
        self.rng = random.Random()

    @task(3)
    def worklist(self) -> None:
        call(
            self,
            "GET",
            "/v1/monitoring?status=active",
            name="/v1/monitoring (worklist)",
            expect=(200,),
            rng=self.rng,
            headers=bearer(self.fixtures.officer_token),
        )

    @task(1)
    def needs_attention(self) -> None:
        call(
            self,
            "GET",
            "/v1/monitoring?needs_attention=true",
            name="/v1/monitoring?needs_attention",
            expect=(200,),
            rng=self.rng,
            headers=bearer(self.fixtures.officer_token),
        )

    @task(3)
    def daily_report(self) -> None:
        """A watched person's day, sent by the citizen who declares for them."""
        episode = self.rng.choice(self.fixtures.monitored)
        body = {"temperature": round(self.rng.uniform(36.2, 37.4), 1), "symptoms": []}
        call(
            self,
            "POST",
            f"/v1/monitoring/{episode.episode_id}/reports",
            name="/v1/monitoring/{id}/reports (citizen)",
            expect=(200, 201),
            rng=self.rng,
            json=body,
            headers={**bearer(episode.citizen_token), "Idempotency-Key": str(uuid.uuid4())},
        )

    @task(1)
    def call_made(self) -> None:
        episode = self.rng.choice(self.fixtures.monitored)
        call(
            self,
            "POST",
            f"/v1/monitoring/{episode.episode_id}/reports",
            name="/v1/monitoring/{id}/reports (officer)",
            expect=(200, 201),
            rng=self.rng,
            json={"outcome": "seen_ok", "symptoms": []},
            headers={**bearer(self.fixtures.officer_token), "Idempotency-Key": str(uuid.uuid4())},
        )
