"""HEAD, as monitors, CDNs and phones checking their cache send it: every GET route answers it
with the status and headers of its GET without credentials (ETag, Cache-Control,
Content-Length) and no body (api.middleware.HeadAsGet); a route that has no GET still answers
405. Signed in, a route that needs the credentials answers 405 with Allow: GET, so a HEAD
never spends a quota or writes a read into a citizen's access log."""

from __future__ import annotations

import httpx
import pytest

from core.context import Context
from tests.checkpoints.helpers import create_person
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up
from tests.rights.conftest import family
from tests.rights.test_sharing import consent, organisation

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

    async def test_credentials_change_nothing_on_a_public_route(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        get = await client.get("/v1/faq", headers=citizen)
        head = await client.head("/v1/faq", headers=citizen)
        assert (get.status_code, head.status_code) == (200, 200)
        assert head.content == b""
        _same_headers(head, get)

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
        "path",
        [
            "/v1/auth/token",
            "/v1/checkins",
            "/v1/checkpoints/cp_x/scans",
            "/v1/declarations/batch",  # not a declaration id for GET /v1/declarations/{id}
        ],
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

    async def test_signed_in_head_on_a_post_only_route_is_still_405_with_post(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        head = await client.head("/v1/checkins", headers=citizen)
        assert head.status_code == 405
        assert head.headers["allow"] == "POST"

    async def test_signed_in_get_of_the_offline_batch_is_405_with_post(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        for method in ("GET", "HEAD"):
            answer = await client.request(method, "/v1/declarations/batch", headers=citizen)
            assert answer.status_code == 405, method
            assert answer.headers["allow"] == "POST"


def _refused_as_signed_in(head: httpx.Response) -> None:
    assert head.status_code == 405
    assert head.headers["allow"] == "GET"
    assert head.headers["content-type"] == "application/problem+json"
    assert head.headers["x-request-id"]
    assert "www-authenticate" not in head.headers
    assert head.content == b""


class TestSignedInRoutesDoNotAnswerHead:
    """HEAD is for caches and monitors; a GET that needs credentials may spend or log."""

    @pytest.mark.parametrize("image_format", ["svg", "png"])
    async def test_a_qr_image_is_405_signed_in_and_401_signed_out(
        self, client: httpx.AsyncClient, image_format: str
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        url, params = f"/v1/people/{person_id}/qr", {"format": image_format}
        _refused_as_signed_in(await client.head(url, params=params, headers=citizen))
        assert (await client.get(url, params=params, headers=citizen)).status_code == 200
        # Signed out, HEAD is refused as GET is: nothing ran, nothing to spend or log.
        signed_out = await client.head(url, params=params)
        assert signed_out.status_code == 401
        assert signed_out.headers["www-authenticate"] == "Bearer"

    async def test_head_does_not_spend_the_daily_exports(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        await create_person(client, citizen)
        for _ in range(ctx.settings.exports_per_day + 1):
            _refused_as_signed_in(await client.head("/v1/me/export", headers=citizen))
        for _ in range(ctx.settings.exports_per_day):
            assert (await client.get("/v1/me/export", headers=citizen)).status_code == 200
        refused = await client.get("/v1/me/export", headers=citizen)
        assert refused.json()["code"] == "export_limit_reached"

    async def test_head_on_a_contact_card_or_the_worklist_logs_no_read(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = f"/v1/monitoring/{opened['id']}/contact"
        _refused_as_signed_in(await client.head(card, headers=ward_officer))
        _refused_as_signed_in(await client.head("/v1/monitoring", headers=ward_officer))
        assert await _reads(client, citizen, "monitoring_contact", "monitoring_worklist") == []
        # The GET is logged: the log would have shown the HEAD.
        assert (await client.get(card, headers=ward_officer)).status_code == 200
        assert await _reads(client, citizen, "monitoring_contact") == ["monitoring_contact"]

    async def test_head_on_an_organisation_s_statuses_logs_no_read(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        employer = await organisation(ctx, client, "Công ty May Hà Nội")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        await consent(client, parent, home.child_id, employer)
        url = f"/v1/organisations/{employer}/statuses"
        _refused_as_signed_in(await client.head(url, headers=reader))
        assert await _reads(client, parent, "organisation_status_read") == []
        assert (await client.get(url, headers=reader)).status_code == 200
        assert await _reads(client, parent, "organisation_status_read") == [
            "organisation_status_read"
        ]

    async def test_the_refusal_speaks_the_callers_language(self, client: httpx.AsyncClient) -> None:
        # A HEAD has no body to read: the same refusal, as a GET would see it, is rendered
        # by api.middleware.refuse; its length differs by language.
        citizen = await sign_in_citizen(client)
        en = await client.head("/v1/me/export", headers=citizen)
        vi = await client.head("/v1/me/export", headers={**citizen, "Accept-Language": "vi"})
        assert (en.status_code, vi.status_code) == (405, 405)
        assert en.headers["content-length"] != vi.headers["content-length"]


async def _reads(client: httpx.AsyncClient, citizen: dict[str, str], *actions: str) -> list[str]:
    """The citizen's access log entries of these kinds, as the citizen sees them."""
    log = await client.get("/v1/me/access-log", headers=citizen)
    assert log.status_code == 200, log.text
    return [item["action"] for item in log.json()["items"] if item["action"] in actions]
