"""The load tools stand beside the service: `khaibao serve` and the app never import load/,
`khaibao load` / `khaibao bench` come from the tools' entry points, and the surge test
(Locust and its driver) runs without the service's code (issue 16, item 7)."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

CHECK = """
import sys
from api.cli import build_parser
from api.app import app_from_environment
build_parser("serve").parse_args(["serve"])
print(sorted(m for m in sys.modules if m == "load" or m.startswith("load.")))
"""


LOAD_ALONE = """
import sys
import load.locustfile, load.run
ours = {"SERVICE"}
print(sorted({m.split(".")[0] for m in sys.modules} & ours))
"""


def test_the_surge_test_loads_none_of_the_services_code() -> None:
    """Locust and `khaibao load`'s driver can run from a machine holding only load/."""
    root = Path(__file__).resolve().parents[2]
    service = sorted(
        p.name
        for p in root.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"load", "tests", "docs", "var"}
    )
    check = LOAD_ALONE.replace('{"SERVICE"}', repr(set(service)))
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_load_data_names_the_symptoms_the_api_accepts() -> None:
    """load.data keeps its own list (it imports nothing of the service): the same as the
    API's, or declarations the load sends would be refused."""
    from load.data import SYMPTOMS
    from people.vocabulary import SYMPTOMS as ACCEPTED

    assert SYMPTOMS == ACCEPTED


def test_load_data_makes_the_people_the_demo_makes() -> None:
    """Its copy of the demo's name and CCCD makers draws the same people from a seed."""
    from api import demo_people
    from load import data

    holder = data.make_person(random.Random(5), phone="+84900000001")
    demo_holder = demo_people.Person(**asdict(holder))
    for seed in range(20):
        ours, theirs = random.Random(seed), random.Random(seed)
        assert data.make_name(ours, "female") == demo_people.make_name(theirs, "female")
        cccd = demo_people.make_cccd(theirs, 1, "male", 1990)
        assert data.make_cccd(ours, 1, "male", 1990) == cccd
        assert asdict(data.make_dependant(ours, holder)) == asdict(
            demo_people.make_dependant(theirs, demo_holder)
        )


def test_starting_the_service_imports_nothing_of_load() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_load_commands_come_from_the_tools_entry_points() -> None:
    from api.cli import build_parser

    args = build_parser("bench").parse_args(["bench", "--duration", "2", "--rounds", "3"])
    assert (args.duration, args.rounds) == (2, 3)
    args = build_parser("load").parse_args(["load", "seed", "--host", "http://staging:8000"])
    assert (args.step, args.host) == ("seed", "http://staging:8000")
