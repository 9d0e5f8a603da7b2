"""The one place that lists the domains' routers (their collections: `runtime.collections`)."""

from __future__ import annotations

from fastapi import APIRouter

from accounts.router import router as accounts_router
from certificates.router import router as certificates_router
from checkpoints.router import hot_router as checkpoints_hot_router
from checkpoints.router import router as checkpoints_router
from declarations.router import hot_router as declarations_hot_router
from declarations.router import router as declarations_router
from declarations.rules_view import router as rules_router
from entry.router import router as entry_router
from monitoring.router import router as monitoring_router
from publicmap.router import hot_router as publicmap_hot_router
from publicmap.router import router as publicmap_router
from qr.router import router as qr_router
from questions.router import router as questions_router
from reports.router import router as reports_router
from rights.router import router as rights_router

# FastAPI tries routes in the order they were included, each included router as one node
# whose routes it tries in turn: a request for the last route of the last router first tries
# every other route. The routes a surge is made of are included first, each on a router of
# its own, so they are found after one or two tries (BENCHMARKS.md, "Routing").
HOT_ROUTERS: tuple[APIRouter, ...] = (
    declarations_hot_router,
    checkpoints_hot_router,
    publicmap_hot_router,
)

ROUTERS: tuple[APIRouter, ...] = (
    accounts_router,
    declarations_router,
    rules_router,
    qr_router,
    checkpoints_router,
    reports_router,
    publicmap_router,
    entry_router,
    certificates_router,
    questions_router,
    monitoring_router,
    rights_router,
)
