"""`khaibao demo`: a fresh install gets a realistic population written by the service's own
code, once (a second run adds nothing), never in production; and the empty dashboard says
why it is empty and what to run (issue 24, item 2)."""

from __future__ import annotations

import base64
import secrets
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.demo import EARLIER_CASES, MARKER, seed_demo
from core.clock import local_day, utcnow
from tests.accounts.test_staff_accounts import assert_one_sentence, khaibao
from tests.browser import chromium
from tests.conftest import STAFF_PASSWORD, make_settings
from tests.servers import RunningServer, khaibao_command, running_server

PROVINCES = {1, 79, 48, 31}


async def _reports(database_url: str, password: str) -> dict[str, Any]:
    """What an analyst sees over the last 30 days, signed in as the demo's analyst."""
    app = create_app(make_settings(database_url))
    today = local_day(utcnow())
    window = {"from": str(today - timedelta(days=29)), "to": str(today)}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            tokens = await client.post(
                "/v1/auth/token", json={"username": MARKER, "password": password}
            )
            assert tokens.status_code == 200, tokens.text
            headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
            out: dict[str, Any] = {}
            for group_by in ("province,status", "day"):
                answer = await client.get(
                    "/v1/reports/declarations",
                    params={**window, "group_by": group_by},
                    headers=headers,
                )
                assert answer.status_code == 200, answer.text
                out[group_by] = answer.json()["rows"]
            checkpoints = await client.get(
                "/v1/reports/checkpoints", params=window, headers=headers
            )
            out["checkpoints"] = checkpoints.json()["rows"]
            regions = await client.get("/v1/public/regions")  # no sign-in
            out["map"] = {r["code"]: r["confirmed_cases"] for r in regions.json()["regions"]}
            return out


class TestDemoPopulation:
    async def test_a_realistic_population_once(self, database_url: str) -> None:
        settings = make_settings(database_url, test_otp="")
        counts, password = await seed_demo(settings)
        assert password is not None
        assert counts["declarations"] >= 1000
        assert counts["checkpoints"] == 6
        assert counts["scans"] > 50
        assert counts["check-ins"] > 50
        assert counts["cases"] == 3 + EARLIER_CASES
        assert counts["contacts"] > 3

        seen = await _reports(database_url, password)
        shown = [r for r in seen["province,status"] if not r["suppressed"] and r["count"]]
        assert {r["province"] for r in shown} == PROVINCES
        assert {r["status"] for r in shown} == {"green", "yellow", "red"}
        assert len({r["day"] for r in seen["day"] if r["count"]}) == 30
        decisions = {(r["event"], r["decision"]) for r in seen["checkpoints"]}
        assert {("scan", "allow"), ("scan", "deny"), ("checkin", "checkin")} <= decisions
        # The public map is published as the demo ends: cases are shaded right away.
        assert any(seen["map"][code] for code in PROVINCES)
        assert {code for code, n in seen["map"].items() if n != 0} <= PROVINCES

        again, no_password = await seed_demo(settings)
        assert (again, no_password) == ({}, None)
        assert await _reports(database_url, password) == seen  # nothing added

    def test_refused_in_production(self, tmp_path: Path) -> None:
        refused = khaibao(
            "demo",
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_ENV="production",
            KHAIBAO_SECRET_KEY=secrets.token_urlsafe(48),
            KHAIBAO_DATA_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
            KHAIBAO_NOTIFY_WEBHOOK_SECRET=secrets.token_urlsafe(32),
            # Production needs Redis for its rate limits; with it the settings are valid, so
            # what refuses is the demo itself.
            KHAIBAO_REDIS_URL="redis://127.0.0.1:6379/0",
        )
        assert_one_sentence(refused, "refuses to run with KHAIBAO_ENV=production")


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with running_server(tmp_path) as running:
        yield running


def _run(server: RunningServer, *args: str, stdin: str = "") -> None:
    done = subprocess.run(
        [*khaibao_command(), *args],
        input=stdin,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr


class TestEmptyDashboardInChromium:
    def test_it_says_why_and_what_to_run_then_shows_the_demo(
        self, server: RunningServer, tmp_path: Path
    ) -> None:
        _run(
            server, "users", "create", "--role", "analyst", "--username", "a", stdin=STAFF_PASSWORD
        )
        with chromium(server.url, tmp_path / "profile", locale="vi-VN") as browser:
            page = browser.new_page()
            page.goto(server.url + "/dashboard")
            page.fill("#username", "a")
            page.fill("#password", STAFF_PASSWORD)
            page.click("#signin-button")
            page.wait_for_selector("#status[data-state=ready]")
            notice = page.inner_text("#sparse")
            assert page.is_visible("#sparse")
            assert "Chưa đủ dữ liệu: các ô dưới 5 được ẩn — hãy thử khaibao demo" in notice
            assert "Not enough data: cells under 5 are hidden — try khaibao demo" in notice

            _run(server, "demo")
            page.click("#range button[type=submit]")
            page.wait_for_selector("#sparse", state="hidden")
            assert page.is_hidden("#sparse")
            totals = page.eval_on_selector(
                "#province-table tfoot tr", "row => row.cells[row.cells.length - 1].textContent"
            )
            assert int(totals) > 100
