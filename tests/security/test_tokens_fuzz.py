"""Hypothesis throws arbitrary input at the token verifiers (access and QR) and at the
declaration parser: only the expected refusals come out, never another exception."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

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
from qr.keys import key_ring
from qr.tokens import TokenRejected, verify, verify_person_token, verify_venue_token
from runtime.context import build_context, close_context
from tests.conftest import module_database_url
from tests.security.cast import PHONE_A, declaration_body
from tests.security.forgery import b64, compact
from tests.security.test_authorization import matrix_settings

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
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[asyncio.AbstractEventLoop, Context]]:
    """A store and key ring on an event loop of their own, for the synchronous fuzz tests."""
    url = module_database_url(tmp_path_factory, request, "qr-fuzz")
    loop = asyncio.new_event_loop()
    ctx = loop.run_until_complete(build_context(matrix_settings(url)))
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
