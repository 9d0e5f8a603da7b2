"""Every database query of the certificates domain: the trust list (EU signers, SMART
issuers, and the version that every change increases) and the log of certificate scans.

The scan log holds the format, the issuing country and the decision, never anything about
the holder: the name and birth date are shown to staff and forgotten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.storage import CollectionSpec, Delete, Document, Index, Insert, Store, Update

DCC_SIGNERS = CollectionSpec("trust_dcc_signers", datetime_fields=frozenset({"added_at"}))
SHC_ISSUERS = CollectionSpec("trust_shc_issuers", datetime_fields=frozenset({"added_at"}))
TRUST_VERSIONS = CollectionSpec("trust_versions", datetime_fields=frozenset({"changed_at"}))
CERTIFICATE_SCANS = CollectionSpec(
    "certificate_scans",
    indexes=(Index(("checkpoint_id", "at")),),
    datetime_fields=frozenset({"at", "expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (DCC_SIGNERS, SHC_ISSUERS, TRUST_VERSIONS, CERTIFICATE_SCANS)

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


async def dcc_signers(store: Store) -> list[Document]:
    return await store.find("trust_dcc_signers", {}, sort=[("_id", 1)])


async def dcc_signer(store: Store, kid: str) -> Document | None:
    return await store.get("trust_dcc_signers", kid)


def put_dcc_signer(kid: str, fields: dict[str, Any]) -> Update:
    return Update("trust_dcc_signers", kid, set=fields, upsert=True)


def delete_dcc_signer(kid: str) -> Delete:
    return Delete("trust_dcc_signers", {"_id": kid})


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
