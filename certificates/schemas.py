"""API shapes of certificate scans and of the trust list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from certificates.checks import Format, Outcome
from certificates.dcc_revocation import MAX_HASHES, HashType
from core.i18n import Text
from declarations.acceptance import CertificateType

_FORBID = ConfigDict(extra="forbid")
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["AT"])]
# The largest QR code holds 4,296 alphanumeric characters; a SMART chunk at most 1,195
# characters of JWS, written as twice as many digits.
QrText = Annotated[str, Field(min_length=1, max_length=8192)]


def _invalid(en: str, vi: str, field: str | None = None) -> PydanticCustomError:
    context: dict[str, object] = {"reason": Text(en, vi)}
    if field is not None:  # a check across fields names the one to fix
        context["field"] = field
    return PydanticCustomError("value_error", en, context)


class CertificateScanRequest(BaseModel):
    model_config = _FORBID
    qr: QrText | None = Field(
        default=None, description="The QR text: `HC1:…` (EU DCC) or `shc:/…` (SMART Health Card)"
    )
    chunks: Annotated[list[QrText], Field(min_length=1, max_length=10)] | None = Field(
        default=None, description="A SMART Health Card in several QR codes, in any order"
    )

    @model_validator(mode="after")
    def _one_form(self) -> CertificateScanRequest:
        if (self.qr is None) == (self.chunks is None):
            raise _invalid("send qr or chunks", "gửi qr hoặc chunks", "qr")
        return self

    @property
    def texts(self) -> list[str]:
        return [self.qr] if self.qr is not None else list(self.chunks or ())


class CheckResult(BaseModel):
    result: Outcome = Field(description="`ok`, `failed`, or `skipped` (nothing to check / not run)")
    code: str = Field(description="`ok`, or a stable code saying what failed or why skipped")
    detail: str = Field(description="Short, in the caller's language")


class Checks(BaseModel):
    decode: CheckResult
    signature: CheckResult
    issuer: CheckResult
    validity: CheckResult
    revocation: CheckResult
    policy: CheckResult


class HolderOut(BaseModel):
    name: str | None = Field(description="As the certificate writes it, to compare with an ID")
    birth_date: str | None = Field(description="YYYY-MM-DD, or YYYY / YYYY-MM as issued")


class CertificateOut(BaseModel):
    """Minimum disclosure: what kind of certificate and where from. Doses, dates and results
    stay out of the answer; the `policy` check says whether they satisfied the rules."""

    type: CertificateType | None
    issuer_country: str | None = Field(description="ISO 3166 alpha-2 where known")


class CertificateScanResult(BaseModel):
    decision: Literal["allow", "deny"]
    format: Format
    checks: Checks
    holder: HolderOut | None = Field(description="Null when the code could not be decoded")
    certificate: CertificateOut | None
    reason: str = Field(description="The first failed check's text, in the caller's language")
    reason_code: str
    trust_version: int = Field(description="The trust-list version this was checked against")


class DccSignerIn(BaseModel):
    model_config = _FORBID
    certificate: Annotated[str, Field(min_length=16, max_length=16384)] = Field(
        description="The signer certificate (DSC): base64 of its DER X.509"
    )
    country: Country


class DccSignerCreated(BaseModel):
    kid: str = Field(description="Base64 of the first 8 bytes of the certificate's SHA-256")
    version: int


class DccSignerOut(BaseModel):
    kid: str
    country: str
    not_before: datetime
    not_after: datetime
    may_sign: list[CertificateType] | None = Field(
        description="Types its key usage allows; null: every type"
    )
    certificate: str
    added_at: datetime
    csca: str | None = Field(
        description="The id of the CSCA that issued it, checked when it was added; null: "
        "unchecked (its country had no CSCA then)"
    )


class DccSignerList(BaseModel):
    version: int
    signers: list[DccSignerOut]


class DccCscaIn(BaseModel):
    model_config = _FORBID
    certificate: Annotated[str, Field(min_length=16, max_length=16384)] = Field(
        description="The Country Signing CA certificate: base64 of its DER X.509"
    )
    country: Country


class DccCscaCreated(BaseModel):
    id: str = Field(description="Hex SHA-256 of the certificate's DER")
    country: str
    version: int


class DccCscaOut(BaseModel):
    id: str
    country: str
    subject: str = Field(description="The certificate's subject, RFC 4514")
    not_before: datetime
    not_after: datetime
    certificate: str
    added_at: datetime
    source: str | None = Field(description="The refresh URL that brought it; null: an admin")


class DccCscaList(BaseModel):
    version: int
    cscas: list[DccCscaOut]


RevocationHashes = Annotated[
    list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_HASHES)
]
# Standard base64 of 8 bytes, as `DccSignerCreated.kid` gives it.
Kid = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{11}=$", examples=["2Rk3X8HntrI="])]


class DccRevocationsIn(BaseModel):
    model_config = _FORBID
    kid: Kid = Field(description="A trusted EU signer's kid: the list revokes what it signed")
    hash_type: HashType = Field(
        description="`SIGNATURE` (of the COSE signature; ES256: its `r` half), `UCI` (of the "
        "certificate's `ci`), `COUNTRYCODEUCI` (of the issuing country followed by the UCI)"
    )
    hashes: RevocationHashes = Field(
        description="Base64 of the first 16 bytes of each SHA-256; replaces the signer's list "
        "of this type. An empty list says nothing is revoked."
    )


class DccRevocationsCreated(BaseModel):
    kid: str
    hash_type: HashType
    count: int = Field(description="Distinct hashes now in the list")
    version: int


class DccRevocationsOut(BaseModel):
    kid: str
    hash_type: HashType
    count: int
    hashes: list[str]
    changed_at: datetime


class DccRevocationsList(BaseModel):
    version: int
    lists: list[DccRevocationsOut]


Iss = Annotated[str, Field(pattern=r"^https://[!-~]{1,500}$", max_length=512)]


class ShcIssuerIn(BaseModel):
    model_config = _FORBID
    iss: Iss = Field(examples=["https://spec.smarthealth.cards/examples/issuer"])
    jwks: dict[str, Any] = Field(
        description="The issuer's public key set (`/.well-known/jwks.json`)"
    )
    crl: dict[str, Any] | Annotated[list[dict[str, Any]], Field(max_length=50)] | None = Field(
        default=None, description="Revocation list(s) `{kid, method: rid, ctr, rids}`, one per key"
    )
    country: Country | None = Field(default=None, description="Shown as the issuing country")


class ShcIssuerCreated(BaseModel):
    iss: str
    version: int


class ShcIssuerOut(BaseModel):
    iss: str
    country: str | None
    kids: list[str]
    revocation_lists: dict[str, int] = Field(description="kid → the list's counter (`ctr`)")
    added_at: datetime


class ShcIssuerList(BaseModel):
    version: int
    issuers: list[ShcIssuerOut]
