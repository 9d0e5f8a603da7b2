"""Ministry analysts pulling aggregated reports while the surge goes on."""

from __future__ import annotations

import itertools
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from load.fixtures import Fixtures, load_fixtures
from load.scenarios.common import bearer, call
from load.settings import get_load_settings

_settings = get_load_settings()
_next_analyst = itertools.count()
GROUPINGS = ("day", "province", "ward", "status", "symptom")


class Analyst(FastHttpUser):
    weight = _settings.analyst_weight
    wait_time = between(*_settings.analyst_wait)
    network_timeout = _settings.request_timeout
    connection_timeout = _settings.request_timeout

    fixtures: Fixtures
    rng: random.Random

    def on_start(self) -> None:
        if _settings.fixtures is None:
            raise StopUser()
        self.fixtures = load_fixtures(_settings.fixtures)
        if not self.fixtures.analyst_token:
            raise StopUser()  # a deployed service where no analyst account was given
        self.rng = random.Random(f"{_settings.seed}:analyst:{next(_next_analyst)}")

    def _window(self) -> str:
        return f"from={self.fixtures.report_from}&to={self.fixtures.report_to}"

    @task(4)
    def declarations_report(self) -> None:
        group_by = self.rng.choice(GROUPINGS)
        csv = self.rng.random() < 0.25
        headers = bearer(self.fixtures.analyst_token)
        if csv:
            headers["Accept"] = "text/csv"
        call(
            self,
            "GET",
            f"/v1/reports/declarations?{self._window()}&group_by={group_by}",
            name=f"/v1/reports/declarations?group_by={group_by}" + (" (csv)" if csv else ""),
            expect=(200,),
            rng=self.rng,
            headers=headers,
            retries=1,
        )

    @task(1)
    def checkpoints_report(self) -> None:
        call(
            self,
            "GET",
            f"/v1/reports/checkpoints?{self._window()}",
            name="/v1/reports/checkpoints",
            expect=(200,),
            rng=self.rng,
            headers=bearer(self.fixtures.analyst_token),
            retries=1,
        )
