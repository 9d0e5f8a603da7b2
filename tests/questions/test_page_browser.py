"""The public FAQ page in a real browser: Debian's Chromium driven by Playwright, against a
real `khaibao serve` on a SQLite file where questions were asked and published through the
service. As with the dashboard, a missing Chromium fails the test rather than skipping it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accounts.repository import insert_account
from core.clock import utcnow
from core.context import Context
from core.principals import Principal
from questions import answering, asking
from questions.schemas import AnswerIn, QuestionIn
from tests.browser import chromium
from tests.servers import running_server, seed_database

PUBLISHED = [
    ("Tôi khai báo hộ bố mẹ được không?", "Được. Thêm bố mẹ là người phụ thuộc."),
    ("Mã QR cá nhân lấy ở đâu?", "Trong ứng dụng, mục Mã QR."),
    ("Khai báo y tế có bắt buộc không?", "Có, khi đi qua chốt kiểm soát."),
    ("<img src=x onerror=alert(1)> là gì?", "Một chuỗi thử, hiện ra như chữ."),
]
SCREENSHOT = Path("/tmp/khaibao-hoi-dap.png")


async def _seed(ctx: Context) -> None:
    responder = Principal("usr_browser", "responder")
    for n, (title, answer) in enumerate(PUBLISHED):
        citizen = Principal(f"acc_browser{n}", "citizen")
        # An account that exists, as a signed-in phone's: an erased one may not ask.
        account = {"_id": citizen.subject, "phone_hash": citizen.subject, "created_at": utcnow()}
        await ctx.store.write([insert_account(account)])
        # As a citizen asks it; the responder publishes it in their own words.
        said = "Cho tôi hỏi: " + title
        asked = QuestionIn(kind="question", category="declaration", title=said, body=said)
        question_id = (await asking.ask(ctx, citizen, asked, locale="vi")).created.id
        given = AnswerIn(body=answer, publish=True, public_title=title, public_body=title)
        await answering.answer(ctx, responder, question_id, given)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    seed_database(tmp_path, _seed)
    with running_server(tmp_path) as running:
        yield running.url


TITLES = "items => items.map(item => item.querySelector('h2').textContent)"


class TestFaqPageInChromium:
    def test_a_stranger_searches_without_diacritics_on_a_phone(
        self, server: str, tmp_path: Path
    ) -> None:
        requests: list[str] = []
        with chromium(
            server,
            tmp_path / "profile",
            viewport={"width": 360, "height": 740},  # a small phone
            locale="vi-VN",
            timezone_id="Asia/Ho_Chi_Minh",
        ) as browser:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: browser.problems.append("dialog: " + dialog.message))
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
        assert browser.problems == []
        assert browser.outside == []
        assert all(url.startswith(server) for url in requests), requests
