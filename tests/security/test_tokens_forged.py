"""Forged, altered and misused tokens: access tokens (HS256, the service's secret) and QR
tokens (ES256/EdDSA, keys in the key set). Every forgery is refused the same way the apps
know: 401 `unauthenticated` for an access token, a scan `deny` with its reason code for a
personal QR code, 400 `invalid_venue_token` for a venue poster."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from api.app import create_app
from core.context import Context
from core.errors import Unauthenticated
from core.principals import verify_access_token
from qr.keys import key_ring, public_jwk
from tests.conftest import module_database_url
from tests.security.cast import assemble
from tests.security.forgery import Kit, attacker_key, b64, compact, hs256, unb64
from tests.security.test_authorization import matrix_settings

in_world = pytest.mark.asyncio(loop_scope="module")


Forge = Callable[[Kit], str]
ACCESS_HEADER = {"alg": "HS256", "typ": "JWT"}


def _real_secret(kit: Kit, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(claims, kit.secret, algorithm="HS256", headers={"typ": "JWT", **header})


def _tampered(token: str, claims: dict[str, Any]) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64(json.dumps(claims))}.{signature}"


def _attacker_es256(claims: dict[str, Any], **header: Any) -> str:
    key, kid = attacker_key()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, **header})


ACCESS_ATTACKS: dict[str, Forge] = {
    "alg_none": lambda k: compact({"alg": "none", "typ": "JWT"}, k.access_claims()),
    "alg_None_capitalised": lambda k: compact({"alg": "None"}, k.access_claims()),
    "hs256_keyed_with_qr_public_key_pem": lambda k: hs256(
        ACCESS_HEADER, k.access_claims(), k.public_pem
    ),
    "hs256_keyed_with_jwks_json": lambda k: hs256(
        ACCESS_HEADER, k.access_claims(), k.jwks.encode()
    ),
    "kid_path_traversal_to_an_empty_file": lambda k: hs256(
        {**ACCESS_HEADER, "kid": "../../../../../../dev/null"}, k.access_claims(), b""
    ),
    "kid_sql_injection": lambda k: hs256(
        {**ACCESS_HEADER, "kid": "' UNION SELECT 'x' -- "}, k.access_claims(), b"x"
    ),
    "jku_header_even_with_the_real_secret": lambda k: _real_secret(
        k, k.access_claims(), jku="https://attacker.example/jwks.json"
    ),
    "x5u_header_even_with_the_real_secret": lambda k: _real_secret(
        k, k.access_claims(), x5u="https://attacker.example/cert.pem"
    ),
    "jwk_header_with_attacker_key": lambda k: _embedded_jwk(k.access_claims()),
    "jku_header_with_attacker_key": lambda k: _attacker_es256(
        k.access_claims(), jku="https://attacker.example/jwks.json"
    ),
    "expired": lambda k: _real_secret(
        k, k.access_claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "not_before_in_the_future": lambda k: _real_secret(
        k, k.access_claims(nbf=int(time.time()) + 3600)
    ),
    "wrong_audience": lambda k: _real_secret(k, k.access_claims(aud="khaibao-checkpoint")),
    "wrong_issuer": lambda k: _real_secret(k, k.access_claims(iss="https://evil.example")),
    "wrong_type": lambda k: _real_secret(k, k.access_claims(typ="refresh")),
    "no_expiry": lambda k: _real_secret(k, k.access_claims(exp=None)),
    "unknown_role": lambda k: _real_secret(k, k.access_claims(role="superuser")),
    "stripped_signature": lambda k: k.access.rsplit(".", 1)[0] + ".",
    "signature_of_another_token": lambda k: _tampered(k.access, k.access_claims(sub="acc_x")),
    "role_raised_to_admin_keeping_the_signature": lambda k: _tampered(
        k.access, k.access_claims(role="admin")
    ),
    "resigned_with_an_attacker_secret": lambda k: jwt.encode(
        k.access_claims(role="admin"), secrets.token_hex(32), algorithm="HS256"
    ),
    "resigned_with_an_attacker_ec_key": lambda k: _attacker_es256(k.access_claims(role="admin")),
    "qr_token_as_access_token": lambda k: k.qr,
    "venue_token_as_access_token": lambda k: k.venue.removeprefix("KHAIBAO:1:"),
    "oversized": lambda k: k.access + "A" * 5000,
}


def _embedded_jwk(claims: dict[str, Any]) -> str:
    key, kid = attacker_key()
    header = {"kid": kid, "jwk": public_jwk(key.public_key())}
    return jwt.encode(claims, key, algorithm="ES256", headers=header)


# Personal QR codes at a scan: the forgery and the reason the scanner must show.
QR_ATTACKS: dict[str, tuple[Forge, str]] = {
    "alg_none": (
        lambda k: compact({"alg": "none", "typ": "kb-qr+jwt"}, k.qr_claims()),
        "unsupported_alg",
    ),
    "hs256_keyed_with_public_key_pem": (
        lambda k: hs256(
            {"alg": "HS256", "kid": k.kid, "typ": "kb-qr+jwt"}, k.qr_claims(), k.public_pem
        ),
        "unsupported_alg",
    ),
    "hs256_keyed_with_jwks_json": (
        lambda k: hs256(
            {"alg": "HS256", "kid": k.kid, "typ": "kb-qr+jwt"}, k.qr_claims(), k.jwks.encode()
        ),
        "unsupported_alg",
    ),
    "kid_path_traversal": (
        lambda k: _attacker_es256(k.qr_claims(), kid="../../../../etc/passwd", typ="kb-qr+jwt"),
        "unknown_kid",
    ),
    "kid_sql_injection": (
        lambda k: _attacker_es256(k.qr_claims(), kid="x' OR '1'='1", typ="kb-qr+jwt"),
        "unknown_kid",
    ),
    "jku_header": (
        lambda k: k.with_service_key(k.qr_claims(), jku="https://attacker.example/jwks"),
        "forbidden_header",
    ),
    "x5u_header": (
        lambda k: k.with_service_key(k.qr_claims(), x5u="https://attacker.example/c.pem"),
        "forbidden_header",
    ),
    "jwk_header": (lambda k: _embedded_jwk_qr(k), "forbidden_header"),
    "expired": (
        lambda k: k.with_service_key(
            k.qr_claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
        ),
        "expired",
    ),
    "not_before_in_the_future": (
        lambda k: k.with_service_key(k.qr_claims(nbf=int(time.time()) + 3600)),
        "not_yet_valid",
    ),
    "venue_audience": (
        lambda k: k.with_service_key(k.qr_claims(aud="khaibao-venue")),
        "wrong_audience",
    ),
    "stripped_signature": (lambda k: k.qr.rsplit(".", 1)[0] + ".", "bad_signature"),
    "resigned_by_attacker_with_the_real_kid": (
        lambda k: jwt.encode(
            k.qr_claims(st="green"),
            attacker_key()[0],
            algorithm="ES256",
            headers={"kid": k.kid, "typ": "kb-qr+jwt"},
        ),
        "bad_signature",
    ),
    "access_token_as_qr_code": (lambda k: k.access, "unsupported_alg"),
    "venue_poster_as_personal_code": (lambda k: k.venue.removeprefix("KHAIBAO:1:"), "wrong_type"),
}


def _embedded_jwk_qr(k: Kit) -> str:
    key, kid = attacker_key()
    header = {"kid": kid, "typ": "kb-qr+jwt", "jwk": public_jwk(key.public_key())}
    return jwt.encode(k.qr_claims(), key, algorithm="ES256", headers=header)


# Venue posters at a check-in: each is a 400 naming the reason.
VENUE_ATTACKS: dict[str, tuple[Forge, str]] = {
    "alg_none": (
        lambda k: "KHAIBAO:1:" + compact({"alg": "none", "typ": "kb-venue+jwt"}, k.venue_claims()),
        "unsupported_alg",
    ),
    "hs256_keyed_with_jwks_json": (
        lambda k: hs256(
            {"alg": "HS256", "kid": k.kid, "typ": "kb-venue+jwt"}, k.venue_claims(), k.jwks.encode()
        ),
        "unsupported_alg",
    ),
    "another_venue_id_keeping_the_signature": (
        lambda k: (
            "KHAIBAO:1:"
            + _tampered(k.venue.removeprefix("KHAIBAO:1:"), k.venue_claims(vid="cp_elsewhere"))
        ),
        "bad_signature",
    ),
    "personal_code_as_venue_poster": (lambda k: k.qr, "wrong_type"),
    "access_token_as_venue_poster": (lambda k: k.access, "unsupported_alg"),
}


@dataclass
class TokenWorld:
    app: FastAPI
    client: httpx.AsyncClient
    kit: Kit
    citizen: dict[str, str]
    staff: dict[str, str]
    person_id: str
    checkpoint_id: str

    @property
    def ctx(self) -> Context:
        context: Context = self.app.state.context
        return context


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[TokenWorld]:
    app = create_app(matrix_settings(module_database_url(tmp_path_factory, request, "tokens")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            ctx: Context = app.state.context
            cast = await assemble(ctx, client)
            qr = await client.get(f"/v1/people/{cast.person_a}/qr", headers=cast.auth("citizen_a"))
            ring = await key_ring(ctx)
            assert ring.current is not None
            public = ring.keys[ring.current.kid].public_key
            kit = Kit(
                secret=ctx.settings.secret_key.get_secret_value(),
                access=cast.auth("citizen_a")["Authorization"].removeprefix("Bearer "),
                qr=qr.json()["token"],
                venue=cast.venue_x,
                jwks=(await client.get("/.well-known/jwks.json")).text,
                public_pem=public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
                kid=ring.current.kid,
                signer=ring.current.private_key,
                alg=ring.current.alg,
            )
            yield TokenWorld(
                app,
                client,
                kit,
                cast.auth("citizen_a"),
                cast.auth("staff_x"),
                cast.person_a,
                cast.checkpoint_x,
            )


@in_world
class TestAccessTokenForgeries:
    async def test_the_genuine_token_works(self, world: TokenWorld) -> None:
        assert (await world.client.get("/v1/people", headers=world.citizen)).status_code == 200

    @pytest.mark.parametrize("attack", sorted(ACCESS_ATTACKS))
    async def test_forged_access_token_is_401(self, world: TokenWorld, attack: str) -> None:
        forged = ACCESS_ATTACKS[attack](world.kit)
        response = await world.client.get(
            "/v1/people", headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"
        with pytest.raises(Unauthenticated):
            verify_access_token(forged, secret=world.kit.secret)

    async def test_the_token_under_another_scheme_is_401(self, world: TokenWorld) -> None:
        for scheme in ("Basic", "Token", ""):
            response = await world.client.get(
                "/v1/people", headers={"Authorization": f"{scheme} {world.kit.access}".strip()}
            )
            assert response.status_code == 401, scheme

    async def test_a_staff_token_forged_into_another_checkpoint_is_401(
        self, world: TokenWorld
    ) -> None:
        staff_token = world.staff["Authorization"].removeprefix("Bearer ")
        claims = unb64(staff_token.split(".")[1])
        forged = _tampered(staff_token, {**claims, "cps": [*claims["cps"], "cp_other"]})
        response = await world.client.post(
            f"/v1/checkpoints/{world.checkpoint_id}/scans",
            json={"token": world.kit.qr},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert response.status_code == 401


@in_world
class TestQrForgeries:
    async def test_the_genuine_code_is_allowed(self, world: TokenWorld) -> None:
        result = await self._scan(world, world.kit.qr)
        assert (result["decision"], result["reason_code"]) == ("allow", "ok")

    @pytest.mark.parametrize("attack", sorted(QR_ATTACKS))
    async def test_forged_personal_code_is_denied_with_its_reason_and_recorded(
        self, world: TokenWorld, attack: str
    ) -> None:
        forge, reason = QR_ATTACKS[attack]
        before = await world.ctx.store.count("scans", {"decision": "deny"})
        result = await self._scan(world, forge(world.kit))
        assert (result["decision"], result["reason_code"]) == ("deny", reason)
        assert result["status"] is None  # a forgery says nothing about anyone
        assert await world.ctx.store.count("scans", {"decision": "deny"}) == before + 1

    @pytest.mark.parametrize("attack", sorted(VENUE_ATTACKS))
    async def test_forged_venue_poster_is_refused_at_check_in(
        self, world: TokenWorld, attack: str
    ) -> None:
        forge, reason = VENUE_ATTACKS[attack]
        before = await world.ctx.store.count("checkins", {})
        response = await world.client.post(
            "/v1/checkins",
            json={"venue_token": forge(world.kit), "person_id": world.person_id},
            headers=world.citizen,
        )
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["code"] == "invalid_venue_token"
        assert [e["code"] for e in problem["errors"]] == [reason]
        assert await world.ctx.store.count("checkins", {}) == before

    @staticmethod
    async def _scan(world: TokenWorld, token: str) -> dict[str, Any]:
        response = await world.client.post(
            f"/v1/checkpoints/{world.checkpoint_id}/scans",
            json={"token": token},
            headers=world.staff,
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result
