"""In-process measurements of hot-path choices, each against the code it replaced,
measured in the same run (best of five rounds; compare the ratio, not the microseconds):

* QR verification: `qr.tokens.decode_verified` against `jwt.decode` with the same checks.

    python -m load.inprocess.microbench
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from qr.keys import VerifyingKey
from qr.tokens import decode_verified, low_s

ROUNDS = 5
REPEAT = {"verify": 2000}


def best_of(run: Callable[[], None], repeat: int) -> float:
    """Microseconds per call, best round."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            run()
        best = min(best, (time.perf_counter() - started) / repeat * 1e6)
    return best


def qr_verification() -> tuple[float, float]:
    private = ec.generate_private_key(ec.SECP256R1())
    key = VerifyingKey(
        kid="k" * 16,
        alg="ES256",
        public_key=private.public_key(),
        jwk={},
        created_at=datetime.now(UTC),
        signs_from=datetime.now(UTC),
        retired_at=None,
        publish_until=None,
        removed=False,
    )
    now = int(time.time())
    claims = {"iss": "i", "aud": "a", "sub": "s", "st": "green", "iat": now, "exp": now + 600}
    token = low_s(jwt.encode({**claims, "jti": "j"}, private, algorithm="ES256"))  # as we sign
    required = ["exp", "iat", "iss", "aud", "jti"]

    def pyjwt() -> None:
        jwt.decode(
            token,
            key.public_key,
            algorithms=["ES256"],
            audience="a",
            issuer="i",
            leeway=30,
            options={"require": required, "strict_aud": True},
        )

    def direct() -> None:
        decode_verified(token, key, audience="a", issuer="i", leeway=30)

    return best_of(pyjwt, REPEAT["verify"]), best_of(direct, REPEAT["verify"])


def main() -> None:
    rows = [("QR verification (ES256)", "PyJWT", *qr_verification(), "direct")]
    print("| what | before | µs | after | µs | after / before |")
    print("|---|---|---:|---|---:|---:|")
    for what, before_name, before, after, after_name in rows:
        print(
            f"| {what} | {before_name} | {before:.0f} | {after_name} | {after:.0f} "
            f"| {after / before:.2f} |"
        )


if __name__ == "__main__":
    main()
