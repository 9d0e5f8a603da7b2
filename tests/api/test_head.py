"""HEAD, as monitors, CDNs and phones checking their cache send it: every GET route answers it
with the GET's status and headers (ETag, Cache-Control, Content-Length) and no body
(api.middleware.HeadAsGet); a route that has no GET still answers 405."""

from __future__ import annotations

import httpx
import pytest

from tests.checkpoints.helpers import create_person
from tests.conftest import sign_in_citizen

# The public, cacheable GET routes: probes, published keys, the FAQ, the public map and its
# page and assets, the entry form, the docs.
PUBLIC = (
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/v1/faq",
    "/v1/public/regions",
    "/map",
    "/map/static/map.js",
    "/hoi-dap",
    "/v1/entry/form",
    "/v1/entry/points",
    "/favicon.ico",
    "/docs",
)
SAME = ("etag", "cache-control", "content-length", "content-type", "content-encoding")


def _same_headers(head: httpx.Response, get: httpx.Response) -> None:
    assert {name: head.headers.get(name) for name in SAME} == {
        name: get.headers.get(name) for name in SAME
    }


class TestHeadIsTheGetWithoutItsBody:
    @pytest.mark.parametrize("path", PUBLIC)
    async def test_public_routes_answer_head_as_get(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        get = await client.get(path)
        head = await client.head(path)
        assert get.status_code == 200, get.text
        assert head.status_code == 200
        assert head.content == b""
        _same_headers(head, get)
        assert int(head.headers["content-length"]) == get.num_bytes_downloaded > 0

    async def test_a_cache_check_with_the_current_etag_is_304(
        self, client: httpx.AsyncClient
    ) -> None:
        get = await client.get("/.well-known/jwks.json")
        etag = get.headers["etag"]
        head = await client.head("/.well-known/jwks.json", headers={"If-None-Match": etag})
        assert head.status_code == 304
        assert head.headers["etag"] == etag
        assert head.content == b""

    @pytest.mark.parametrize("image_format", ["svg", "png"])
    async def test_a_qr_image_answers_head_with_its_etag_and_size(
        self, client: httpx.AsyncClient, image_format: str
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        url, params = f"/v1/people/{person_id}/qr", {"format": image_format}
        get = await client.get(url, params=params, headers=citizen)
        head = await client.head(url, params=params, headers=citizen)
        assert (get.status_code, head.status_code) == (200, 200)
        assert head.content == b""
        _same_headers(head, get)
        assert head.headers["etag"]
        # Signed out, HEAD is refused as GET is.
        assert (await client.head(url, params=params)).status_code == 401

    async def test_large_answers_keep_the_compressed_length(
        self, client: httpx.AsyncClient
    ) -> None:
        get = await client.get("/v1/entry/points", headers={"Accept-Encoding": "gzip"})
        head = await client.head("/v1/entry/points", headers={"Accept-Encoding": "gzip"})
        assert get.headers["content-encoding"] == head.headers["content-encoding"] == "gzip"
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.content == b""


class TestRoutesWithoutGet:
    @pytest.mark.parametrize(
        "path", ["/v1/auth/token", "/v1/checkins", "/v1/checkpoints/cp_x/scans"]
    )
    async def test_head_on_a_post_only_route_is_405(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        head = await client.head(path)
        assert head.status_code == 405
        assert head.headers["allow"] == "POST"
        assert head.content == b""

    async def test_head_on_an_unknown_path_is_404(self, client: httpx.AsyncClient) -> None:
        head = await client.head("/v1/nothing-here")
        assert head.status_code == 404
        assert head.content == b""
