"""`khaibao map refresh`: rebuild the public map's snapshot now (from cron, or after a bulk
import), instead of waiting for the refresh job of the API processes."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from core.context import ContextRunner
from publicmap.service import refresh


def _refresh(args: argparse.Namespace, *, run: ContextRunner) -> int:
    version = run(refresh)
    print(f"public map published, version {version}")
    return 0


def register(commands: Any, run: ContextRunner) -> None:
    parser = commands.add_parser("map", help="the public epidemic map")
    sub = parser.add_subparsers(dest="map_command", required=True)
    rebuild = sub.add_parser("refresh", help="rebuild the published figures from the counters")
    rebuild.set_defaults(handler=partial(_refresh, run=run))
