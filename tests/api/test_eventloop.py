"""The event loop `khaibao serve` runs on (api/eventloop.py): new connections are taken in a
batch at a time, and every connection has Nagle's algorithm off."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from api.eventloop import ACCEPT_BATCH, FairAcceptLoop


class Counting(asyncio.Protocol):
    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    # As a worker of `--workers N` receives it: made by hand, so it reports protocol 0.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    yield sock
    sock.close()


def _connect(listener: socket.socket, count: int) -> list[socket.socket]:
    return [socket.create_connection(listener.getsockname()) for _ in range(count)]


Served = tuple[FairAcceptLoop, list[asyncio.BaseTransport], list[socket.socket]]


@pytest.fixture
def served() -> Iterator[Served]:
    """The loop, the connections it made (a protocol records each), and the clients."""
    loop = FairAcceptLoop()
    made: list[asyncio.BaseTransport] = []
    clients: list[socket.socket] = []
    yield loop, made, clients
    for transport in made:
        transport.close()
    for client in clients:
        client.close()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def test_connections_are_accepted_a_batch_at_a_time(
    listener: socket.socket, served: Served
) -> None:
    # A worker woken with many connections waiting takes a batch and leaves the rest for
    # its next turn, or for another worker woken by the same socket.
    loop, made, clients = served
    clients += _connect(listener, ACCEPT_BATCH * 2 + 3)
    loop._accept_connection(lambda: Counting(made), listener, backlog=2048)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert len(made) == ACCEPT_BATCH
    loop._accept_connection(lambda: Counting(made), listener, backlog=2048)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert len(made) == ACCEPT_BATCH * 2


def test_accepted_connections_do_not_wait_for_delayed_acks(
    listener: socket.socket, served: Served
) -> None:
    # With Nagle's algorithm on, an answer written in two parts waits for the client's
    # delayed ACK (40 ms): a worker served a no-op 1,436 times a second instead of 3,984.
    loop, made, clients = served
    clients += _connect(listener, 1)
    server = loop.run_until_complete(loop.create_server(lambda: Counting(made), sock=listener))
    loop.run_until_complete(asyncio.sleep(0.05))
    assert len(made) == 1
    sock = made[0].get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    server.close()
