"""SMART Health Cards: numeric `shc:/` QR text (one code, or `shc:/i/n/` chunks in any
order) → compact JWS → raw-DEFLATE payload → the FHIR bundle of the credential.

The signature is checked by `joserfc` with the issuer's own key for the header's `kid`,
ES256 only; `zip` is the one header beyond JWS's own that the format needs and the only one
admitted. Keys come from the trust list, never from the card (no `jku`, `jwk`, `x5u`).
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, cast

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from certificates.checks import (
    MAX_DECOMPRESSED_BYTES,
    OK,
    Check,
    DecodeFailure,
    Facts,
    Holder,
    Verification,
    failed,
)
from certificates.policy import judge
from certificates.trust import ShcIssuer, TrustList, is_timestamp, utc_from_timestamp
from declarations.acceptance import AcceptancePolicy

PREFIX = "shc:/"
MAX_CHUNKS = 10
HEALTH_CARD = "https://smarthealth.cards#health-card"
# An issuer's clock a little ahead of the checkpoint's is not a forgery.
_NBF_LEEWAY = timedelta(minutes=5)
_SINGLE = re.compile(r"^shc:/([0-9]+)$")
_CHUNK = re.compile(r"^shc:/([0-9]{1,2})/([0-9]{1,2})/([0-9]+)$")
JWS_REGISTRY = JWSRegistry(
    header_registry={"zip": HeaderParameter("Payload compression (DEF)", "str")},
    algorithms=["ES256"],
)
# SNOMED CT results and LOINC test codes the policy knows.
_NEGATIVE = frozenset({"260385009", "260415000"})
_PCR = frozenset({"94309-2", "94500-6", "94533-7", "94534-5", "94756-4", "94757-2", "94845-5"})
_RAPID = frozenset({"94558-4", "95209-3", "97097-0", "94661-6"})


@dataclass(frozen=True)
class Card:
    token: str
    kid: str
    iss: str
    nbf: float
    exp: float | None
    rid: str | None
    bundle: list[dict[str, Any]]


def verify_shc(
    chunks: Sequence[str], trust: TrustList, policy: AcceptancePolicy, *, now: datetime
) -> Verification:
    """Every check of one card, given as its QR text or texts, at `now`."""
    verification = Verification("smart_health_card")
    try:
        card = decode(chunks)
    except DecodeFailure as failure:
        return verification.decode_failed(failure.code)
    issuer = trust.shc_issuers.get(card.iss)
    facts = replace(_facts(card.bundle), country=issuer.country if issuer else None)
    verification.checks["decode"] = OK
    verification.holder = _holder(card.bundle)
    verification.facts = facts
    verification.checks["signature"] = _signature(card, issuer)
    verification.checks["issuer"] = OK if issuer is not None else failed("unknown_issuer")
    verification.checks["validity"] = _validity(card, now)
    verification.checks["revocation"] = _revocation(card, issuer)
    verification.checks["policy"] = judge(facts, policy, now=now)
    return verification


def decode(chunks: Sequence[str]) -> Card:
    token = jws_text(chunks)
    parts = token.split(".")
    if len(parts) != 3:
        raise DecodeFailure("bad_jws")
    header = _json(_b64(parts[0], "bad_jws"), "bad_jws")
    if not isinstance(header, dict) or not isinstance(header.get("kid"), str):
        raise DecodeFailure("bad_jws")
    if header.get("zip") != "DEF":
        raise DecodeFailure("bad_jws")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(_b64(parts[1], "bad_payload"), MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        raise DecodeFailure("bad_payload") from None
    if inflater.unconsumed_tail:
        raise DecodeFailure("too_large")
    payload = _json(raw, "bad_payload")
    return _card(token, header["kid"], payload)


def jws_text(chunks: Sequence[str]) -> str:
    """The JWS from its numeric QR text: each pair of digits plus 45 is one character."""
    texts = [chunk.strip() for chunk in chunks]
    if not texts or len(texts) > MAX_CHUNKS:
        raise DecodeFailure("bad_chunks")
    if len(texts) == 1 and (single := _SINGLE.match(texts[0])):
        return _numeric(single.group(1))
    found: dict[int, str] = {}
    total: int | None = None
    for text in texts:
        chunk = _CHUNK.match(text)
        if chunk is None:
            raise DecodeFailure("bad_chunks" if text.startswith(PREFIX) else "unknown_format")
        index, count = int(chunk.group(1)), int(chunk.group(2))
        if total not in (None, count) or not 1 <= index <= count or index in found:
            raise DecodeFailure("bad_chunks")
        total = count
        found[index] = chunk.group(3)
    if total is None or len(found) != total:
        raise DecodeFailure("bad_chunks")
    return "".join(_numeric(found[i]) for i in range(1, total + 1))


# Each pair of digits is one character: its code minus 45 ("00" is "-", "77" is "z").
_PAIRS = {f"{value:02d}": chr(value + 45) for value in range(ord("z") - 45 + 1)}


def _numeric(digits: str) -> str:
    """By table, pair by pair (pairing the even and odd digits): per-pair int() and chr()
    were most of a SMART card's verification time."""
    if len(digits) % 2:
        raise DecodeFailure("bad_numeric")
    try:
        return "".join(map(_PAIRS.__getitem__, map(operator.add, digits[0::2], digits[1::2])))
    except KeyError:
        raise DecodeFailure("bad_numeric") from None


def _b64(text: str, code: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise DecodeFailure(code)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DecodeFailure(code) from None


def _json(data: bytes, code: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise DecodeFailure(code) from None


def _card(token: str, kid: str, payload: Any) -> Card:
    if not isinstance(payload, dict):
        raise DecodeFailure("bad_payload")
    iss, nbf, exp, vc = (
        payload.get("iss"),
        payload.get("nbf"),
        payload.get("exp"),
        payload.get("vc"),
    )
    if (
        not isinstance(iss, str)
        or not is_timestamp(nbf)
        or (exp is not None and not is_timestamp(exp))
    ):
        raise DecodeFailure("bad_payload")
    if not isinstance(vc, dict) or not isinstance(vc.get("type"), list):
        raise DecodeFailure("bad_payload")
    if HEALTH_CARD not in vc["type"]:
        raise DecodeFailure("bad_payload")
    rid = vc.get("rid")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list) or (rid is not None and not isinstance(rid, str)):
        raise DecodeFailure("bad_payload")
    resources = [
        e["resource"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    expires = None if exp is None else float(exp)
    return Card(token, kid, iss, float(cast(float, nbf)), expires, rid, resources)


def _signature(card: Card, issuer: ShcIssuer | None) -> Check:
    key = issuer.keys.get(card.kid) if issuer is not None else None
    if key is None:
        return failed("unknown_signer")
    try:
        jws.deserialize_compact(card.token, key, algorithms=["ES256"], registry=JWS_REGISTRY)
    except JoseError as error:
        if error.error == "unsupported_algorithm":
            return failed("unsupported_algorithm")
        return failed("bad_signature")
    except ValueError:
        return failed("bad_signature")
    return OK


def _validity(card: Card, now: datetime) -> Check:
    if now + _NBF_LEEWAY < utc_from_timestamp(card.nbf):
        return failed("not_yet_valid")
    if card.exp is not None and now > utc_from_timestamp(card.exp):
        return failed("expired")
    return OK


def _revocation(card: Card, issuer: ShcIssuer | None) -> Check:
    """Revoked when the key's list names the card's `rid`; `rid.t` revokes only cards
    issued (`nbf`) before `t`, as the SMART Health Cards specification says."""
    revocations = issuer.revocations.get(card.kid) if issuer is not None else None
    if revocations is None:
        return Check("skipped", "no_revocation_list")
    if card.rid is not None and revocations.revokes(card.rid, card.nbf):
        return failed("revoked")
    return OK


def _holder(resources: list[dict[str, Any]]) -> Holder | None:
    for resource in resources:
        if resource.get("resourceType") != "Patient":
            continue
        names = resource.get("name")
        name = None
        if isinstance(names, list) and names and isinstance(names[0], dict):
            given = names[0].get("given")
            words = [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
            family = names[0].get("family")
            if isinstance(family, str):
                words.append(family)
            name = " ".join(words)[:200] or None
        birth = resource.get("birthDate")
        return Holder(name=name, birth_date=birth[:10] if isinstance(birth, str) else None)
    return None


def _codes(concept: Any) -> set[str]:
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return set()
    return {str(c.get("code")) for c in concept["coding"] if isinstance(c, dict)}


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if isinstance(value, str) else None
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo is not None else None


def _facts(resources: list[dict[str, Any]]) -> Facts:
    doses = [
        r
        for r in resources
        if r.get("resourceType") == "Immunization" and r.get("status", "completed") == "completed"
    ]
    if doses:
        days = [d for d in (_day(r.get("occurrenceDateTime")) for r in doses) if d is not None]
        return Facts(
            type="vaccination", country=None, doses=len(doses), last_dose=max(days, default=None)
        )
    tests = [r for r in resources if r.get("resourceType") == "Observation"]
    for test in tests:
        codes = _codes(test.get("code"))
        kind = "pcr" if codes & _PCR else "rapid" if codes & _RAPID else None
        if kind is None:
            continue
        return Facts(
            type="test",
            country=None,
            test_kind=kind,  # type: ignore[arg-type]
            test_negative=bool(_codes(test.get("valueCodeableConcept")) & _NEGATIVE),
            sampled_at=_moment(test.get("effectiveDateTime")),
        )
    if tests:
        return Facts(type="test", country=None, test_kind="other")
    return Facts(type=None, country=None)
