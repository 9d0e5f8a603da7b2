"""A person's QR code: issued to its owner only, decodable from the image by a real QR
reader, verifiable by a second JOSE library against the published key set, and
accepted at a checkpoint."""

from __future__ import annotations

import json

import httpx
import pytest
from joserfc.jwk import KeySet

from core.context import Context
from core.settings import Settings
from tests.checkpoints.helpers import (
    change_status,
    create_person,
    declare,
    decode_qr_png,
    new_checkpoint,
    person_token,
    rasterise_qr_svg,
    scan,
    staff_for,
    unverified_parts,
    verify_with_joserfc,
)
from tests.conftest import make_settings, sign_in_citizen


class TestCodeFromImageToCheckpoint:
    @pytest.mark.parametrize("image_format", ["png", "svg"])
    async def test_image_decodes_to_the_token_that_verifies_and_scans_green(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        settings: Settings,
        image_format: str,
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)

        image = await client.get(
            f"/v1/people/{person_id}/qr", params={"format": image_format}, headers=citizen
        )
        assert image.status_code == 200
        if image_format == "png":
            assert image.headers["content-type"] == "image/png"
            png = image.content
        else:
            assert image.headers["content-type"].startswith("image/svg+xml")
            assert image.content.lstrip().startswith(b"<svg")
            png = rasterise_qr_svg(image.content)
        assert decode_qr_png(png) == token

        jwks = (await client.get("/.well-known/jwks.json")).json()
        claims = verify_with_joserfc(token, jwks, settings)
        assert claims["st"] == "green"

        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_for(ctx, client, checkpoint["id"])
        result = await scan(client, staff, checkpoint["id"], token)
        assert result == {
            "decision": "allow",
            "status": "green",
            "reason": "Green: allowed",
            "reason_code": "ok",
        }


class TestSvgIsLightOnA3GPhone:
    # qrcode's one-square-per-module SVG was about 52 KB (18 KB gzipped) for a personal code:
    # most of a second on a 3G link. A stroked path of runs is about a fifth of that; the
    # bounds leave room for a token half as long again (a longer public URL, a longer kid).
    MAX_SVG_BYTES = 16_000
    MAX_GZIPPED_BYTES = 4_000

    async def test_svg_is_small_on_the_wire_and_still_decodes(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)

        image = await client.get(
            f"/v1/people/{person_id}/qr",
            params={"format": "svg"},
            headers={**citizen, "Accept-Encoding": "gzip"},
        )
        assert image.status_code == 200
        assert image.headers["content-encoding"] == "gzip"
        assert len(image.content) <= self.MAX_SVG_BYTES
        assert image.num_bytes_downloaded <= self.MAX_GZIPPED_BYTES
        assert decode_qr_png(rasterise_qr_svg(image.content)) == token


class TestWhatTheCodeCarries:
    async def test_only_the_listed_claims_and_an_opaque_subject(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen, id_number="001190012345")
        token = await person_token(client, citizen, person_id)
        header, claims = unverified_parts(token)
        assert header["alg"] == "ES256"
        assert header["typ"] == "kb-qr+jwt"
        assert set(header) == {"alg", "kid", "typ"}
        assert set(claims) == {"iss", "aud", "sub", "st", "iat", "exp", "jti"}
        assert len(claims["sub"]) == 22  # random: tests/qr/test_unlinkable_codes.py
        assert person_id not in token
        assert claims["sub"] not in person_id
        assert "001190012345" not in json.dumps(claims)
        assert claims["exp"] - claims["iat"] == 24 * 3600

    async def test_kid_is_the_rfc7638_thumbprint_of_the_published_key(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        token = await person_token(client, citizen, await create_person(client, citizen))
        header, _ = unverified_parts(token)
        jwks = (await client.get("/.well-known/jwks.json")).json()
        key_set = KeySet.import_key_set(jwks)
        key = key_set.get_by_kid(header["kid"])
        assert key.thumbprint() == header["kid"]
        assert "d" not in jwks["keys"][0]  # public halves only


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")  # RFC 9864 renames EdDSA
class TestEdDSA:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, qr_algorithm="EdDSA")

    async def test_eddsa_codes_verify_and_scan(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)
        header, _ = unverified_parts(token)
        assert header["alg"] == "EdDSA"
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert jwks["keys"][0]["kty"] == "OKP"
        verify_with_joserfc(token, jwks, settings)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_for(ctx, client, checkpoint["id"])
        assert (await scan(client, staff, checkpoint["id"], token))["decision"] == "allow"


class TestSameCodeWhileNothingChanged:
    async def test_repeated_fetches_return_the_same_code_with_validators(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        first = await client.get(f"/v1/people/{person_id}/qr", headers=citizen)
        second = await client.get(f"/v1/people/{person_id}/qr", headers=citizen)
        assert first.json() == second.json()
        assert first.headers["etag"] == second.headers["etag"]
        # Kept, but asked about each time it is shown: the status may have changed.
        assert first.headers["cache-control"] == "private, no-cache"

        again = await client.get(
            f"/v1/people/{person_id}/qr",
            headers={**citizen, "If-None-Match": first.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.content == b""

    async def test_a_phone_revalidating_after_its_status_worsened_gets_the_new_code(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen, id_number="079090000123")
        shown = await client.get(f"/v1/people/{person_id}/qr", headers=citizen)
        assert shown.json()["status"] == "green"
        await declare(
            client, citizen, id_number="079090000123", symptoms=("fever", "cough", "fatigue")
        )
        again = await client.get(
            f"/v1/people/{person_id}/qr",
            headers={**citizen, "If-None-Match": shown.headers["etag"]},
        )
        assert again.status_code == 200
        assert again.json()["status"] != "green"
        assert again.json()["token"] != shown.json()["token"]

    async def test_image_etag_differs_from_json_etag(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        as_json = await client.get(f"/v1/people/{person_id}/qr", headers=citizen)
        as_png = await client.get(f"/v1/people/{person_id}/qr?format=png", headers=citizen)
        assert as_json.headers["etag"] != as_png.headers["etag"]
        revalidated = await client.get(
            f"/v1/people/{person_id}/qr?format=png",
            headers={**citizen, "If-None-Match": as_png.headers["etag"]},
        )
        assert revalidated.status_code == 304

    async def test_the_gzipped_svg_has_a_tag_of_its_own_and_its_304_the_same_validators(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        """RFC 9110: a strong tag names bytes, so the gzipped SVG and the plain one differ;
        a 304 sends the `Vary` and `Cache-Control` its 200 would, as /v1/public/regions does."""
        citizen = await sign_in_citizen(client)
        url = f"/v1/people/{await create_person(client, citizen)}/qr?format=svg"
        plain = await client.get(url, headers={**citizen, "Accept-Encoding": "identity"})
        packed = await client.get(url, headers={**citizen, "Accept-Encoding": "gzip"})
        assert "content-encoding" not in plain.headers
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == plain.content  # the same SVG, once decoded
        assert packed.headers["etag"] != plain.headers["etag"]
        validators = ("etag", "cache-control", "vary")
        for sent, coding in ((plain, "identity"), (packed, "gzip")):
            assert sent.headers["vary"] == "Accept-Encoding"
            again = await client.get(
                url,
                headers={
                    **citizen,
                    "Accept-Encoding": coding,
                    "If-None-Match": sent.headers["etag"],
                },
            )
            assert again.status_code == 304, coding
            assert {h: again.headers.get(h) for h in validators} == {
                h: sent.headers.get(h) for h in validators
            }
        # A cache holding the plain bytes does not get a 304 for the gzipped ones.
        crossed = await client.get(
            url,
            headers={**citizen, "Accept-Encoding": "gzip", "If-None-Match": plain.headers["etag"]},
        )
        assert crossed.status_code == 200
        assert crossed.headers["etag"] == packed.headers["etag"]

    async def test_a_status_change_gives_a_new_code_with_the_new_status(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        green = await client.get(f"/v1/people/{person_id}/qr", headers=citizen)
        await change_status(ctx, person_id, "yellow")
        yellow = await client.get(
            f"/v1/people/{person_id}/qr",
            headers={**citizen, "If-None-Match": green.headers["etag"]},
        )
        assert yellow.status_code == 200
        assert yellow.json()["status"] == "yellow"
        assert yellow.json()["token"] != green.json()["token"]
        assert unverified_parts(yellow.json()["token"])[1]["st"] == "yellow"

    async def test_every_issued_code_is_recorded_for_revocation(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)
        jti = unverified_parts(token)[1]["jti"]
        record = await ctx.store.get("qr_tokens", jti)
        assert record is not None
        assert record["person_id"] == person_id
        assert record["status"] == "green"
        assert record["kid"] == unverified_parts(token)[0]["kid"]
        assert record["expires_at"] > record["exp"]


class TestOnlyTheOwnerGetsTheCode:
    async def test_another_citizen_gets_404(self, client: httpx.AsyncClient, ctx: Context) -> None:
        owner = await sign_in_citizen(client, "+84900000001")
        other = await sign_in_citizen(client, "+84900000002")
        person_id = await create_person(client, owner)
        response = await client.get(f"/v1/people/{person_id}/qr", headers=other)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"

    async def test_unknown_person_is_404_and_signed_out_is_401(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        assert (await client.get("/v1/people/per_nope/qr", headers=citizen)).status_code == 404
        assert (await client.get("/v1/people/per_nope/qr")).status_code == 401

    async def test_staff_cannot_fetch_personal_codes(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_for(ctx, client, checkpoint["id"])
        response = await client.get(f"/v1/people/{person_id}/qr", headers=staff)
        assert response.status_code == 403

    async def test_unknown_format_is_a_validation_problem(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        response = await client.get(f"/v1/people/{person_id}/qr?format=gif", headers=citizen)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_failed"
