"""Forged, altered and misused tokens: access tokens (HS256, the service's secret) and QR
tokens (ES256/EdDSA, keys in the key set). Every forgery is refused the same way the apps
know: 401 `unauthenticated` for an access token, a scan `deny` with its reason code for a
personal QR code, 400 `invalid_venue_token` for a venue poster. Then hypothesis throws
arbitrary input at the verifiers and at the declaration parser: only the expected
refusals come out, never another exception."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.app import create_app
from checkpoints.service import REASONS
from core.clock import local_day, utcnow
from core.context import Context
from core.errors import Unauthenticated
from core.principals import ROLES, verify_access_token
from core.settings import Settings
from declarations.fields import province_exists
from declarations.rules import read_rules
from declarations.schemas import CHRONIC_CONDITIONS, EXPOSURES, DeclarationIn
from people.vocabulary import SYMPTOMS
from qr.keys import key_ring, public_jwk, thumbprint
from qr.tokens import TokenRejected, low_s, verify, verify_person_token, verify_venue_token
from runtime.context import build_context, close_context
from tests.security.cast import PHONE_A, assemble, declaration_body
from tests.security.test_authorization import matrix_settings

in_world = pytest.mark.asyncio(loop_scope="module")


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}.{b64(signature)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """HS256 by hand, so any bytes can be the key (PyJWT refuses PEM-looking secrets)."""
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def attacker_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, thumbprint(public_jwk(key.public_key()))


@dataclass
class Kit:
    """What a forger has: genuine tokens to start from and everything published."""

    secret: str
    access: str
    qr: str
    venue: str
    jwks: str
    public_pem: bytes
    kid: str
    signer: Any  # the service's current private key, for "only this one part is wrong"
    alg: str

    def access_claims(self, **changes: Any) -> dict[str, Any]:
        claims = {**unb64(self.access.split(".")[1]), **changes}
        return {k: v for k, v in claims.items() if v is not None}

    def qr_claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {**unb64(self.qr.split(".")[1]), "iat": now, "exp": now + 600, **changes}
        return {k: v for k, v in claims.items() if v is not None}

    def venue_claims(self, **changes: Any) -> dict[str, Any]:
        claims = {**unb64(self.venue.removeprefix("KHAIBAO:1:").split(".")[1]), **changes}
        return {k: v for k, v in claims.items() if v is not None}

    def with_service_key(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, "typ": "kb-qr+jwt", **header}
        token = jwt.encode(claims, self.signer, algorithm=self.alg, headers=headers)
        return low_s(token) if self.alg == "ES256" else token  # as the service signs


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
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TokenWorld]:
    directory = tmp_path_factory.mktemp("tokens")
    app = create_app(matrix_settings(f"sqlite:///{directory}/khaibao.sqlite3"))
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


# -- fuzzing the verifiers and the parser ---------------------------------------------------

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
b64_segments = st.binary(max_size=200).map(b64)
headers_and_claims = st.dictionaries(
    st.sampled_from(["alg", "typ", "kid", "jku", "crit", "b64", "x5u", "cty", "zip"])
    | st.text(max_size=8),
    json_values,
    max_size=6,
)
claims_dicts = st.dictionaries(
    st.sampled_from(
        ["iss", "aud", "typ", "sub", "role", "cps", "iat", "nbf", "exp", "jti", "st", "vid", "kind"]
    ),
    json_values | st.integers(min_value=-(2**70), max_value=2**70),
    max_size=13,
)
token_like = st.one_of(
    st.text(max_size=300),
    st.tuples(b64_segments, b64_segments, b64_segments).map(".".join),
    st.tuples(headers_and_claims, claims_dicts, st.binary(max_size=80)).map(
        lambda parts: compact(*parts)
    ),
)


FUZZ_SECRET = "fuzz-secret-" + "x" * 40
odd_values = json_values | st.integers(min_value=-(2**1100), max_value=2**1100)


@st.composite
def near_valid_access_claims(draw: st.DrawFn) -> dict[str, Any]:
    """A genuine access token's claims with one to three of them replaced by anything."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "khaibao",
        "aud": "khaibao-api",
        "typ": "access",
        "sub": "acc_fuzz",
        "role": "citizen",
        "cps": [],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j",
    }
    for name in draw(st.lists(st.sampled_from(sorted(claims)), min_size=1, max_size=3)):
        if draw(st.booleans()):
            claims[name] = draw(odd_values)
        else:
            claims.pop(name, None)
    return claims


class TestAccessTokenFuzz:
    @pytest.mark.parametrize(
        "claim", [{"exp": 10**400}, {"iat": 10**400}, {"nbf": -(10**400)}, {"exp": 2**64}]
    )
    def test_absurd_numbers_in_claims_signed_with_the_secret_are_401_not_a_crash(
        self, claim: dict[str, int]
    ) -> None:
        now = int(time.time())
        claims = {
            "iss": "khaibao",
            "aud": "khaibao-api",
            "typ": "access",
            "sub": "acc_fuzz",
            "role": "citizen",
            "iat": now,
            "exp": now + 600,
            **claim,
        }
        token = jwt.encode(claims, FUZZ_SECRET, algorithm="HS256")
        # Refused is fine; accepted is fine too (a far expiry is still an expiry).
        with contextlib.suppress(Unauthenticated):
            verify_access_token(token, secret=FUZZ_SECRET)

    @FUZZ
    @given(token=token_like)
    def test_arbitrary_input_is_only_ever_unauthenticated(self, token: str) -> None:
        with pytest.raises(Unauthenticated):
            verify_access_token(token, secret="fuzz-secret-" + "x" * 40)

    @FUZZ
    @given(
        claims=claims_dicts | near_valid_access_claims(), header=headers_and_claims | st.just({})
    )
    def test_anything_signed_with_the_secret_is_a_valid_principal_or_401(
        self, claims: dict[str, Any], header: dict[str, Any]
    ) -> None:
        """Only this service can sign these, but a claim it never issues (an absurd
        expiry, a role that is a list) must still end in 401, never in a 500."""
        secret = FUZZ_SECRET
        header = {k: v for k, v in header.items() if k != "alg"}
        try:
            token = jwt.encode(claims, secret, algorithm="HS256", headers=header)
        except (TypeError, ValueError, OverflowError, jwt.PyJWTError):
            return  # PyJWT will not even encode it; nothing to verify
        try:
            principal = verify_access_token(token, secret=secret)
        except Unauthenticated:
            return
        assert principal.role in ROLES
        assert isinstance(principal.subject, str)
        assert all(isinstance(c, str) for c in principal.checkpoints)


@pytest.fixture(scope="module")
def qr_context(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[asyncio.AbstractEventLoop, Context]]:
    """A store and key ring on an event loop of their own, for the synchronous fuzz tests."""
    directory: Path = tmp_path_factory.mktemp("qr-fuzz")
    loop = asyncio.new_event_loop()
    ctx = loop.run_until_complete(
        build_context(matrix_settings(f"sqlite:///{directory}/khaibao.sqlite3"))
    )
    loop.run_until_complete(key_ring(ctx))
    try:
        yield loop, ctx
    finally:
        loop.run_until_complete(close_context(ctx))
        loop.close()


class TestQrTokenFuzz:
    @FUZZ
    @given(token=token_like | token_like.map(lambda t: "KHAIBAO:1:" + t))
    def test_arbitrary_input_is_only_ever_a_known_rejection(
        self, qr_context: tuple[asyncio.AbstractEventLoop, Context], token: str
    ) -> None:
        loop, ctx = qr_context

        for check in (verify_person_token, verify_venue_token):
            with pytest.raises(TokenRejected) as rejected:
                loop.run_until_complete(check(ctx, token, now=utcnow()))
            assert rejected.value.reason in REASONS

    @FUZZ
    @given(claims=claims_dicts, header=headers_and_claims)
    def test_anything_signed_with_the_service_key_is_accepted_or_a_known_rejection(
        self,
        qr_context: tuple[asyncio.AbstractEventLoop, Context],
        claims: dict[str, Any],
        header: dict[str, Any],
    ) -> None:
        """Even with a valid signature, odd claims must end in a reason code, not a crash."""
        loop, ctx = qr_context

        ring = loop.run_until_complete(key_ring(ctx))
        assert ring.current is not None
        header = {k: v for k, v in header.items() if k not in ("alg", "kid")}
        header.setdefault("typ", "kb-qr+jwt")
        try:
            token = jwt.encode(
                claims,
                ring.current.private_key,
                algorithm=ring.current.alg,
                headers={**header, "kid": ring.current.kid},
            )
        except (TypeError, ValueError, OverflowError, jwt.PyJWTError):
            return
        for audience in ("khaibao-checkpoint", "khaibao-venue"):
            reason = "accepted"
            try:
                loop.run_until_complete(
                    verify(ctx, token, audience=audience, typ=str(header["typ"]), now=utcnow())
                )
            except TokenRejected as rejected:
                reason = rejected.reason
            assert reason == "accepted" or reason in REASONS


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    node: Any = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return body


def _leaf_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    paths: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            paths += _leaf_paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            paths += _leaf_paths(inner, (*prefix, index))
    return paths


VALID = declaration_body(PHONE_A, "001190012345")
PROVINCES = [code for code in range(1, 100) if province_exists(code)]
PATHS = _leaf_paths(VALID)
hostile_text = st.text(
    st.characters(codec="utf-8")
    | st.sampled_from(["\x00", "\u202e", "\ufeff", "̀", "'", "$", "{", "<"]),
    max_size=80,
)


@st.composite
def mutated_declarations(draw: st.DrawFn) -> Any:
    body = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        value = draw(json_values | hostile_text | st.integers(min_value=-(2**80), max_value=2**80))
        # An earlier mutation may have replaced a parent: fine, the next one still counts.
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(body, path, value)
    return body


@st.composite
def plausible_declarations(draw: st.DrawFn) -> dict[str, Any]:
    """Forms a phone could send: every answer drawn from its allowed words, so most are
    accepted and the rules judge many combinations."""
    body: dict[str, Any] = json.loads(json.dumps(VALID))
    body["symptoms"] = draw(st.lists(st.sampled_from(SYMPTOMS), max_size=4))
    body["chronic_conditions"] = draw(st.lists(st.sampled_from(CHRONIC_CONDITIONS), max_size=3))
    body["exposure"] = {name: draw(st.booleans()) for name in EXPOSURES}
    body["pregnant"] = draw(st.booleans())
    body["person"]["birth_year"] = draw(st.integers(min_value=1900, max_value=2020))
    body["travel"]["countries"] = draw(
        st.lists(st.sampled_from(["VN", "SG", "US", "CN", "KR"]), max_size=4)
    )
    day = local_day(utcnow())
    body["travel"]["domestic"] = [
        {
            "vehicle": draw(st.sampled_from(["plane", "bus", "boat", "motorbike"])),
            "from_province": draw(st.sampled_from(PROVINCES)),
            "to_province": draw(st.sampled_from(PROVINCES)),
            "date": str(day - timedelta(days=draw(st.integers(min_value=0, max_value=14)))),
        }
        for _ in range(draw(st.integers(min_value=0, max_value=3)))
    ]
    return body


class TestDeclarationParserFuzz:
    @FUZZ
    # Plausible forms twice over: half the examples reach the rules.
    @given(
        body=st.one_of(
            plausible_declarations(), plausible_declarations(), mutated_declarations(), json_values
        )
    )
    def test_any_body_is_a_declaration_or_a_validation_error_and_rules_never_crash(
        self, body: Any
    ) -> None:
        try:
            declaration = DeclarationIn.model_validate(body)
        except ValidationError as invalid:
            for error in invalid.errors():
                assert error["type"]  # every refusal names a type the API can render
            return
        # Accepted: it survives a round trip and the rules judge it.
        again = DeclarationIn.model_validate(declaration.model_dump(mode="json"))
        assert again == declaration
        today = local_day(utcnow())
        outcome = read_rules(Settings(env="test")).evaluate(declaration, today=today)
        assert outcome.status in ("green", "yellow", "red")

    @FUZZ
    @given(raw=st.binary(max_size=300) | mutated_declarations().map(json.dumps))
    def test_raw_bytes_are_a_declaration_or_a_validation_error(self, raw: bytes | str) -> None:
        """Parsing JSON text directly, as a request body is: bad UTF-8, bad JSON, anything."""
        with contextlib.suppress(ValidationError):
            DeclarationIn.model_validate_json(raw)
