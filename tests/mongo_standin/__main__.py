"""Run the MongoDB stand-in in the foreground: ``python -m tests.mongo_standin --port 27099``.

Prints the connection URL on stdout once listening and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from tests.mongo_standin.server import MongoStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mongo_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=27017, help="port to bind; 0 picks one")
    parser.add_argument("--replica-set", default="rs0", help="replica set name to report")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    standin = MongoStandin(args.host, args.port, args.replica_set).start()
    print(standin.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
