"""`db migrate`'s step for arrivals handed over to monitoring before the hand-over carried
the traveller's contact as it is now (none at first, then one without the email): each gets
it from its entry declaration, as a new one is written (`monitoring.service.arrival_ops`), so
the officer's contact card of an arrival followed since before the upgrade names the
traveller and shows their email too.

Entry does it, not monitoring: the entry declaration is entry's record, and monitoring reads
only what entry hands over (README, the import direction).
"""

from __future__ import annotations

from typing import Any

import orjson

from core.crypto import FieldCipher
from core.settings import Settings
from core.storage import DataStep, StorageError, Store, Update
from entry import repository
from entry.repository import PEOPLE_CONTEXT, STREET_CONTEXT
from monitoring import repository as monitoring_repository
from monitoring.contact import ARRIVAL_CONTACT_VERSION, arrival_contact

_BATCH = 500


async def hand_over_contacts(store: Store, settings: Settings) -> int:
    """Give the traveller's contact, as it is now, to every arrival handed over with an
    older one or none; an arrival whose declaration is gone keeps the one it has, or gets an
    empty one (nothing to show), and is not looked at again (`contact_version`). Each update
    holds only while the arrival's contact is still the one read. How many it changed."""
    cipher = FieldCipher(
        settings.data_key.get_secret_value(), settings.secret_key.get_secret_value()
    )
    changed = 0
    tried: set[str] = set()
    while batch := await monitoring_repository.arrivals_with_older_contact(
        store, version=ARRIVAL_CONTACT_VERSION, limit=_BATCH
    ):
        if tried.issuperset(doc["_id"] for doc in batch):
            raise StorageError("arrivals keep an older contact after an update")
        tried.update(doc["_id"] for doc in batch)
        ops: list[Update] = []
        for arrival in batch:
            declaration = await repository.declaration(store, str(arrival["_id"]))
            contact = _contact(cipher, declaration) if declaration is not None else None
            if contact is None and arrival.get("contact_enc") is None:
                contact = ""  # nothing was handed over and nothing is left to hand over
            ops.append(
                monitoring_repository.set_arrival_contact(
                    arrival, contact, version=ARRIVAL_CONTACT_VERSION
                )
            )
        changed += sum(await store.write(ops))
    return changed


def _contact(cipher: FieldCipher, declaration: dict[str, Any]) -> str:
    traveller = orjson.loads(cipher.decrypt(declaration["people_enc"], context=PEOPLE_CONTEXT))[0]
    return arrival_contact(
        cipher,
        full_name=traveller["full_name"],
        phone=traveller.get("phone"),
        email=traveller.get("email"),
        birth_year=traveller.get("birth_year"),
        street=cipher.decrypt(declaration["stay"]["street_enc"], context=STREET_CONTEXT),
    )


DATA_STEPS: tuple[DataStep, ...] = (
    DataStep(
        "arrivals handed over to monitoring without the traveller's contact", hand_over_contacts
    ),
)
