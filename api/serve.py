"""How `khaibao serve` (and the load tools) run the app: uvicorn on Python's own asyncio
loop, and with several workers, one listening socket per worker on the same port.

Measured reasons (BENCHMARKS.md, "Accepting connections"):

* uvloop, uvicorn's default, accepts one new connection per turn of its loop: a saturated
  process took in a surge of phones at ≈ 60 connections/s and some waited 9 s before their
  request was read. asyncio's loop accepts the whole listen queue at once.
* Workers sharing one listening socket (uvicorn's `--workers`) are all woken by a new
  connection, and with asyncio's loop the first one takes the whole queue: one worker took
  63 of a client's 64 connections. Each worker here listens on a socket of its own with
  `SO_REUSEPORT`, and the kernel spreads new connections across the sockets.
* Nagle's algorithm: asyncio turns it off on connections of a socket that says it is TCP,
  and uvicorn's shared socket says protocol 0 (every answer then waited for the client's
  delayed ACK, 40 ms). The sockets made here say TCP, so asyncio turns it off itself.

Only public interfaces: `uvicorn.Config`, `uvicorn.Server.run(sockets=...)`, the socket
module. Where `SO_REUSEPORT` does not exist, workers share one socket through uvicorn.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger(__name__)

APP = "api.app:app_from_environment"
STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start
# uvicorn's options for every worker; `host`, `port` and `workers` are given per call.
OPTIONS: dict[str, Any] = {
    "factory": True,
    "loop": "asyncio",
    # X-Forwarded-For is the app's to believe, from KHAIBAO_TRUSTED_PROXIES only
    # (api/app.py); uvicorn's own default would believe it from 127.0.0.1.
    "proxy_headers": False,
    "access_log": False,
    "timeout_graceful_shutdown": 10,
}


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that other sockets of this user may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, *, workers: int = 1, app: str = APP) -> int:
    if workers == 1:
        uvicorn.run(app, host=host, port=port, **OPTIONS)
        return 0
    if not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, host=host, port=port, workers=workers, **OPTIONS)
        return 0
    # Bound, never listening: holds the port (and finds one for port 0) while workers start.
    holder = listening_socket(host, port)
    port = holder.getsockname()[1]
    try:
        return Workers(app, host, port, workers).run()
    finally:
        holder.close()


def run_worker(app: str, host: str, port: int) -> None:
    """One worker process: its own socket on the shared port, one uvicorn server."""
    sock = listening_socket(host, port)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, **OPTIONS)).run(sockets=[sock])


class Workers:
    """Starts the worker processes, starts a new one when one dies, and stops them all on
    SIGINT or SIGTERM."""

    def __init__(self, app: str, host: str, port: int, count: int) -> None:
        self.args = (app, host, port)
        self.count = count
        self.processes: list[BaseProcess] = []
        self.stopping = False

    def start_one(self) -> BaseProcess:
        process = multiprocessing.get_context("spawn").Process(target=run_worker, args=self.args)
        process.start()
        return process

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.stop)
        self.processes = [self.start_one() for _ in range(self.count)]
        code = 0
        while not self.stopping:
            for index, process in enumerate(self.processes):
                if process.is_alive() or self.stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:  # would fail again: give up
                    self.stopping, code = True, STARTUP_FAILURE
                    break
                log.warning("worker %s exited with %s", process.pid, process.exitcode)
                self.processes[index] = self.start_one()
            time.sleep(0.2)
        # SIGTERM: each worker finishes what it is serving. (After a Ctrl-C the workers have
        # had the terminal's SIGINT too; a SIGTERM after it does not cut their shutdown short.)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join()
        return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.serve", description=__doc__)
    parser.add_argument("--app", default=APP, help="an app factory, module:function")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    return serve(args.host, args.port, workers=args.workers, app=args.app)


if __name__ == "__main__":
    sys.exit(main())
