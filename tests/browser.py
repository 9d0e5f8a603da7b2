"""Debian's Chromium, driven by Playwright, for the tests that open a page of the service in
a real browser (see tests/servers.py for the server they open it on).

Chromium is required, not optional: CI installs it (`.ci/run`), and a missing browser fails
the test rather than skipping it, so a broken page cannot pass unnoticed. Every request that
leaves the server under test is cut and recorded: the pages must work on a network that
reaches only this service, and no third party may learn who opens them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright, Request, Route

CHROMIUM = Path(os.environ.get("KHAIBAO_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No name resolves except 127.0.0.1, and every request is checked by the route below.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is required for the browser tests and is missing at {CHROMIUM}: "
            "apt-get install chromium (CI does this in .ci/run)"
        )


def require_browser() -> Any:
    """Playwright's `sync_playwright`, or a failed test saying what is missing."""
    require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]'")
    return sync_playwright


@dataclass
class Browser:
    """A fresh Chromium profile that reaches only `server`; what it saw go wrong is kept in
    `problems` (script errors, CSP violations) and `outside` (requests it cut)."""

    context: BrowserContext
    server: str
    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.set_default_timeout(60_000)
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        return page


@contextmanager
def chromium(server: str, profile: Path, **options: Any) -> Iterator[Browser]:
    """Chromium on a new profile in `profile`, every request off `server` cut.
    `options` go to Playwright's `launch_persistent_context` (viewport, locale …)."""
    sync_playwright = require_browser()
    with sync_playwright() as playwright:
        browser = _launch(playwright, server, profile, options)
        try:
            yield browser
        finally:
            browser.context.close()


def _launch(playwright: Playwright, server: str, profile: Path, options: Any) -> Browser:
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        **options,
    )
    browser = Browser(context, server)
    here = urlsplit(server).netloc

    def only_this_service(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc == here:
            route.continue_()
        else:
            browser.outside.append(request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_this_service)
    return browser


def screenshot_in_chromium(html: str, *, width: int, height: int) -> bytes:
    """A screenshot (PNG) of one self-contained page, drawn by Chromium's own headless
    screenshot mode: a real renderer for a test that is not a page test (no Playwright, so
    it runs inside an asyncio test too). The page must need nothing from the network."""
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="khaibao-shot-") as folder:
        page, shot = Path(folder, "page.html"), Path(folder, "shot.png")
        page.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={folder}/profile",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--screenshot={shot}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return shot.read_bytes()
