"""Scanning personal codes at a checkpoint: who may scan where, every way a code is
refused (each a deny with a stable reason code, never a 500), what is recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import local_day, utcnow
from core.context import Context
from core.storage import Store, Update
from qr import tokens
from qr.keys import key_ring, public_jwk, thumbprint
from qr.revocations import revoke_live_tokens
from qr.tokens import subject_reference
from reports.folding import fold_pending
from tests.checkpoints.helpers import (
    change_status,
    create_person,
    declare,
    new_checkpoint,
    person_token,
    scan,
    staff_for,
    staff_headers,
    unverified_parts,
)
from tests.conftest import sign_in_citizen, sign_in_staff


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}.{b64(signature)}"


class Forge:
    """Builds hostile and broken variants of a genuine code for one person."""

    def __init__(self, ctx: Context, genuine: str, person_id: str) -> None:
        self.ctx = ctx
        self.genuine = genuine
        self.person_id = person_id
        head, body, _ = genuine.split(".")
        self.header = json.loads(base64.urlsafe_b64decode(head + "=="))
        self.claims = json.loads(base64.urlsafe_b64decode(body + "=="))

    def claims_with(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {**self.claims, "iat": now, "exp": now + 3600, **changes}
        return {k: v for k, v in claims.items() if v is not None}

    async def signed(self, claims: dict[str, Any], **header: Any) -> str:
        """Signed with the service's real current key: only the named part is wrong."""
        signer = (await key_ring(self.ctx)).current
        assert signer is not None
        headers = {"kid": signer.kid, "typ": "kb-qr+jwt", **header}
        token = jwt.encode(claims, signer.private_key, algorithm=signer.alg, headers=headers)
        return tokens.low_s(token) if signer.alg == "ES256" else token


Case = Callable[[Forge], Awaitable[str]]


async def alg_none(f: Forge) -> str:
    return compact({**f.header, "alg": "none"}, f.claims_with())


async def hs256_with_public_key_as_secret(f: Forge) -> str:
    ring = await key_ring(f.ctx)
    pem = ring.keys[f.header["kid"]].public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, claims = {**f.header, "alg": "HS256"}, f.claims_with()
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _attacker_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, thumbprint(public_jwk(key.public_key()))


async def unknown_kid(f: Forge) -> str:
    key, kid = _attacker_key()
    return jwt.encode(f.claims_with(), key, "ES256", headers={"kid": kid, "typ": "kb-qr+jwt"})


async def kid_path_traversal(f: Forge) -> str:
    key, _ = _attacker_key()
    headers = {"kid": "../../etc/passwd", "typ": "kb-qr+jwt"}
    return jwt.encode(f.claims_with(), key, "ES256", headers=headers)


async def kid_sql_injection(f: Forge) -> str:
    return await f.signed(f.claims_with(), kid="' OR 1=1 --")


async def attacker_key_with_real_kid(f: Forge) -> str:
    key, _ = _attacker_key()
    headers = {"kid": f.header["kid"], "typ": "kb-qr+jwt"}
    return jwt.encode(f.claims_with(), key, "ES256", headers=headers)


async def jku_header(f: Forge) -> str:
    return await f.signed(f.claims_with(), jku="https://attacker.example/jwks.json")


async def x5u_header(f: Forge) -> str:
    return await f.signed(f.claims_with(), x5u="https://attacker.example/cert.pem")


async def embedded_jwk_header(f: Forge) -> str:
    key, kid = _attacker_key()
    headers = {"kid": kid, "typ": "kb-qr+jwt", "jwk": public_jwk(key.public_key())}
    return jwt.encode(f.claims_with(), key, "ES256", headers=headers)


async def x5c_header(f: Forge) -> str:
    return await f.signed(f.claims_with(), x5c=["MIIB"])


async def eddsa_alg_on_es256_key(f: Forge) -> str:
    header = {**f.header, "alg": "EdDSA"}
    return compact(header, f.claims_with(), b"\x00" * 64)


async def wrong_audience(f: Forge) -> str:
    return await f.signed(f.claims_with(aud="khaibao-venue"))


async def audience_list(f: Forge) -> str:
    return await f.signed(f.claims_with(aud=["khaibao-checkpoint", "other"]))


async def wrong_issuer(f: Forge) -> str:
    return await f.signed(f.claims_with(iss="https://evil.example"))


async def wrong_type(f: Forge) -> str:
    return await f.signed(f.claims_with(), typ="kb-venue+jwt")


async def expired(f: Forge) -> str:
    now = int(time.time())
    return await f.signed(f.claims_with(iat=now - 26 * 3600, exp=now - 2 * 3600))


async def not_before_in_future(f: Forge) -> str:
    return await f.signed(f.claims_with(nbf=int(time.time()) + 3600))


async def issued_in_future(f: Forge) -> str:
    now = int(time.time())
    return await f.signed(f.claims_with(iat=now + 3600, exp=now + 7200))


async def missing_jti(f: Forge) -> str:
    return await f.signed(f.claims_with(jti=None))


async def missing_exp(f: Forge) -> str:
    return await f.signed(f.claims_with(exp=None))


async def unrecorded_jti(f: Forge) -> str:
    return await f.signed(f.claims_with(jti="never-issued-0000000000"))


async def someone_elses_subject(f: Forge) -> str:
    other = subject_reference(f.ctx, "per_SOMEONEELSE")
    return await f.signed(f.claims_with(sub=other))


async def tampered_payload(f: Forge) -> str:
    head, _, signature = f.genuine.split(".")
    claims = {**f.claims, "exp": f.claims["exp"] + 30 * 24 * 3600}
    return f"{head}.{b64(json.dumps(claims))}.{signature}"


async def tampered_status(f: Forge) -> str:
    head, _, signature = f.genuine.split(".")
    return f"{head}.{b64(json.dumps({**f.claims, 'st': 'green', 'sub': 'x' * 22}))}.{signature}"


async def stripped_signature(f: Forge) -> str:
    head, body, _ = f.genuine.split(".")
    return f"{head}.{body}."


async def truncated_signature(f: Forge) -> str:
    return f.genuine[:-10]


async def two_segments(f: Forge) -> str:
    return ".".join(f.genuine.split(".")[:2])


async def header_not_json(f: Forge) -> str:
    _, body, signature = f.genuine.split(".")
    return f"{b64('not json')}.{body}.{signature}"


async def header_is_a_list(f: Forge) -> str:
    _, body, signature = f.genuine.split(".")
    return f"{b64('[1, 2]')}.{body}.{signature}"


async def oversized(f: Forge) -> str:
    return f.genuine + "A" * 2048


async def garbage(f: Forge) -> str:
    return "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH"


async def revoked(f: Forge) -> str:
    ops = await revoke_live_tokens(f.ctx.store, f.person_id, reason="test", now=utcnow())
    await f.ctx.store.write(ops)
    return f.genuine


REJECTIONS: list[tuple[Case, str]] = [
    (alg_none, "unsupported_alg"),
    (hs256_with_public_key_as_secret, "unsupported_alg"),
    (eddsa_alg_on_es256_key, "unsupported_alg"),
    (unknown_kid, "unknown_kid"),
    (kid_path_traversal, "unknown_kid"),
    (kid_sql_injection, "unknown_kid"),
    (attacker_key_with_real_kid, "bad_signature"),
    (jku_header, "forbidden_header"),
    (x5u_header, "forbidden_header"),
    (embedded_jwk_header, "forbidden_header"),
    (x5c_header, "forbidden_header"),
    (wrong_audience, "wrong_audience"),
    (audience_list, "wrong_audience"),
    (wrong_issuer, "wrong_issuer"),
    (wrong_type, "wrong_type"),
    (expired, "expired"),
    (not_before_in_future, "not_yet_valid"),
    (issued_in_future, "not_yet_valid"),
    (missing_jti, "missing_claim"),
    (missing_exp, "missing_claim"),
    (unrecorded_jti, "unknown_token"),
    (someone_elses_subject, "unknown_token"),
    (tampered_payload, "bad_signature"),
    (tampered_status, "bad_signature"),
    (stripped_signature, "bad_signature"),
    (truncated_signature, "bad_signature"),
    (two_segments, "malformed"),
    (header_not_json, "malformed"),
    (header_is_a_list, "malformed"),
    (oversized, "too_large"),
    (garbage, "malformed"),
    (revoked, "revoked"),
]


ID_NUMBER = "001190054321"


@pytest.fixture
async def scene(ctx: Context, client: httpx.AsyncClient) -> dict[str, Any]:
    citizen = await sign_in_citizen(client)
    person_id = await create_person(client, citizen, id_number=ID_NUMBER)
    token = await person_token(client, citizen, person_id)
    checkpoint = await new_checkpoint(ctx, client)
    staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
    return {
        "citizen": citizen,
        "person_id": person_id,
        "token": token,
        "checkpoint_id": checkpoint["id"],
        "staff": staff,
    }


class TestEveryRejectionIsADenyWithItsReason:
    @pytest.mark.parametrize(
        ("make", "reason_code"), REJECTIONS, ids=[case.__name__ for case, _ in REJECTIONS]
    )
    async def test_rejected(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        scene: dict[str, Any],
        make: Case,
        reason_code: str,
    ) -> None:
        hostile = await make(Forge(ctx, scene["token"], scene["person_id"]))
        result = await scan(client, scene["staff"], scene["checkpoint_id"], hostile)
        assert result["decision"] == "deny"
        assert result["reason_code"] == reason_code
        assert result["reason"]
        if reason_code != "revoked":
            assert result["status"] is None
        # The genuine code still works (unless it was the one revoked).
        if reason_code != "revoked":
            genuine = await scan(client, scene["staff"], scene["checkpoint_id"], scene["token"])
            assert genuine["decision"] == "allow"

    async def test_a_declaration_with_symptoms_ends_the_green_code(
        self, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        declared = await declare(
            client, scene["citizen"], id_number=ID_NUMBER, symptoms=("fever", "cough")
        )
        assert declared["person_id"] == scene["person_id"]
        assert declared["status"] == "yellow"
        result = await scan(client, scene["staff"], scene["checkpoint_id"], scene["token"])
        assert (result["decision"], result["status"]) == ("deny", "yellow")
        # The declaration revoked the live code in its own batch (qr.revocations hook).
        assert result["reason_code"] == "revoked"
        jti = unverified_parts(scene["token"])[1]["jti"]
        listed = await client.get("/v1/revocations", headers=scene["staff"])
        revoked = listed.json()["revoked"]
        assert jti in {entry["jti"] for entry in revoked}

    async def test_a_code_issued_green_is_denied_once_the_person_turned_yellow(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        await change_status(ctx, scene["person_id"], "yellow")
        result = await scan(client, scene["staff"], scene["checkpoint_id"], scene["token"])
        assert result == {
            "decision": "deny",
            "status": "yellow",
            "reason": "Yellow status",
            "reason_code": "status_yellow",
        }

    async def test_red_person_with_fresh_red_code_is_denied(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        await change_status(ctx, scene["person_id"], "red")
        token = await person_token(client, scene["citizen"], scene["person_id"])
        result = await scan(client, scene["staff"], scene["checkpoint_id"], token)
        assert (result["decision"], result["status"], result["reason_code"]) == (
            "deny",
            "red",
            "status_red",
        )

    async def test_reason_in_vietnamese_when_asked(
        self, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/v1/checkpoints/{scene['checkpoint_id']}/scans",
            json={"token": scene["token"]},
            headers={**scene["staff"], "Accept-Language": "vi-VN,vi;q=0.9"},
        )
        assert response.json()["reason"] == "Xanh: được vào"

    async def test_json_of_the_wrong_shape_is_422(
        self, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url = f"/v1/checkpoints/{scene['checkpoint_id']}/scans"
        for body in ({"token": 12}, {"token": None}, {}, {"token": "x", "extra": 1}, [1]):
            response = await client.post(url, json=body, headers=scene["staff"])
            assert response.status_code == 422, body
            assert response.json()["code"] == "validation_failed"


# Verdicts about the signature itself, or about the record, depend on what the record
# holds; every other rejection must hold even when the record holds the hostile text.
_ABOUT_SIGNATURE_OR_RECORD = {"bad_signature", "unknown_token", "revoked"}
_CHECKS_BESIDES_THE_SIGNATURE = [
    (case, reason) for case, reason in REJECTIONS if reason not in _ABOUT_SIGNATURE_OR_RECORD
]


class TestACodeOnRecordSkipsOnlyTheSignature:
    """A scanned code that is, character for character, the one its record keeps was signed
    here, and its signature is not checked again (`qr.service.identify`). Everything else
    still is: if the record held a hostile text itself, the scan must refuse it as before."""

    @pytest.mark.parametrize(
        ("make", "reason_code"),
        _CHECKS_BESIDES_THE_SIGNATURE,
        ids=[case.__name__ for case, _ in _CHECKS_BESIDES_THE_SIGNATURE],
    )
    async def test_every_other_check_holds_for_a_text_on_record(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        scene: dict[str, Any],
        make: Case,
        reason_code: str,
    ) -> None:
        hostile = await make(Forge(ctx, scene["token"], scene["person_id"]))
        jti = unverified_parts(scene["token"])[1]["jti"]
        await ctx.store.write([Update("qr_tokens", jti, set={"token": hostile})])
        result = await scan(client, scene["staff"], scene["checkpoint_id"], hostile)
        assert (result["decision"], result["reason_code"]) == ("deny", reason_code)

    async def test_the_signature_is_checked_only_for_a_text_not_on_record(
        self,
        client: httpx.AsyncClient,
        scene: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        checked: list[bytes] = []
        check = tokens._signature_valid

        def counting(key: Any, signing_input: bytes, signature: bytes) -> bool:
            checked.append(signing_input)
            return check(key, signing_input, signature)

        monkeypatch.setattr(tokens, "_signature_valid", counting)
        genuine = scene["token"]
        result = await scan(client, scene["staff"], scene["checkpoint_id"], genuine)
        assert (result["decision"], checked) == ("allow", [])
        altered = genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + genuine[-1]
        result = await scan(client, scene["staff"], scene["checkpoint_id"], altered)
        assert (result["reason_code"], len(checked)) == ("bad_signature", 1)


def _fuzz_inputs() -> list[str]:
    """Hypothesis-generated hostile strings, collected once (deterministically) and then
    sent through the real endpoint."""
    jws_part = st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=400
    )
    strategy = st.one_of(
        st.text(alphabet=st.characters(codec="utf-8"), max_size=3000),
        st.binary(max_size=1500).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
        st.tuples(jws_part, jws_part, jws_part).map(".".join),
        st.lists(st.binary(max_size=300).map(b64), min_size=1, max_size=5).map(".".join),
        st.integers(min_value=2000, max_value=60_000).map(lambda n: "eyJ" + "A" * n),
        st.dictionaries(st.text(max_size=8), st.text(max_size=16), max_size=5).map(
            lambda header: f"{b64(json.dumps(header))}.{b64('{}')}.{b64(b'sig')}"
        ),
    )
    found: list[str] = []

    @settings(max_examples=150, database=None, derandomize=True, deadline=None)
    @given(strategy)
    def collect(value: str) -> None:
        found.append(value)

    collect()
    return found


def _segments(token: str) -> list[bytes] | None:
    try:
        return [base64.urlsafe_b64decode(part + "==") for part in token.split(".")]
    except ValueError:
        return None


class TestFuzzNeverBreaksTheScanner:
    async def test_random_and_mangled_tokens_are_denied_never_500(
        self, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        genuine = scene["token"]
        mangled = [genuine[:cut] for cut in range(0, len(genuine), 7)]
        for i in range(0, len(genuine), 11):
            swapped = genuine[:i] + ("x" if genuine[i] != "x" else "y") + genuine[i + 1 :]
            if _segments(swapped) != _segments(genuine):  # base64's spare bits decode alike
                mangled.append(swapped)
        url = f"/v1/checkpoints/{scene['checkpoint_id']}/scans"
        for token in _fuzz_inputs() + mangled:
            response = await client.post(url, json={"token": token}, headers=scene["staff"])
            assert response.status_code in (200, 413, 422), (response.status_code, token[:80])
            if response.status_code == 200:
                assert response.json()["decision"] == "deny", token[:80]

    async def test_raw_bytes_as_body_are_a_client_error(
        self, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url = f"/v1/checkpoints/{scene['checkpoint_id']}/scans"
        headers = {**scene["staff"], "Content-Type": "application/json"}
        for body in (b"\xff\xfe\x00", b'{"token": "\xc3\x28"}', b"{" * 5000, b""):
            response = await client.post(url, content=body, headers=headers)
            assert 400 <= response.status_code < 500, body[:20]


class TestWhoMayScanWhere:
    async def test_staff_of_another_checkpoint_get_403(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        elsewhere = await new_checkpoint(ctx, client, name="Chợ Đồng Xuân", kind="market")
        staff_of_y = await staff_for(ctx, client, elsewhere["id"])
        response = await client.post(
            f"/v1/checkpoints/{scene['checkpoint_id']}/scans",
            json={"token": scene["token"]},
            headers=staff_of_y,
        )
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    async def test_unknown_checkpoint_is_404_for_staff_listing_it(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        staff = await staff_for(ctx, client, "cp_GONE")
        response = await client.post(
            "/v1/checkpoints/cp_GONE/scans", json={"token": scene["token"]}, headers=staff
        )
        assert response.status_code == 404

    async def test_citizens_and_officers_cannot_scan(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        officer = await sign_in_staff(ctx, client, "health_officer")
        url = f"/v1/checkpoints/{scene['checkpoint_id']}/scans"
        for headers in (scene["citizen"], officer):
            response = await client.post(url, json={"token": scene["token"]}, headers=headers)
            assert response.status_code == 403
        assert (await client.post(url, json={"token": scene["token"]})).status_code == 401


async def _scans(store: Store, checkpoint_id: str) -> list[dict[str, Any]]:
    return await store.find("scans", {"checkpoint_id": checkpoint_id}, sort=[("at", 1)])


class TestEveryScanIsRecordedAndCounted:
    async def test_allow_and_deny_are_stored_and_counted(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        checkpoint_id = scene["checkpoint_id"]
        await scan(client, scene["staff"], checkpoint_id, scene["token"])
        await scan(client, scene["staff"], checkpoint_id, "garbage")
        stored = await _scans(ctx.store, checkpoint_id)
        assert [(s["decision"], s["reason_code"]) for s in stored] == [
            ("allow", "ok"),
            ("deny", "malformed"),
        ]
        assert stored[0]["person_id"] == scene["person_id"]
        assert stored[1]["person_id"] is None
        assert stored[0]["staff_id"] == stored[1]["staff_id"]
        day = local_day(utcnow()).isoformat()
        await fold_pending(ctx.store)  # as a report does before it reads
        for decision in ("allow", "deny"):
            counter = await ctx.store.get(
                "report_counters", f"cp|{day}|{checkpoint_id}|scan|{decision}"
            )
            assert counter is not None
            assert counter["n"] == 1
