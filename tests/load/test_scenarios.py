"""The load generator's people and requests: valid declarations for real places, the test
numbers the server is told about, and Locust user classes that import and are weighted."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from vietnam_provinces import Ward

from core.settings import Settings
from declarations.schemas import DeclarationIn
from load.data import (
    CITIZEN_PREFIX,
    INVALID_TOKEN_KINDS,
    SCANNED_PREFIX,
    fixed_code,
    invalid_token,
    make_declaration,
    make_households,
    otp_variable,
    vietnam_today,
)
from load.server import load_phones

ROOT = Path(__file__).resolve().parents[2]


class TestGeneratedDeclarations:
    def test_every_generated_declaration_passes_the_declaration_schema(self) -> None:
        rng = random.Random(7)
        today = vietnam_today()
        households = make_households(CITIZEN_PREFIX, 300, seed=7)
        bodies = [make_declaration(rng, p, today=today) for h in households for p in h.people]
        for body in bodies:
            DeclarationIn.model_validate(body, context={"today": today})
        # the mix a surge brings: dependants, symptoms and trips all occur
        assert any(b["person"]["relation"] != "self" for b in bodies)
        assert any(b["symptoms"] for b in bodies)
        assert any(b["travel"]["domestic"] for b in bodies)

    def test_addresses_are_real_wards_of_their_province(self) -> None:
        for household in make_households(CITIZEN_PREFIX, 100, seed=3):
            ward = Ward.from_code(household.holder.ward)  # type: ignore[arg-type]
            assert int(ward.province_code) == household.holder.province

    def test_households_are_the_same_for_the_same_seed(self) -> None:
        assert make_households(SCANNED_PREFIX, 20, seed=1) == make_households(
            SCANNED_PREFIX, 20, seed=1
        )


class TestTestNumbers:
    def test_the_server_setting_gives_every_phone_its_fixed_code(self) -> None:
        phones = load_phones(500, 20)
        codes = Settings(test_otp=otp_variable(phones)).test_otp_codes()
        assert len(codes) == 520
        assert codes["+84900000499"] == fixed_code("+84900000499")
        assert all(phone.startswith(("+849000", "+849001")) for phone in codes)


class TestInvalidTokens:
    def test_each_kind_differs_from_the_valid_token(self) -> None:
        valid = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJwMSJ9.c2lnbmF0dXJl"
        rng = random.Random(1)
        for kind in INVALID_TOKEN_KINDS:
            assert invalid_token(rng, valid, kind) != valid


LOCUST_PROBE = """
import json
import load.locustfile as f
from load.shape import surge_stages, stage_at
from load.settings import get_load_settings
stages = surge_stages(get_load_settings())
print(json.dumps({
    "users": {c.__name__: c.weight for c in (f.Citizen, f.CheckpointClerk, f.Analyst)},
    "stages": [[s.name, s.until, s.users] for s in stages],
    "at": [getattr(stage_at(stages, t), "name", None) for t in (0, 11, 31, 41)],
}))
"""


class TestLocustfile:
    def test_user_classes_import_with_weights_and_the_surge_from_the_environment(self) -> None:
        # A separate interpreter: importing Locust monkey-patches the standard library.
        env = {
            "KHAIBAO_LOAD_USERS": "12",
            "KHAIBAO_LOAD_SPIKE_FACTOR": "10",
            "KHAIBAO_LOAD_STEADY_SECONDS": "10",
            "KHAIBAO_LOAD_SPIKE_SECONDS": "20",
            "KHAIBAO_LOAD_RECOVERY_SECONDS": "10",
            "KHAIBAO_LOAD_CLERK_WEIGHT": "3",
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [sys.executable, "-c", LOCUST_PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        probe = json.loads(done.stdout.strip().splitlines()[-1])
        assert probe["users"]["CheckpointClerk"] == 3
        assert probe["stages"] == [["steady", 10, 12], ["spike", 30, 120], ["recovery", 40, 12]]
        assert probe["at"] == ["steady", "spike", "recovery", None]
