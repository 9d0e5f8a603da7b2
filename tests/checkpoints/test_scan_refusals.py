"""Every way a personal code is refused at a checkpoint: a deny with a stable reason code,
never a 500, even when the code's record holds the hostile text, and under fuzzing."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.context import Context
from core.storage import Update
from qr import tokens
from tests.checkpoints.conftest import ID_NUMBER
from tests.checkpoints.forged_codes import REJECTIONS, Case, Forge, b64
from tests.checkpoints.helpers import (
    change_status,
    declare,
    new_checkpoint,
    person_token,
    scan,
    unverified_parts,
)


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


class TestACodeOfAnotherKindIsNamed:
    """Staff shown a venue poster learn it is one, not that the code is unreadable."""

    @pytest.mark.parametrize("printed", [True, False], ids=["as_printed", "bare_jws"])
    async def test_a_venue_poster_is_wrong_type_saying_so(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any], printed: bool
    ) -> None:
        poster = (await new_checkpoint(ctx, client, name="Chợ Bến Thành", kind="market"))[
            "venue_token"
        ]
        assert poster.startswith("KHAIBAO:1:")
        token = poster if printed else poster.removeprefix("KHAIBAO:1:")
        url = f"/v1/checkpoints/{scene['checkpoint_id']}/scans"
        answers = {
            lang: (
                await client.post(
                    url, json={"token": token}, headers={**scene["staff"], "Accept-Language": lang}
                )
            ).json()
            for lang in ("en", "vi")
        }
        for result in answers.values():
            assert (result["decision"], result["reason_code"]) == ("deny", "wrong_type")
            assert result["status"] is None
        assert answers["en"]["reason"] == "Venue poster, not a personal code"
        assert answers["vi"]["reason"] == "Mã địa điểm, không phải mã cá nhân"
        recorded = await ctx.store.find("scans", {"checkpoint_id": scene["checkpoint_id"]})
        assert {s["reason_code"] for s in recorded} == {"wrong_type"}


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
