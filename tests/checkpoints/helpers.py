"""Shared steps of the QR and checkpoint tests: people are declared through
`POST /v1/declarations`, codes fetched, checkpoints registered and scanned over HTTP."""

from __future__ import annotations

import base64
import io
import json
import secrets
from datetime import timedelta
from typing import Any

import httpx
import jwt
import zxingcpp
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from PIL import Image

from accounts.repository import insert_staff
from accounts.tokens import issue_access_token
from core.clock import new_id, utcnow
from core.context import Context
from core.principals import Principal, Role
from core.settings import Settings
from people.repository import get_person, set_status
from tests.browser import screenshot_in_chromium
from tests.conftest import sign_in_staff

ADMIN_CHECKPOINT = {"name": "Sân bay Nội Bài", "province": 1, "ward": 70, "kind": "airport"}


def account_id(headers: dict[str, str]) -> str:
    """The account id a citizen's access token names (its `sub`)."""
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["sub"])


async def create_person(
    client: httpx.AsyncClient,
    citizen: dict[str, str],
    *,
    id_number: str | None = None,
    symptoms: tuple[str, ...] = (),
) -> str:
    """Declare a person (a dependant of the signed-in account) through the real endpoint;
    with no symptoms the rules assess them green."""
    declared = await declare(client, citizen, id_number=id_number, symptoms=symptoms)
    return str(declared["person_id"])


async def declare(
    client: httpx.AsyncClient,
    citizen: dict[str, str],
    *,
    id_number: str | None = None,
    symptoms: tuple[str, ...] = (),
) -> dict[str, Any]:
    """`POST /v1/declarations`: the same identity number again declares the same person."""
    body = {
        "person": {
            "full_name": "Nguyễn Văn An",
            "relation": "child",
            "id_number": id_number or f"0011{secrets.randbelow(10**8):08d}",
            "birth_year": 2015,
            "gender": "male",
            "nationality": "VN",
        },
        "address": {"province": 1, "ward": 70, "street": "12 Tràng Tiền"},
        "symptoms": list(symptoms),
    }
    response = await client.post(
        "/v1/declarations",
        json=body,
        headers={**citizen, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert response.status_code == 201, response.text
    declared: dict[str, Any] = response.json()
    return declared


async def change_status(ctx: Context, person_id: str, status: str) -> None:
    """Change the stored status and nothing else (no revocation): what the scan's own
    current-status check must catch even if a revocation were missed."""
    person = await get_person(ctx.store, person_id)
    assert person is not None
    update = set_status(person, status, [{"code": "symptoms"}], source="declaration", now=utcnow())  # type: ignore[arg-type]
    await ctx.store.write([update])


async def person_token(client: httpx.AsyncClient, headers: dict[str, str], person_id: str) -> str:
    response = await client.get(f"/v1/people/{person_id}/qr", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def staff_headers(ctx: Context, role: Role, *checkpoints: str) -> dict[str, str]:
    """An access token for a staff role, minted as sign-in would, for an account stored
    without a password. Signing in for real costs two argon2 hashes (about a second here);
    the tests that are about who may do what use `sign_in_staff` instead."""
    principal = Principal(new_id("usr"), role, frozenset(checkpoints))
    account = {
        "_id": principal.subject,
        "username": principal.subject,
        "password_hash": None,
        "role": role,
        "checkpoints": sorted(checkpoints),
        "disabled": False,
        "token_version": 0,
        "created_at": utcnow(),
    }
    await ctx.store.write([insert_staff(account)])
    token = issue_access_token(
        principal, secret=ctx.settings.secret_key.get_secret_value(), minutes=15
    )
    return {"Authorization": f"Bearer {token}"}


async def new_checkpoint(ctx: Context, client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    admin = await staff_headers(ctx, "admin")
    response = await client.post(
        "/v1/checkpoints", json={**ADMIN_CHECKPOINT, **fields}, headers=admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def scan(
    client: httpx.AsyncClient, staff: dict[str, str], checkpoint_id: str, token: str
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/checkpoints/{checkpoint_id}/scans", json={"token": token}, headers=staff
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def decode_qr_png(png: bytes) -> str:
    """Read a QR code image with a real decoder (ZXing), as a scanner app would."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, "expected exactly one QR code in the image"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


def rasterise_qr_svg(svg: bytes) -> bytes:
    """The SVG as a phone's browser shows it: an `<img>` 600 px wide (the SVG sets no size,
    so it must scale by its viewBox) on a dark page (its quiet zone must stay light),
    drawn by Chromium. Returns the screenshot as PNG."""
    source = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    page = (
        '<body style="margin:0;background:#202020">'
        f'<img src="{source}" style="display:block;width:600px;margin:50px"></body>'
    )
    return screenshot_in_chromium(page, width=700, height=700)


def verify_with_joserfc(token: str, jwks: Any, settings: Settings) -> dict[str, Any]:
    """Independent verification: another library, only the published keys."""
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256", "EdDSA"])
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.public_url},
        aud={"essential": True, "value": "khaibao-checkpoint"},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        sub={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.header["kid"] in {key["kid"] for key in jwks["keys"]}
    return dict(decoded.claims)


def verify_offline(token: str, jwks: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A scanner app without a network, by docs/api.md ("Verifying a personal code
    offline"), with PyJWT and the published key set only. Revocations aside."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "kb-qr+jwt":
        raise jwt.InvalidTokenError("wrong_type")
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["ES256", "EdDSA"],
        audience="khaibao-checkpoint",
        issuer=settings.public_url,
        leeway=60,
        options={"require": ["exp", "iat", "iss", "aud", "jti", "sub"], "strict_aud": True},
    )
    if claims.get("st") not in {"green", "yellow", "red"}:
        raise jwt.InvalidTokenError("missing_claim")
    return claims


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
    )


async def staff_for(ctx: Context, client: httpx.AsyncClient, *checkpoints: str) -> dict[str, str]:
    """Real sign-in of checkpoint staff serving `checkpoints`."""
    return await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=checkpoints)


def shifted(minutes: int) -> Any:
    """A clock `minutes` away from now, for placing visits in time."""
    moment = utcnow() + timedelta(minutes=minutes)
    return lambda: moment
