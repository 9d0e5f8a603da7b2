"""GET /dashboard and its assets: a static page with a strict CSP, served from the package."""

from __future__ import annotations

import re

import httpx

from reports.dashboard import STATIC


class TestDashboardPage:
    async def test_page_is_served_with_a_strict_content_security_policy(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/dashboard")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["cache-control"] == "no-cache"

    async def test_no_inline_script_or_style_and_no_third_party_url(
        self, client: httpx.AsyncClient
    ) -> None:
        html = (await client.get("/dashboard")).text
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
        assert len(scripts) == 2
        assert all(body.strip() == "" for body in scripts)
        sources = re.findall(r'<script src="([^"]+)"', html)
        assert [re.sub(r"\?v=[0-9a-f]{16}$", "", src) for src in sources] == [
            "/dashboard/static/chart.umd.js",
            "/dashboard/static/dashboard.js",
        ]
        assert "<style" not in html
        assert " style=" not in html
        assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None  # no inline event handlers
        assert "http://" not in html
        assert "https://" not in html

    async def test_page_holds_no_data_and_needs_no_sign_in(self, client: httpx.AsyncClient) -> None:
        html = (await client.get("/dashboard")).text
        assert 'id="signin-form"' in html
        assert "Báo cáo khai báo y tế" in html


class TestDashboardAssets:
    async def test_assets_are_versioned_and_cached_for_a_year(
        self, client: httpx.AsyncClient
    ) -> None:
        html = (await client.get("/dashboard")).text
        urls = re.findall(r'(?:src|href)="(/dashboard/static/[^"]+\?v=[^"]+)"', html)
        assert len(urls) == 3  # style, Chart.js, the page's script
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert response.headers["x-content-type-options"] == "nosniff"
            again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 304

    async def test_chart_js_is_the_vendored_build_with_its_licence(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/dashboard/static/chart.umd.js")
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.content == (STATIC / "chart.umd.js").read_bytes()
        assert response.content.startswith(b"/*!\n * Chart.js v4.")
        licence = await client.get("/dashboard/static/chart.js.LICENSE.md")
        assert "MIT License" in licence.text

    async def test_only_listed_files_are_served(self, client: httpx.AsyncClient) -> None:
        for name in ("dashboard.html", "..%2Fdashboard.py", "%2E%2E%2Fservice.py", "nope.js"):
            response = await client.get(f"/dashboard/static/{name}")
            assert response.status_code == 404, name
