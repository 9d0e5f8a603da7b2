"""A citizen on the mobile app: signs in with a test number's fixed code, declares for
themselves or a dependant with an Idempotency-Key, shows their QR code, looks at the people
they declare for. A phone whose request got no answer sends it again with the same key,
and now and then an acknowledged declaration is replayed as if the answer had been lost:
the service must return the same declaration, not a second one."""

from __future__ import annotations

import itertools
import os
import random
import uuid
from functools import lru_cache
from typing import Any

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from load.data import CITIZEN_PREFIX, Household, make_declaration, make_households, vietnam_today
from load.outcomes import OUTCOMES
from load.scenarios.common import bearer, call
from load.settings import get_load_settings

_settings = get_load_settings()
_next_household = itertools.count()


@lru_cache(maxsize=1)
def households() -> list[Household]:
    return make_households(CITIZEN_PREFIX, _settings.phones, seed=_settings.seed)


class Citizen(FastHttpUser):
    weight = _settings.citizen_weight
    wait_time = between(*_settings.citizen_wait)
    network_timeout = _settings.request_timeout
    connection_timeout = _settings.request_timeout

    household: Household
    rng: random.Random
    headers: dict[str, str] | None
    person_ids: list[str]

    def on_start(self) -> None:
        number = next(_next_household)
        everyone = households()
        self.household = everyone[number % len(everyone)]
        # The process id too: with `--processes N` each process counts users from 0, and two
        # phones sending the same Idempotency-Key with other bodies would be refused (409).
        self.rng = random.Random(f"{_settings.seed}:citizen:{number}:{os.getpid()}")
        self.headers = None
        self.person_ids = []
        self.sign_in()

    def sign_in(self) -> bool:
        sent = call(
            self,
            "POST",
            "/v1/auth/otp",
            name="/v1/auth/otp",
            expect=(202,),
            rng=self.rng,
            json={"phone": self.household.phone},
        )
        if sent is None:
            return False
        tokens = call(
            self,
            "POST",
            "/v1/auth/token",
            name="/v1/auth/token (phone)",
            expect=(200,),
            rng=self.rng,
            json={"phone": self.household.phone, "otp": self.household.code},
            retries=0,
        )
        if tokens is None:
            return False
        self.headers = bearer(tokens["access_token"])
        return True

    def _signed_in(self) -> bool:
        return self.headers is not None or self.sign_in()

    def _submit(self, body: dict[str, Any], key: str, name: str) -> Any:
        assert self.headers is not None
        return call(
            self,
            "POST",
            "/v1/declarations",
            name=name,
            expect=(200, 201),
            rng=self.rng,
            json=body,
            headers={**self.headers, "Idempotency-Key": key},
        )

    @task(6)
    def declare(self) -> None:
        if not self._signed_in():
            return
        people = self.household.people
        # Most declare for themselves; a parent sometimes declares for a child or a parent.
        person = people[0] if self.rng.random() < 0.7 else self.rng.choice(people)
        body = make_declaration(self.rng, person, today=vietnam_today())
        key = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        answer = self._submit(body, key, "/v1/declarations")
        if not answer:
            return
        OUTCOMES.acknowledge(str(answer["id"]), self.household.phone)
        if answer.get("person_id") and answer["person_id"] not in self.person_ids:
            self.person_ids.append(str(answer["person_id"]))
        if self.rng.random() < _settings.replay_share:
            again = self._submit(body, key, "/v1/declarations [replay]")
            if again and again.get("id") != answer["id"]:
                OUTCOMES.replays_mismatched += 1

    @task(3)
    def show_qr(self) -> None:
        if not self.person_ids or not self._signed_in():
            return
        person_id = self.rng.choice(self.person_ids)
        call(
            self,
            "GET",
            f"/v1/people/{person_id}/qr",
            name="/v1/people/{id}/qr",
            expect=(200,),
            rng=self.rng,
            headers=self.headers,
        )

    @task(1)
    def list_people(self) -> None:
        if not self._signed_in():
            return
        call(
            self,
            "GET",
            "/v1/people",
            name="/v1/people",
            expect=(200,),
            rng=self.rng,
            headers=self.headers,
        )
