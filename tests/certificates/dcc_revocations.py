"""What the revocation-list tests share: the EU test vectors they use, the three hash
entries of a code computed the way the EU specification says (independently of the
service's own code, so a mistake there cannot agree with itself), and an admin's
requests to trust a signer and to post a list."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

import cbor2
import httpx

from certificates import scanning
from certificates.verifier import verify
from core.context import Context
from declarations.acceptance import AcceptancePolicy
from tests.certificates.issuers import VECTORS, unwrap

HASH_TYPES = ("SIGNATURE", "UCI", "COUNTRYCODEUCI")
PROBLEM = "application/problem+json"
# Allowed at their clocks without a list (see test_eu_dcc_vectors.py): ES256, Austria and
# Germany. CO1 is signed PS256 (its policy check fails; its revocation check is ours).
ALLOWED_VECTORS = [("AT/2DCode/raw/2.json", "AT"), ("DE/2DCode/raw/3.json", "DE")]
RSA_VECTOR = ("common/2DCode/raw/CO1.json", "AT")


def vector(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / "eu-dcc" / name).read_text())
    return case


def entry(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()[:16]).decode()


def spec_hashes(code: str, *, ecdsa_whole: bool = False) -> dict[str, str]:
    """The three entries of a code: SHA-256 over the signature (ES256: `r`, its first half),
    the UCI, and the CWT issuer's country followed by the UCI, each cut to 16 bytes."""
    message = cbor2.loads(unwrap(code))
    while isinstance(message, cbor2.CBORTag):
        message = message.value
    protected_bytes, _, payload, signature = message
    alg = cbor2.loads(protected_bytes)[1]
    claims = cbor2.loads(payload)
    hcert = claims[-260][1]
    (event,) = hcert.get("v") or hcert.get("t") or hcert.get("r")
    signed = signature[: len(signature) // 2] if alg == -7 and not ecdsa_whole else signature
    return {
        "SIGNATURE": entry(signed),
        "UCI": entry(event["ci"].encode()),
        "COUNTRYCODEUCI": entry((claims[1] + event["ci"]).encode()),
    }


def others(count: int = 3) -> list[str]:
    return [entry(f"someone else {n}".encode()) for n in range(count)]


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {name: f"{c['result']}:{c['code']}" for name, c in answer["checks"].items()}


async def trust(
    client: httpx.AsyncClient, admin: dict[str, str], certificate: str, country: str
) -> str:
    body = {"certificate": certificate, "country": country}
    response = await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return str(response.json()["kid"])


async def revoke(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    kid: str,
    hash_type: str,
    hashes: list[str],
) -> dict[str, Any]:
    body = {"kid": kid, "hash_type": hash_type, "hashes": hashes}
    response = await client.post("/v1/trust/dcc-revocations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def checked_at_clock(ctx: Context, case: dict[str, Any]) -> dict[str, str]:
    """The vector checked at its own clock against the trust list as the store holds it."""
    clock = datetime.fromisoformat(case["TESTCTX"]["VALIDATIONCLOCK"])
    trusted = await scanning.trust_list(ctx)
    result = verify([case["PREFIX"]], trusted, AcceptancePolicy(), now=clock)
    return {
        **{name: f"{c.outcome}:{c.code}" for name, c in result.checks.items()},
        "decision": result.decision,
        "reason": result.reason,
    }
