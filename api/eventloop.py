"""The event loop `khaibao serve` runs on: Python's own selector loop, taking in at most
`ACCEPT_BATCH` new connections each time the listening socket wakes it.

Both ready-made choices failed a measurement (BENCHMARKS.md, "Accepting connections"):

* uvloop accepts one connection per turn of its loop. A saturated process took in a surge
  of new phones at about 60 connections a second, and some waited 9 s before their request
  was even read (the overload row: admitted p99 4–10 s).
* asyncio's loop accepts up to the whole listen backlog (2,048) at once. With
  `--workers 2` sharing one listening socket, the worker that woke first took 63 of a
  client's 64 connections and the other one idled: half the throughput.

A batch of 16 keeps what each does well (measured with `khaibao bench`): a surge of 1,024
new connections onto one saturated process is taken in within a second (admitted p99
946 ms, against 9.7 s on uvloop), and two workers woken together split a client's 64
connections 32/32.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

ACCEPT_BATCH = 16
EVENT_LOOP = "api.eventloop:FairAcceptLoop"  # uvicorn's `loop`: `khaibao serve`, the load tools


class FairAcceptLoop(asyncio.SelectorEventLoop):
    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: Any,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        # Called once per wake-up of the listening socket; accepts up to `backlog` in a row.
        # (The listen queue itself keeps its full size: asyncio sets it separately.)
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, min(backlog, ACCEPT_BATCH), *args, **kwargs
        )

    def _make_socket_transport(self, sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        # asyncio only turns Nagle's algorithm off when the socket says it is TCP, and a
        # listening socket handed to each worker (`--workers 2`) says protocol 0: every
        # answer then waited for the client's delayed ACK, 40 ms (1,436 no-ops/s instead
        # of 2,700). uvloop sets TCP_NODELAY on every TCP connection; so does this.
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super()._make_socket_transport(sock, *args, **kwargs)  # type: ignore[misc]
