"""The public FAQ page in a real browser: Debian's Chromium driven by Playwright, against a
real `khaibao serve` on a SQLite file where questions were asked and published through the
service. As with the dashboard, a missing Chromium fails the test rather than skipping it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.principals import Principal
from questions import service
from questions.schemas import AnswerIn, QuestionIn
from runtime.context import build_context, close_context
from tests.conftest import make_settings
from tests.reports.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REPO,
    _free_port,
    _khaibao,
    _require_browser,
)

PUBLISHED = [
    ("Tôi khai báo hộ bố mẹ được không?", "Được. Thêm bố mẹ là người phụ thuộc."),
    ("Mã QR cá nhân lấy ở đâu?", "Trong ứng dụng, mục Mã QR."),
    ("Khai báo y tế có bắt buộc không?", "Có, khi đi qua chốt kiểm soát."),
    ("<img src=x onerror=alert(1)> là gì?", "Một chuỗi thử, hiện ra như chữ."),
]
SCREENSHOT = Path("/tmp/khaibao-hoi-dap.png")


async def _seed(database_url: str) -> None:
    ctx = await build_context(make_settings(database_url))
    responder = Principal("usr_browser", "responder")
    try:
        for n, (title, answer) in enumerate(PUBLISHED):
            citizen = Principal(f"acc_browser{n}", "citizen")
            asked = QuestionIn(kind="question", category="declaration", title=title, body=title)
            question_id = await service.ask(ctx, citizen, asked, locale="vi")
            given = AnswerIn(body=answer, publish=True)
            await service.answer(ctx, responder, question_id, given)
    finally:
        await close_context(ctx)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    database_url = f"sqlite:///{tmp_path}/khaibao.sqlite3"
    asyncio.run(_seed(database_url))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")},
        "KHAIBAO_ENV": "test",
        "KHAIBAO_DATABASE_URL": database_url,
        "KHAIBAO_LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*_khaibao(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


TITLES = "items => items.map(item => item.querySelector('h2').textContent)"


class TestFaqPageInChromium:
    def test_a_stranger_searches_without_diacritics_on_a_phone(
        self, server: str, tmp_path: Path
    ) -> None:
        sync_playwright = _require_browser()
        problems: list[str] = []
        requests: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 360, "height": 740},  # a small phone
                locale="vi-VN",
                timezone_id="Asia/Ho_Chi_Minh",
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(60_000)
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.on("request", lambda request: requests.append(request.url))
                page.on("dialog", lambda dialog: problems.append("dialog: " + dialog.message))
                page.goto(server + "/hoi-dap")
                page.wait_for_selector("#results li")
                assert "Hỏi đáp" in page.inner_text("h1")
                assert len(page.eval_on_selector_all("#results li", TITLES)) == len(PUBLISHED)

                page.fill("#q", "khai bao ho bo me")
                page.click("button[type=submit]")
                page.wait_for_selector("#status:has-text('phù hợp nhất')")
                found = page.eval_on_selector_all("#results li", TITLES)
                assert found[0] == "Tôi khai báo hộ bố mẹ được không?"
                assert "q=khai+bao+ho+bo+me" in page.url

                page.fill("#q", "onerror")
                page.click("button[type=submit]")
                page.wait_for_selector("#results li:first-child h2:has-text('onerror')")
                assert page.eval_on_selector_all("#results img", "n => n.length") == 0

                page.fill("#q", "xe buyt")
                page.click("button[type=submit]")
                page.wait_for_selector("#status:has-text('Chưa có')")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 360  # nothing wider than the phone's screen
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                browser.close()
        assert problems == []
        assert all(url.startswith(server) for url in requests), requests
