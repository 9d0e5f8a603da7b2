"""The load tools stand beside the service: `khaibao serve` and the app never import load/,
and `khaibao load` / `khaibao bench` come from the tools' entry points (issue 16, item 7)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from api.cli import build_parser
from api.app import app_from_environment
build_parser("serve").parse_args(["serve"])
print(sorted(m for m in sys.modules if m == "load" or m.startswith("load.")))
"""


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
