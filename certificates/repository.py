"""Every database query of the certificates domain: the trust list (EU signers, the CSCAs
that vouch for them and their revocation lists, SMART issuers, and the version that every
change increases) and the log of certificate scans.

The scan log holds the format, the issuing country and the decision, never anything about
the holder: the name and birth date are shown to staff and forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from certificates.dcc_revocation import HASH_TYPES, HashType
from core.storage import (
    CollectionSpec,
    Delete,
    Document,
    Index,
    Insert,
    Operation,
    Store,
    Update,
)

DCC_SIGNERS = CollectionSpec("trust_dcc_signers", datetime_fields=frozenset({"added_at"}))
# Country Signing CAs by the hex SHA-256 of their DER: a few per country, read whole.
DCC_CSCAS = CollectionSpec("trust_dcc_cscas", datetime_fields=frozenset({"added_at"}))
SHC_ISSUERS = CollectionSpec("trust_shc_issuers", datetime_fields=frozenset({"added_at"}))
# One document per (signer kid, hash type): replaced whole, read whole into the verifier.
DCC_REVOCATIONS = CollectionSpec("trust_dcc_revocations", datetime_fields=frozenset({"changed_at"}))
TRUST_VERSIONS = CollectionSpec("trust_versions", datetime_fields=frozenset({"changed_at"}))
CERTIFICATE_SCANS = CollectionSpec(
    "certificate_scans",
    indexes=(Index(("checkpoint_id", "at")),),
    datetime_fields=frozenset({"at", "expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (
    DCC_SIGNERS,
    DCC_CSCAS,
    DCC_REVOCATIONS,
    SHC_ISSUERS,
    TRUST_VERSIONS,
    CERTIFICATE_SCANS,
)

_VERSION_ID = "trust"


# -- the trust list --------------------------------------------------------------------------


async def trust_version(store: Store) -> int:
    document = await store.get("trust_versions", _VERSION_ID)
    return int(document["version"]) if document else 0


def bump_trust_version(now: datetime) -> Update:
    """Every change of the trust list goes in one batch with this: readers reload on it."""
    return Update(
        "trust_versions",
        _VERSION_ID,
        inc={"version": 1},
        set={"changed_at": now},
        upsert=True,
    )


async def commit_change(store: Store, ops: Sequence[Operation], *, now: datetime) -> int:
    """Write a change of the trust list with its version bump; the version it made."""
    await store.write([*ops, bump_trust_version(now)])
    return await trust_version(store)


async def dcc_signers(store: Store) -> list[Document]:
    return await store.find("trust_dcc_signers", {}, sort=[("_id", 1)])


async def dcc_signer(store: Store, kid: str) -> Document | None:
    return await store.get("trust_dcc_signers", kid)


def put_dcc_signer(kid: str, fields: dict[str, Any]) -> Update:
    return Update("trust_dcc_signers", kid, set=fields, upsert=True)


def dcc_signer_held(kid: str) -> Update:
    """A bare precondition: the batch commits only while the signer is still trusted, so a
    list written as an admin untrusts its signer cannot outlive it."""
    return Update("trust_dcc_signers", kid, must_match=True)


def delete_dcc_signer(kid: str) -> Delete:
    return Delete("trust_dcc_signers", {"_id": kid})


def vouch_for_signer(kid: str, csca_id: str) -> Update:
    """A signer trusted before its country had a CSCA, which this CSCA issued. No upsert: a
    signer removed meanwhile stays removed."""
    return Update("trust_dcc_signers", kid, set={"csca": csca_id})


async def dcc_signers_vouched_by(store: Store, csca_id: str) -> list[Document]:
    return await store.find("trust_dcc_signers", {"csca": csca_id}, sort=[("_id", 1)])


def delete_dcc_signers_vouched_by(csca_id: str) -> Delete:
    """By the field, not by the ids read before: a signer vouched for by the CSCA since
    then goes too."""
    return Delete("trust_dcc_signers", {"csca": csca_id})


async def dcc_cscas(store: Store) -> list[Document]:
    return await store.find("trust_dcc_cscas", {}, sort=[("_id", 1)])


async def dcc_csca(store: Store, csca_id: str) -> Document | None:
    return await store.get("trust_dcc_cscas", csca_id)


def put_dcc_csca(csca_id: str, fields: dict[str, Any]) -> Update:
    return Update("trust_dcc_cscas", csca_id, set=fields, upsert=True)


def dcc_csca_held(csca_id: str) -> Update:
    """A bare precondition: a signer vouched for by this CSCA is written only while the CSCA
    is still trusted, so one added as an admin removes the CSCA cannot outlive it."""
    return Update("trust_dcc_cscas", csca_id, must_match=True)


def delete_dcc_csca(csca_id: str) -> Delete:
    return Delete("trust_dcc_cscas", {"_id": csca_id})


def revocations_id(kid: str, hash_type: str) -> str:
    return f"{hash_type}:{kid}"


async def dcc_revocations(store: Store) -> list[Document]:
    return await store.find("trust_dcc_revocations", {}, sort=[("_id", 1)])


async def dcc_revocations_of(store: Store, kid: str) -> list[Document]:
    """One signer's lists, by key: a lookup per hash type, no index needed."""
    found = [
        await store.get("trust_dcc_revocations", revocations_id(kid, hash_type))
        for hash_type in HASH_TYPES
    ]
    return [document for document in found if document is not None]


async def dcc_revocation(store: Store, kid: str, hash_type: HashType) -> Document | None:
    return await store.get("trust_dcc_revocations", revocations_id(kid, hash_type))


def put_dcc_revocations(kid: str, hash_type: HashType, fields: dict[str, Any]) -> Update:
    return Update(
        "trust_dcc_revocations",
        revocations_id(kid, hash_type),
        set={"kid": kid, "hash_type": hash_type, **fields},
        upsert=True,
    )


def delete_dcc_revocations(kid: str, hash_types: Sequence[HashType] = HASH_TYPES) -> Delete:
    ids = [revocations_id(kid, hash_type) for hash_type in hash_types]
    return Delete("trust_dcc_revocations", {"_id": {"$in": ids}})


async def shc_issuers(store: Store) -> list[Document]:
    return await store.find("trust_shc_issuers", {}, sort=[("_id", 1)])


async def shc_issuer(store: Store, iss: str) -> Document | None:
    return await store.get("trust_shc_issuers", iss)


def put_shc_issuer(iss: str, fields: dict[str, Any]) -> Update:
    return Update("trust_shc_issuers", iss, set=fields, upsert=True)


def delete_shc_issuer(iss: str) -> Delete:
    return Delete("trust_shc_issuers", {"_id": iss})


# -- scans -----------------------------------------------------------------------------------


def insert_scan(document: Document) -> Insert:
    return Insert("certificate_scans", document)


async def scans_at(store: Store, checkpoint_id: str, *, since: datetime) -> list[Document]:
    return await store.find(
        "certificate_scans", {"checkpoint_id": checkpoint_id, "at": {"$gte": since}}
    )
