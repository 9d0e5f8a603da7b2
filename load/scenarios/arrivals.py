"""An arriving family at the border: the traveller fills in one entry form for three
(`POST /v1/entry-declarations`, no account), the phone loses the answer and sends the same
form again with the same Idempotency-Key (it must get the same declaration back), then a
border clerk scans the family, once by the QR token and once by the code read aloud. A
scan that does not find a declaration the service acknowledged is a lost write."""

from __future__ import annotations

import itertools
import random
import uuid

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from load.data import make_entry_family, vietnam_today
from load.fixtures import Clerk, load_fixtures
from load.outcomes import OUTCOMES
from load.scenarios.common import bearer, call
from load.settings import get_load_settings

_settings = get_load_settings()
_next_family = itertools.count()
FAMILY_SIZE = 3


class ArrivingFamily(FastHttpUser):
    weight = _settings.family_weight
    wait_time = between(*_settings.family_wait)
    network_timeout = _settings.request_timeout
    connection_timeout = _settings.request_timeout

    clerk: Clerk
    point: str
    number: int
    rng: random.Random

    def on_start(self) -> None:
        if _settings.fixtures is None:
            raise StopUser()
        fixtures = load_fixtures(_settings.fixtures)
        if not fixtures.border_clerks or not fixtures.entry_point:
            raise StopUser()  # no border checkpoint on this service
        self.number = next(_next_family)
        self.clerk = fixtures.border_clerks[self.number % len(fixtures.border_clerks)]
        self.point = fixtures.entry_point
        self.rng = random.Random(f"{_settings.seed}:family:{self.number}:{uuid.uuid4()}")

    @task
    def arrive(self) -> None:
        # A new family each time: passports from a range of their own per simulated user.
        index = self.rng.randrange(10**7)
        body = make_entry_family(
            self.rng, index, today=vietnam_today(), point_of_entry=self.point, size=FAMILY_SIZE
        )
        key = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        headers = {"Idempotency-Key": key}
        answer = call(
            self,
            "POST",
            "/v1/entry-declarations",
            name="/v1/entry-declarations",
            expect=(200, 201),
            rng=self.rng,
            json=body,
            headers=headers,
        )
        if not answer:
            return
        again = call(
            self,
            "POST",
            "/v1/entry-declarations",
            name="/v1/entry-declarations [replay]",
            expect=(200, 201),
            rng=self.rng,
            json=body,
            headers=headers,
        )
        if again and again.get("id") != answer.get("id"):
            OUTCOMES.replays_mismatched += 1
        path = f"/v1/checkpoints/{self.clerk.checkpoint_id}/entry-scans"
        for name, scan in (
            ("token", {"token": answer["token"]}),
            ("code", {"code": answer["code"]}),
        ):
            found = call(
                self,
                "POST",
                path,
                name=f"/v1/checkpoints/{{id}}/entry-scans ({name})",
                expect=(200, 404),
                rng=self.rng,
                json=scan,
                headers=bearer(self.clerk.access_token),
            )
            if found is not None and "decision" not in found:
                OUTCOMES.entries_lost += 1  # acknowledged, and the border does not find it
