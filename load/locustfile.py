"""Wires the simulated roles and the surge shape; the scenarios live in `load.scenarios`.

Run through `khaibao load` (which starts a server, seeds it and writes the reports), or by
hand against a seeded server: `locust -f load/locustfile.py --host http://127.0.0.1:8000`
with KHAIBAO_LOAD_FIXTURES pointing at the seeding step's JSON.
"""

from __future__ import annotations

from load.scenarios.analyst import Analyst
from load.scenarios.citizen import Citizen
from load.scenarios.clerk import CheckpointClerk
from load.shape import SurgeShape

__all__ = ["Analyst", "CheckpointClerk", "Citizen", "SurgeShape"]
