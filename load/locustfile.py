"""Wires the simulated roles and the surge shape; the scenarios live in `load.scenarios`.

Run through `khaibao load` (which starts a server or, with `--host URL`, uses a running
one, seeds it and writes the reports), or by hand after `khaibao load seed --host URL` has
written load/reports/fixtures.json:

    locust -f load/locustfile.py --host URL                  # web UI on :8089
    locust -f load/locustfile.py --host URL --processes 2 --headless

Another fixtures file: KHAIBAO_LOAD_FIXTURES. See README, "Load tests".
"""

from __future__ import annotations

from load.scenarios.analyst import Analyst
from load.scenarios.arrivals import ArrivingFamily
from load.scenarios.citizen import Citizen
from load.scenarios.clerk import CheckpointClerk
from load.scenarios.monitoring import MonitoringOfficer
from load.scenarios.public import PublicVisitor
from load.shape import SurgeShape

__all__ = [
    "Analyst",
    "ArrivingFamily",
    "CheckpointClerk",
    "Citizen",
    "MonitoringOfficer",
    "PublicVisitor",
    "SurgeShape",
]
