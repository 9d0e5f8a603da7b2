"""The one list of every collection: what `khaibao db migrate` creates (collections, indexes,
on a cluster their sharding) and what a process checks for at start-up; and the one list of
the data steps migrate then runs on what an older version stored.

A new domain adds its `repository.SPECS` here, and its router to `api.domains.ROUTERS`.
"""

from __future__ import annotations

from accounts import repository as accounts_repository
from certificates import repository as certificates_repository
from checkpoints import repository as checkpoints_repository
from core.idempotency import IDEMPOTENCY
from core.ratelimit import RATE_LIMITS
from core.storage import CollectionSpec, DataStep
from declarations import repository as declarations_repository
from entry import handover as entry_handover
from entry import repository as entry_repository
from monitoring import repository as monitoring_repository
from notifications.outbox import OUTBOX
from people import repository as people_repository
from publicmap import repository as publicmap_repository
from qr import repository as qr_repository
from questions import repository as questions_repository
from reports import repository as reports_repository
from rights import repository as rights_repository

COLLECTIONS: tuple[CollectionSpec, ...] = (
    RATE_LIMITS,
    IDEMPOTENCY,
    OUTBOX,
    *accounts_repository.SPECS,
    *people_repository.SPECS,
    *declarations_repository.SPECS,
    *qr_repository.SPECS,
    *checkpoints_repository.SPECS,
    *reports_repository.SPECS,
    *entry_repository.SPECS,
    *certificates_repository.SPECS,
    *publicmap_repository.SPECS,
    *questions_repository.SPECS,
    *monitoring_repository.SPECS,
    *rights_repository.SPECS,
)

# In order: a step may rely on those before it.
DATA_STEPS: tuple[DataStep, ...] = (
    *questions_repository.DATA_STEPS,
    *entry_handover.DATA_STEPS,
)
