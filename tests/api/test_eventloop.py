"""How `khaibao serve` takes connections (api/serve.py): on asyncio's own loop, every
connection with Nagle's algorithm off, and with several workers, each listening on its own
socket of the shared port so that new connections are spread across them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from api.serve import listening_socket


class Recording(asyncio.Protocol):
    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.SelectorEventLoop()  # what uvicorn's `loop="asyncio"` makes
    yield loop
    loop.close()


def test_connections_do_not_wait_for_delayed_acks(loop: asyncio.AbstractEventLoop) -> None:
    # With Nagle's algorithm on, an answer written in two parts waits for the client's
    # delayed ACK (40 ms): a worker served a no-op 1,436 times a second instead of 3,984.
    made: list[asyncio.BaseTransport] = []
    sock = listening_socket("127.0.0.1", 0)
    server = loop.run_until_complete(loop.create_server(lambda: Recording(made), sock=sock))
    client = socket.create_connection(sock.getsockname())
    try:
        loop.run_until_complete(asyncio.sleep(0.05))
        assert len(made) == 1
        accepted = made[0].get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.close()
        for transport in made:
            transport.close()
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_workers_sockets_on_one_port_share_new_connections() -> None:
    # Two workers sharing one socket: the one woken first took 63 of 64 connections.
    first = listening_socket("127.0.0.1", 0)
    second = listening_socket("127.0.0.1", first.getsockname()[1])
    clients: list[socket.socket] = []
    try:
        for sock in (first, second):
            sock.listen(128)
            sock.setblocking(False)
        clients = [socket.create_connection(first.getsockname()) for _ in range(64)]
        time.sleep(0.05)
        taken = [_accept_all(sock) for sock in (first, second)]
    finally:
        for sock in (first, second, *clients):
            sock.close()
    assert sum(taken) == 64
    assert min(taken) >= 16, taken


def _accept_all(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            accepted, _ = sock.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


def pid_app() -> object:
    """An app factory for the test below: answers with the worker's process id."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})

    return app


def test_two_workers_both_serve_and_stop_on_sigterm() -> None:
    with listening_socket("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "api.serve", "--app", f"{__name__}:pid_app"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pids = _answers(f"http://127.0.0.1:{port}/", connections=32, within=60)
        assert len(pids) == 2  # new connections reached both workers
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _answers(url: str, *, connections: int, within: float) -> set[str]:
    """The answers to one request on each of `connections` new connections, once the
    server answers at all."""
    deadline = time.monotonic() + within
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    time.sleep(1)  # the second worker may start a moment after the first
    answers = set()
    for _ in range(connections):
        with httpx.Client() as client:  # a new connection each time
            answers.add(client.get(url, timeout=5).text)
    return answers
