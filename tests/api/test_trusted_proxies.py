"""Which `X-Forwarded-For` is believed. Limits count the client's address; uvicorn believed
the header from 127.0.0.1 by default, so anything on the host (or a proxy in front that
passes the header through) could name a new address per request and never be limited.
Trusted proxies are now an explicit setting, `KHAIBAO_TRUSTED_PROXIES`, empty by default:
then the header is ignored and the connecting address is the client.

Real `khaibao serve` processes: the header is handled before the application sees the
request, so only the real server shows what it believes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tests.conftest import _mongo_database_url as mongo_database_url
from tests.conftest import on_mongodb
from tests.faults.servers import ApiServer, server_env

LIMIT = 5
ROUTE = "/.well-known/jwks.json"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ApiServer]]:
    started: list[ApiServer] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def new_database(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], str]:
    """A fresh database per server: SQLite, or MongoDB with KHAIBAO_TEST_BACKEND=mongo."""
    names = itertools.count()
    if on_mongodb():
        base = request.getfixturevalue("mongo_url")
        return lambda: mongo_database_url(base)
    return lambda: f"sqlite:///{tmp_path}/khaibao-{next(names)}.sqlite3"


def start(servers: list[ApiServer], database_url: str, tmp_path: Path, **extra: str) -> ApiServer:
    env = server_env(database_url, KHAIBAO_REQUESTS_PER_ADDRESS_PER_MINUTE=str(LIMIT), **extra)
    env.pop("FORWARDED_ALLOW_IPS", None)
    server = ApiServer(tmp_path, env)
    servers.append(server)
    return server.start()


def statuses(server: ApiServer, forwarded_for: list[str]) -> list[int]:
    """One request per address named in `X-Forwarded-For`, all from 127.0.0.1."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return [
            client.get(ROUTE, headers={"X-Forwarded-For": address}).status_code
            for address in forwarded_for
        ]


FLOOD = [f"198.51.100.{n}" for n in range(1, 2 * LIMIT + 1)]


class TestForwardedFor:
    def test_by_default_a_client_cannot_choose_its_address(
        self, servers: list[ApiServer], new_database: Callable[[], str], tmp_path: Path
    ) -> None:
        server = start(servers, new_database(), tmp_path)
        answered = statuses(server, FLOOD)
        assert answered[:LIMIT] == [200] * LIMIT
        assert set(answered[LIMIT:]) == {429}, answered

    def test_the_header_is_believed_only_from_a_configured_proxy(
        self, servers: list[ApiServer], new_database: Callable[[], str], tmp_path: Path
    ) -> None:
        elsewhere = start(
            servers, new_database(), tmp_path, KHAIBAO_TRUSTED_PROXIES="10.0.0.1,192.0.2.0/24"
        )
        assert set(statuses(elsewhere, FLOOD)[LIMIT:]) == {429}
        behind = start(servers, new_database(), tmp_path, KHAIBAO_TRUSTED_PROXIES="127.0.0.1")
        # Each client behind the proxy has its own limit...
        assert set(statuses(behind, FLOOD)) == {200}
        # ...and one client is limited however the proxy relays it.
        same = statuses(behind, ["203.0.113.9"] * (LIMIT + 1))
        assert same[-1] == 429


class TestSetting:
    @pytest.mark.parametrize("value", ["*", "proxy.internal", "10.0.0.1;10.0.0.2", "300.1.1.1"])
    def test_anything_but_addresses_and_networks_stops_start_up(self, value: str) -> None:
        with pytest.raises(ValueError, match="IP addresses or networks"):
            Settings(trusted_proxies=value)

    def test_empty_by_default(self) -> None:
        assert Settings().trusted_proxy_list == []
        listed = Settings(trusted_proxies=" 10.0.0.1, 192.0.2.0/24 ,").trusted_proxy_list
        assert listed == ["10.0.0.1", "192.0.2.0/24"]
