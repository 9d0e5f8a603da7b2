"""The one place that lists the domains: their routers and their collections."""

from __future__ import annotations

from fastapi import APIRouter

from accounts import repository as accounts_repository
from accounts.router import router as accounts_router
from certificates import repository as certificates_repository
from certificates.router import router as certificates_router
from checkpoints import repository as checkpoints_repository
from checkpoints.router import hot_router as checkpoints_hot_router
from checkpoints.router import router as checkpoints_router
from core.ratelimit import RATE_LIMITS
from core.storage import CollectionSpec
from declarations import repository as declarations_repository
from declarations.router import hot_router as declarations_hot_router
from declarations.router import router as declarations_router
from declarations.rules_view import router as rules_router
from entry import repository as entry_repository
from entry.router import router as entry_router
from notifications.outbox import OUTBOX
from qr import repository as qr_repository
from qr.router import router as qr_router
from reports import repository as reports_repository
from reports.router import router as reports_router

# FastAPI tries routes in the order they were included, each included router as one node
# whose routes it tries in turn: a request for the last route of the last router first tries
# every other route. The routes a surge is made of are included first, each on a router of
# its own, so they are found after one or two tries (BENCHMARKS.md, "Routing").
HOT_ROUTERS: tuple[APIRouter, ...] = (declarations_hot_router, checkpoints_hot_router)

ROUTERS: tuple[APIRouter, ...] = (
    accounts_router,
    declarations_router,
    rules_router,
    qr_router,
    checkpoints_router,
    reports_router,
    entry_router,
    certificates_router,
)

COLLECTIONS: tuple[CollectionSpec, ...] = (
    RATE_LIMITS,
    OUTBOX,
    *accounts_repository.SPECS,
    *declarations_repository.SPECS,
    *qr_repository.SPECS,
    *checkpoints_repository.SPECS,
    *reports_repository.SPECS,
    *entry_repository.SPECS,
    *certificates_repository.SPECS,
)
