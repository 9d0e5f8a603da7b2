"""GET /map and its assets: a static page with a strict CSP, everything served by the service."""

from __future__ import annotations

import re

import httpx

from publicmap.page import STATIC


class TestMapPage:
    async def test_a_strict_content_security_policy_and_no_sign_in(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/map")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "connect-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["cache-control"] == "no-cache"
        assert "Bản đồ dịch tễ" in response.text
        assert "Epidemic map" in response.text

    async def test_everything_it_loads_comes_from_the_service(
        self, client: httpx.AsyncClient
    ) -> None:
        html = (await client.get("/map")).text
        assert "<style" not in html
        assert " style=" not in html
        assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None
        sources = re.findall(r'<script src="([^"]+)"', html)
        assert [re.sub(r"\?v=[0-9a-f]{16}$", "", s) for s in sources] == [
            "/map/static/chart.umd.js",
            "/map/static/map.js",
        ]
        for name in ("map.html", "map.js", "map.css"):
            text = (STATIC / name).read_text("utf-8")
            assert "http://" not in text, name  # no tiles, fonts or scripts from elsewhere
            assert "https://" not in text, name

    async def test_assets_are_versioned_and_cached_for_a_year(
        self, client: httpx.AsyncClient
    ) -> None:
        html = (await client.get("/map")).text
        urls = re.findall(r'(?:src|href)="(/map/static/[^"]+\?v=[^"]+)"', html)
        assert len(urls) == 4  # style, Chart.js, the page's script, Chart.js's licence
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 304
        assert (await client.get("/map/static/nothing.js")).status_code == 404
