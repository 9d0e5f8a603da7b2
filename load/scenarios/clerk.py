"""Checkpoint staff scanning a stream of personal QR codes at their checkpoint: mostly real
tokens fetched before the run, some forged or damaged ones that must be denied."""

from __future__ import annotations

import itertools
import json
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from load.fixtures import CertificateScan, Clerk, load_fixtures
from load.outcomes import OUTCOMES
from load.scenarios.common import bearer, call
from load.settings import get_load_settings

_settings = get_load_settings()
_next_clerk = itertools.count()
INVALID_SHARE = 0.15


class CheckpointClerk(FastHttpUser):
    weight = _settings.clerk_weight
    wait_time = between(*_settings.clerk_wait)
    network_timeout = _settings.request_timeout
    connection_timeout = _settings.request_timeout

    clerk: Clerk
    valid: list[str]
    invalid: list[str]
    certificates: list[CertificateScan]
    rng: random.Random

    def on_start(self) -> None:
        if _settings.fixtures is None:
            raise StopUser()
        fixtures = load_fixtures(_settings.fixtures)
        if not fixtures.clerks:
            raise StopUser()  # no checkpoint staff on this service
        number = next(_next_clerk)
        self.clerk = fixtures.clerks[number % len(fixtures.clerks)]
        self.valid, self.invalid = fixtures.valid_tokens, fixtures.invalid_tokens
        self.certificates = fixtures.certificate_scans
        self.rng = random.Random(f"{_settings.seed}:clerk:{number}")

    @task(5)
    def scan(self) -> None:
        forged = bool(self.invalid) and self.rng.random() < INVALID_SHARE
        token = self.rng.choice(self.invalid if forged else self.valid)
        answer = call(
            self,
            "POST",
            f"/v1/checkpoints/{self.clerk.checkpoint_id}/scans",
            name="/v1/checkpoints/{id}/scans" + (" (invalid)" if forged else ""),
            expect=(200,),
            rng=self.rng,
            json={"token": token},
            headers=bearer(self.clerk.access_token),
            retries=1,
        )
        if forged and answer and answer.get("decision") == "allow":
            OUTCOMES.invalid_tokens_allowed += 1

    @task(1)
    def certificate(self) -> None:
        """A traveller's certificate from abroad (EU DCC or SMART Health Card): every check,
        against the trust list."""
        if not self.certificates:
            return
        scan = self.rng.choice(self.certificates)
        call(
            self,
            "POST",
            scan.path,
            name="/v1/checkpoints/{id}/certificates",
            expect=(200,),
            rng=self.rng,
            json=json.loads(scan.body),
            headers={"Authorization": scan.authorization},
        )
