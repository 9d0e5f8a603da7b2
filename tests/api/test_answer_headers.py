"""The headers a client sees on each kind of answer (api.middleware.AnswerHeaders): every
answer `X-Content-Type-Options: nosniff`; an answer to a signed-in request `Cache-Control:
no-store` unless its route chose a policy (the QR codes, revalidated by `ETag`, and only in
the caller's own cache); public answers their `public, max-age`; HTML pages never framed.
The two hot routes, served by web/lean.py, included."""

from __future__ import annotations

import httpx
import pytest

from core.context import Context
from tests.checkpoints.helpers import (
    create_person,
    declare,
    new_checkpoint,
    person_token,
    staff_for,
    staff_headers,
)
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.monitoring.conftest import officer, person_under_follow_up


def _nosniff(answer: httpx.Response) -> None:
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"]


def _not_stored(answer: httpx.Response) -> None:
    _nosniff(answer)
    assert answer.headers.get_list("cache-control") == ["no-store"]


class TestSignedInAnswersAreNotStored:
    async def test_a_citizens_own_data_is_no_store(self, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        declared = await declare(client, citizen)
        for path in (
            "/v1/me/export",
            "/v1/people",
            f"/v1/declarations/{declared['id']}",
            "/v1/me/access-log",
            "/v1/questions/mine",
        ):
            answer = await client.get(path, headers=citizen)
            assert answer.status_code == 200, (path, answer.text)
            _not_stored(answer)

    async def test_refusals_to_a_signed_in_caller_are_no_store(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        missing = await client.get("/v1/declarations/dcl_nobodys", headers=citizen)
        assert missing.status_code == 404
        _not_stored(missing)
        head = await client.head("/v1/people", headers=citizen)  # 405: send GET
        assert head.status_code == 405
        _not_stored(head)

    async def test_staff_reads_are_no_store(self, ctx: Context, client: httpx.AsyncClient) -> None:
        responder = await sign_in_staff(ctx, client, "responder")
        queue = await client.get("/v1/questions", headers=responder)
        assert queue.status_code == 200, queue.text
        _not_stored(queue)
        scanner = await staff_headers(ctx, "checkpoint_staff")
        revoked = await client.get(
            "/v1/revocations", params={"since": "2026-01-01T00:00:00Z"}, headers=scanner
        )
        assert revoked.status_code == 200, revoked.text
        _not_stored(revoked)


class TestTheHotRoutes:
    async def test_a_refused_declaration_is_no_store(self, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        refused = await client.post(
            "/v1/declarations",
            json={"person": {"full_name": "x"}},
            headers={**citizen, "Idempotency-Key": "k-headers-1"},
        )
        assert refused.status_code == 422  # the lean handler's field errors
        _not_stored(refused)

    async def test_a_declarations_201_is_no_store(self, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        seen: list[httpx.Response] = []

        async def keep(response: httpx.Response) -> None:
            if response.request.url.path == "/v1/declarations":
                seen.append(response)

        client.event_hooks["response"].append(keep)
        try:
            await declare(client, citizen)
        finally:
            client.event_hooks["response"].remove(keep)
        assert [answer.status_code for answer in seen] == [201]
        _not_stored(seen[0])

    async def test_a_scan_is_no_store(self, ctx: Context, client: httpx.AsyncClient) -> None:
        checkpoint_id = (await new_checkpoint(ctx, client))["id"]
        gate = await staff_for(ctx, client, checkpoint_id)
        citizen = await sign_in_citizen(client)
        token = await person_token(client, citizen, await create_person(client, citizen))
        scanned = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/scans", json={"token": token}, headers=gate
        )
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["decision"] == "allow"
        _not_stored(scanned)


class TestRoutesThatChoseTheirPolicy:
    async def test_a_qr_code_is_kept_by_the_phone_only_and_revalidated(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        for fmt in ("json", "png"):
            code = await client.get(
                f"/v1/people/{person_id}/qr", params={"format": fmt}, headers=citizen
            )
            assert code.status_code == 200
            _nosniff(code)
            # `private`: no shared cache (a proxy, a CDN) may store it.
            assert code.headers.get_list("cache-control") == ["private, no-cache"]
            same = await client.get(
                f"/v1/people/{person_id}/qr",
                params={"format": fmt},
                headers={**citizen, "If-None-Match": code.headers["etag"]},
            )
            assert same.status_code == 304
            assert same.headers.get_list("cache-control") == ["private, no-cache"]
            _nosniff(same)

    async def test_the_venue_poster_is_private(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        checkpoint_id = (await new_checkpoint(ctx, client))["id"]
        admin = await staff_headers(ctx, "admin")
        poster = await client.get(f"/v1/checkpoints/{checkpoint_id}/qr", headers=admin)
        assert poster.status_code == 200
        assert poster.headers.get_list("cache-control") == ["private, max-age=3600"]
        _nosniff(poster)

    async def test_the_contact_card_stays_private_no_store(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, episode = await person_under_follow_up(ctx, client)
        card = await client.get(
            f"/v1/monitoring/{episode['id']}/contact", headers=await officer(ctx, client)
        )
        assert card.status_code == 200, card.text
        assert card.headers.get_list("cache-control") == ["private, no-store"]
        _nosniff(card)


class TestPublicAnswers:
    @pytest.mark.parametrize("signed_in", [False, True])
    async def test_public_routes_keep_their_max_age(
        self, client: httpx.AsyncClient, signed_in: bool
    ) -> None:
        headers = await sign_in_citizen(client) if signed_in else {}
        for path in ("/v1/rules", "/.well-known/jwks.json", "/v1/faq", "/v1/public/regions"):
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.text)
            (policy,) = answer.headers.get_list("cache-control")
            assert policy.startswith("public, max-age="), (path, policy)
            _nosniff(answer)
        form = await client.get("/v1/entry/form", headers=headers)
        assert form.headers["cache-control"].startswith("public, max-age=")

    async def test_a_refusal_without_credentials_is_nosniff(
        self, client: httpx.AsyncClient
    ) -> None:
        refused = await client.get("/v1/people")
        assert refused.status_code == 401
        _nosniff(refused)


class TestPagesAreNeverFramed:
    @pytest.mark.parametrize("path", ["/docs", "/dashboard", "/map", "/hoi-dap"])
    async def test_a_page_denies_framing(self, client: httpx.AsyncClient, path: str) -> None:
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        _nosniff(page)
