"""One entry point for both formats: which one a scanned text is, and all its checks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from certificates.checks import Verification
from certificates.dcc import verify_dcc
from certificates.shc import PREFIX as SHC_PREFIX
from certificates.shc import verify_shc
from certificates.trust import TrustList
from declarations.acceptance import AcceptancePolicy


def verify(
    texts: Sequence[str], trust: TrustList, policy: AcceptancePolicy, *, now: datetime
) -> Verification:
    """`texts`: the QR text, or a SMART card's chunks in any order. `now` is the moment the
    certificate is judged at: the scan's, or a test vector's clock.

    Anything that is not a SMART card is read as an EU certificate, whose decode check then
    says what is wrong with it (no `HC1:` prefix, damaged Base45 ...)."""
    cleaned = [text.strip() for text in texts]
    if cleaned and all(text[: len(SHC_PREFIX)].lower() == SHC_PREFIX for text in cleaned):
        lowered = [SHC_PREFIX + text[len(SHC_PREFIX) :] for text in cleaned]
        return verify_shc(lowered, trust, policy, now=now)
    if len(cleaned) != 1:
        return Verification("smart_health_card").decode_failed("bad_chunks")
    return verify_dcc(cleaned[0], trust, policy, now=now)
