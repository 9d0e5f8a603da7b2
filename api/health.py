"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel
from redis.exceptions import RedisError

from core.errors import Overloaded, StorageUnavailable
from core.i18n import Text
from core.storage import StorageDown
from web.deps import ContextDep
from web.problems import responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    broker: str


class BrokerUnavailable(Overloaded):
    code = "broker_unavailable"
    title = Text("Broker unreachable", "Không kết nối được hàng đợi")
    detail = Text("Redis does not answer.", "Redis không phản hồi.")


@router.get("/healthz", summary="The process is alive", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The database and broker answer",
    response_model=Readiness,
    responses=responses(StorageUnavailable, BrokerUnavailable),
)
async def readyz(ctx: ContextDep) -> Readiness:
    try:
        await ctx.store.ping()
    except StorageDown:
        raise StorageUnavailable() from None
    broker = "not configured"
    if ctx.redis is not None:
        try:
            await ctx.redis.ping()
        except (RedisError, OSError):
            raise BrokerUnavailable() from None
        broker = "ok"
    return Readiness(status="ok", database="ok", broker=broker)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
