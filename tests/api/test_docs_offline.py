"""`/docs` on a closed network: a real server, Debian's Chromium with every request that
leaves 127.0.0.1 cut, and the page must still list every operation. The assets come from
an installed package (swagger-ui-py) and its licence is served with them; `/favicon.ico`
is the service's own icon, so the browser console has no 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium
from tests.servers import RunningServer, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path) as running:
        yield running


class TestDocsOffline:
    def test_docs_list_every_operation_with_the_network_cut(
        self, server: RunningServer, tmp_path: Path
    ) -> None:
        operations = [
            (method.upper(), path, operation.get("summary", ""))
            for path, item in httpx.get(server.url + "/openapi.json", timeout=60)
            .json()["paths"]
            .items()
            for method, operation in item.items()
        ]
        assert len(operations) > 20
        with chromium(server.url, tmp_path / "profile") as browser:
            page = browser.new_page()
            failed = browser.problems
            page.on(
                "response",
                lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(server.url + "/docs")
            page.wait_for_selector(".opblock-summary")
            shown = page.eval_on_selector_all(
                ".opblock",
                """blocks => blocks.map(b => [
                    b.querySelector('.opblock-summary-method').textContent.trim(),
                    b.querySelector('.opblock-summary-path').dataset.path])""",
            )
            # An operation with two tags is shown under each: compare as sets.
            assert set(map(tuple, shown)) == {(m, p) for m, p, _ in operations}
            assert "Send a one-time sign-in code to a phone" in page.inner_text("body")
            icon = page.eval_on_selector("link[rel~=icon]", "link => link.href")
            assert icon == server.url + "/favicon.ico"

        assert browser.outside == []  # nothing was even asked of the internet
        assert browser.problems == []
        assert httpx.get(icon).status_code == 200


class TestAssetsFromThePackage:
    async def test_assets_licence_and_icon(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "/docs/assets/swagger-ui-bundle.js" in page.text
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        licence = await client.get("/docs/assets/LICENSE")
        assert "Apache License" in licence.text
        assert (await client.get("/docs/assets/..%2F..%2Fcore.py")).status_code == 404
        icon = await client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
        assert (await client.get("/redoc")).status_code == 404  # it would load a CDN


class TestTheRootAddress:
    """`/` is the address uvicorn prints: whoever opens it learns where to go."""

    async def test_a_browser_is_sent_to_the_docs(self, client: httpx.AsyncClient) -> None:
        answer = await client.get("/", headers={"Accept": "text/html,*/*;q=0.8"})
        assert answer.status_code == 307
        assert answer.headers["location"] == "/docs"

    async def test_a_program_gets_an_index_of_what_is_there(
        self, client: httpx.AsyncClient
    ) -> None:
        index = (await client.get("/", headers={"Accept": "application/json"})).json()
        for name in ("docs", "openapi", "health"):
            assert (await client.get(index[name])).status_code == 200

    async def test_it_is_not_an_operation_of_the_api(self, client: httpx.AsyncClient) -> None:
        assert "/" not in (await client.get("/openapi.json")).json()["paths"]
