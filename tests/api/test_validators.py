"""Every public cacheable answer by the same rules (web.caching, docs/api.md): a strong
ETag that names the bytes sent, so the gzipped body has a tag of its own, and a 304 that
repeats the ETag, Cache-Control and Vary of its 200, so a shared cache keeps the codings
(and the languages) apart."""

from __future__ import annotations

import httpx
import pytest

CACHEABLE = (
    "/.well-known/jwks.json",
    "/v1/rules",
    "/v1/faq",
    "/v1/public/regions",
    "/v1/entry/form",
    "/v1/entry/form?lang=vi",
    "/v1/entry/points",
)
VALIDATORS = ("etag", "cache-control", "vary")


def validators(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in VALIDATORS}


@pytest.mark.parametrize("url", CACHEABLE)
async def test_a_tag_names_the_bytes_of_one_coding(client: httpx.AsyncClient, url: str) -> None:
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    packed = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.json() == plain.json()
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
