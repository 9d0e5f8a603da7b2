"""QR tokens are verified without PyJWT on the scan path (`qr.tokens.decode_verified`), and
must come to PyJWT's verdict on every token: the same claims when it accepts, the same
reason when it refuses. Compared over tokens signed with altered claims, headers and keys,
and over tokens altered after signing (seeded, so a failure can be replayed).

One rule is ours and not PyJWT's: an ES256 signature with a high s (s > n/2, the twin
(r, n - s) of a valid signature) is `bad_signature` (tests/qr/test_low_s.py). The oracle is
PyJWT with that one rule added to its ES256 verifier; the tokens here are signed by PyJWS
with a random s, so about half of them reach the rule."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm

from qr.keys import Algorithm, VerifyingKey
from qr.tokens import TokenRejected, decode_verified, unverified_header

ISSUER = "https://khaibao.example"
AUDIENCE = "khaibao-checkpoint"
LEEWAY = 30
PYJWT_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.PyJWTError, "malformed"),
]


# The order of the P-256 group.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class LowSOnly(ECAlgorithm):
    """PyJWT's ES256, with the one rule it lacks: a high s is not a valid signature."""

    def verify(
        self, msg: bytes, key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey, sig: bytes
    ) -> bool:
        if len(sig) == 64 and int.from_bytes(sig[32:]) > N // 2:
            return False
        return bool(super().verify(msg, key, sig))


def pyjwt_key(key: VerifyingKey) -> Any:
    if not isinstance(key.public_key, ec.EllipticCurvePublicKey):
        return key.public_key
    jwk = jwt.PyJWK(ECAlgorithm.to_jwk(key.public_key, as_dict=True), algorithm="ES256")
    jwk.Algorithm = LowSOnly(LowSOnly.SHA256)
    return jwk


def high_s(token: str) -> bool:
    signature = base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")
    return int.from_bytes(signature[32:]) > N // 2


def twin(token: str) -> str:
    """The same ES256 signature with s mirrored: (r, n - s)."""
    head, segment = token.rsplit(".", 1)
    signature = base64.urlsafe_b64decode(segment + "==")
    mirrored = signature[:32] + (N - int.from_bytes(signature[32:])).to_bytes(32)
    return f"{head}.{b64(mirrored)}"


def pyjwt_verdict(token: str, key: VerifyingKey) -> dict[str, Any] | str:
    """What qr.tokens.verify answered when it called PyJWT (the code this replaced), with
    the low-s rule added."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            pyjwt_key(key),
            algorithms=[key.alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud", "jti"], "strict_aud": True},
        )
    except jwt.PyJWTError as error:
        return next(reason for kind, reason in PYJWT_REASONS if isinstance(error, kind))
    return claims


def our_verdict(token: str, key: VerifyingKey) -> dict[str, Any] | str:
    """What qr.tokens.verify answers now: the header is read (and the algorithm checked)
    first, then decode_verified."""
    try:
        if unverified_header(token).get("alg") != key.alg:
            return "unsupported_alg"
        return decode_verified(token, key, audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY)
    except TokenRejected as rejected:
        return rejected.reason


def verifying_key(alg: Algorithm, private: Any) -> VerifyingKey:
    return VerifyingKey(
        kid="k" * 16,
        alg=alg,
        public_key=private.public_key(),
        jwk={},
        created_at=datetime.now(UTC),
        signs_from=datetime.now(UTC),
        retired_at=None,
        publish_until=None,
        removed=False,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(private: Any, alg: str, claims: dict[str, Any], header: dict[str, Any]) -> str:
    """Signed as PyJWS signs, without PyJWT's refusal to sign odd claims."""
    return jwt.api_jws.encode(orjson.dumps(claims), private, algorithm=alg, headers=header)


def claims_now() -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "s0123456789abcdef",
        "st": "green",
        "iat": now,
        "exp": now + 3600,
        "jti": "j0123456789abcdef",
    }


def claim_changes(rng: random.Random) -> dict[str, Any]:
    """One to three claims changed, removed (None) or added, among values that sit on each
    check's edge."""
    now = int(datetime.now(UTC).timestamp())
    choices: dict[str, list[Any]] = {
        "iss": [None, "", "https://other.example", ISSUER + "/", 7, [ISSUER]],
        "aud": [None, "", [], [AUDIENCE], "khaibao-venue", 0, False, AUDIENCE.upper()],
        "iat": [None, now + LEEWAY + 5, now + LEEWAY - 5, 1.5e9, "x", True, [now], now - 10**6],
        "exp": [None, now - LEEWAY - 5, now - LEEWAY + 5, now, "x", 2e9, {"a": 1}, 0],
        "nbf": [now + LEEWAY + 5, now + LEEWAY - 5, now - 5, "x", 1.0, None],
        "jti": [None, 7, "", ["j"], "j" * 64],
        "sub": [None, 7, "", ["s"], {"a": "b"}],
        "st": ["red", None, 1],
        "extra": [1, "x", None, {"nested": [1, 2]}],
    }
    names = rng.sample(sorted(choices), rng.randint(1, 3))
    return {name: rng.choice(choices[name]) for name in names}


def altered(token: str, rng: random.Random) -> str:
    """The signed token with one thing changed after signing."""
    parts = token.split(".")
    index = rng.randrange(3)
    raw = bytearray(base64.urlsafe_b64decode(parts[index] + "=" * (-len(parts[index]) % 4)))
    how = rng.choice(["flip", "cut", "grow", "swap", "empty"])
    if how == "flip" and raw:
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif how == "cut" and raw:
        del raw[rng.randrange(len(raw)) :]
    elif how == "grow":
        raw += bytes([rng.randrange(256)])
    elif how == "swap" and index == 1:
        payload = orjson.loads(bytes(raw))
        payload["st"] = "green" if payload.get("st") != "green" else "red"
        raw = bytearray(orjson.dumps(payload))
    elif how == "empty":
        raw = bytearray()
    parts[index] = b64(bytes(raw))
    if rng.random() < 0.1:  # a segment that is not base64 at all
        parts[index] = parts[index][:1] if parts[index] else "A"
    return ".".join(parts)


KEYS: list[tuple[Algorithm, Callable[[], Any]]] = [
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
]


@pytest.mark.parametrize(("alg", "generate"), KEYS, ids=[alg for alg, _ in KEYS])
class TestSameVerdictAsPyJWT:
    def test_a_valid_token_gives_the_same_claims(
        self, alg: Algorithm, generate: Callable[[], Any]
    ) -> None:
        private = generate()
        key = verifying_key(alg, private)
        claims = claims_now()  # read once: twice may straddle a second
        token = sign(private, alg, claims, {"kid": key.kid, "typ": "kb-qr+jwt"})
        if alg == "ES256" and high_s(token):
            token = twin(token)  # the low-s one of the pair, as qr.tokens signs
        assert our_verdict(token, key) == pyjwt_verdict(token, key) == claims

    def test_the_high_s_twin_of_every_token_is_a_bad_signature(
        self, alg: Algorithm, generate: Callable[[], Any]
    ) -> None:
        if alg != "ES256":
            pytest.skip("Ed25519 signatures have one valid encoding (RFC 8032 requires S < L)")
        private = generate()
        key = verifying_key(alg, private)
        for _ in range(100):
            # One set of claims per round: `claims_now()` read twice may straddle a second.
            claims = claims_now()
            token = sign(private, alg, claims, {"kid": key.kid})
            low, high = (twin(token), token) if high_s(token) else (token, twin(token))
            assert our_verdict(low, key) == pyjwt_verdict(low, key) == claims
            assert our_verdict(high, key) == pyjwt_verdict(high, key) == "bad_signature"
            # Without the rule PyJWT accepts the twin: the rule is what refuses it.
            plain = jwt.decode(
                high,
                key.public_key,
                algorithms=["ES256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY,
            )
            assert plain == claims

    def test_tokens_signed_with_altered_claims(
        self, alg: Algorithm, generate: Callable[[], Any]
    ) -> None:
        rng = random.Random(f"claims-{alg}")
        private = generate()
        key = verifying_key(alg, private)
        verdicts: set[str] = set()
        for _ in range(600):
            claims = {**claims_now(), **claim_changes(rng)}
            claims = {name: value for name, value in claims.items() if value is not None}
            token = sign(private, alg, claims, {"kid": key.kid})
            ours, theirs = our_verdict(token, key), pyjwt_verdict(token, key)
            assert ours == theirs, claims
            verdicts.add(ours if isinstance(ours, str) else "accepted")
        # The changes reached every check, not just one (and the high-s rule on ES256).
        assert verdicts == {
            "accepted",
            "expired",
            "not_yet_valid",
            "wrong_audience",
            "wrong_issuer",
            "missing_claim",
            "malformed",
            *(["bad_signature"] if alg == "ES256" else []),
        }

    def test_tokens_altered_after_signing(
        self, alg: Algorithm, generate: Callable[[], Any]
    ) -> None:
        rng = random.Random(f"altered-{alg}")
        private = generate()
        key = verifying_key(alg, private)
        token = sign(private, alg, claims_now(), {"kid": key.kid})
        verdicts: set[str] = set()
        for _ in range(600):
            changed = altered(token, rng)
            if changed.count(".") != 2 or changed == token:
                continue
            ours, theirs = our_verdict(changed, key), pyjwt_verdict(changed, key)
            if ours == "unsupported_alg":  # PyJWT's InvalidAlgorithmError
                ours = "malformed"
            assert ours == theirs, changed
            verdicts.add(ours if isinstance(ours, str) else "accepted")
        assert {"bad_signature", "malformed"} <= verdicts

    def test_a_token_signed_by_another_key(
        self, alg: Algorithm, generate: Callable[[], Any]
    ) -> None:
        key = verifying_key(alg, generate())
        for other_alg, other in KEYS:
            token = sign(other(), other_alg, claims_now(), {"kid": key.kid})
            if other_alg == alg:
                assert our_verdict(token, key) == pyjwt_verdict(token, key) == "bad_signature"
            else:  # refused on its header, before any signature check
                assert our_verdict(token, key) == "unsupported_alg"
                assert pyjwt_verdict(token, key) == "malformed"
