"""Every public cacheable answer by the same rules (web.caching, docs/api.md): a strong
ETag that names the bytes sent, so the gzipped body has a tag of its own, and a 304 that
repeats the ETag, Cache-Control and Vary of its 200, so a shared cache keeps the codings
(and the languages) apart. The HTML pages and their scripts, styles and icon too: a return
visit revalidates them with a 304 that keeps the page's security headers."""

from __future__ import annotations

import httpx
import pytest

PAGES = ("/map", "/dashboard", "/hoi-dap", "/docs")
# Fixed bytes, all long enough to go gzipped.
FIXED = (
    *PAGES,
    "/map/static/chart.umd.js",
    "/dashboard/static/dashboard.js",
    "/hoi-dap/static/hoi-dap.css",
    "/docs/assets/swagger-ui-bundle.js",
    "/favicon.ico",
)
CACHEABLE = (
    *FIXED,
    "/.well-known/jwks.json",
    "/v1/rules",
    "/v1/faq",
    "/v1/public/regions",
    "/v1/entry/form",
    "/v1/entry/form?lang=vi",
    "/v1/entry/points",
)
VALIDATORS = ("etag", "cache-control", "vary")
PAGE_SECURITY = (
    "content-security-policy",
    "x-frame-options",
    "referrer-policy",
    "x-content-type-options",
)


def validators(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in VALIDATORS}


@pytest.mark.parametrize("url", CACHEABLE)
async def test_a_tag_names_the_bytes_of_one_coding(client: httpx.AsyncClient, url: str) -> None:
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    packed = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.content == plain.content
    if packed.headers.get("content-encoding") == "gzip":
        assert packed.headers["etag"] != plain.headers["etag"]
        assert "Accept-Encoding" in packed.headers["vary"]
        assert packed.headers["vary"] == plain.headers["vary"]
    else:  # too short to compress: one representation, one tag
        assert packed.headers["etag"] == plain.headers["etag"]


@pytest.mark.parametrize("coding", ["identity", "gzip"])
@pytest.mark.parametrize("url", CACHEABLE)
async def test_the_304_repeats_the_validators_of_its_200(
    client: httpx.AsyncClient, url: str, coding: str
) -> None:
    first = await client.get(url, headers={"Accept-Encoding": coding})
    again = await client.get(
        url, headers={"Accept-Encoding": coding, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert validators(again) == validators(first)


@pytest.mark.parametrize("url", FIXED)
async def test_a_page_or_asset_goes_gzipped_under_a_tag_of_its_own(
    client: httpx.AsyncClient, url: str
) -> None:
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    packed = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["etag"].endswith('-gz"')
    assert packed.headers["etag"] != plain.headers["etag"]
    assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize("url", FIXED)
async def test_a_tag_of_the_other_coding_gets_the_bytes(
    client: httpx.AsyncClient, url: str
) -> None:
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    packed = await client.get(url, headers={"Accept-Encoding": "gzip"})
    # A cache holding one coding asks for the other: it gets the body, not a 304.
    for coding, held in (("gzip", plain), ("identity", packed)):
        again = await client.get(
            url, headers={"Accept-Encoding": coding, "If-None-Match": held.headers["etag"]}
        )
        assert again.status_code == 200, coding
        assert again.content == plain.content


@pytest.mark.parametrize("coding", ["identity", "gzip"])
@pytest.mark.parametrize("url", CACHEABLE)
async def test_a_tag_of_other_bytes_gets_the_bytes(
    client: httpx.AsyncClient, url: str, coding: str
) -> None:
    first = await client.get(url, headers={"Accept-Encoding": coding})
    stale = '"00000000000000000000000000000000"'  # what an earlier release's bytes were tagged
    again = await client.get(url, headers={"Accept-Encoding": coding, "If-None-Match": stale})
    assert again.status_code == 200
    assert again.content == first.content
    assert validators(again) == validators(first)


@pytest.mark.parametrize("coding", ["identity", "gzip"])
@pytest.mark.parametrize("url", PAGES)
async def test_a_page_304_keeps_its_security_headers(
    client: httpx.AsyncClient, url: str, coding: str
) -> None:
    first = await client.get(url, headers={"Accept-Encoding": coding})
    again = await client.get(
        url, headers={"Accept-Encoding": coding, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    kept = {name: again.headers.get(name) for name in PAGE_SECURITY}
    assert kept == {name: first.headers[name] for name in PAGE_SECURITY}
    assert "frame-ancestors 'none'" in kept["content-security-policy"]
    assert kept["x-frame-options"] == "DENY"
    assert kept["x-content-type-options"] == "nosniff"
