"""FastAPI dependencies: the process context, the signed-in caller and the language of the
request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.context import Context
from core.errors import Forbidden, Unauthenticated
from core.i18n import language_of
from core.idempotency import IDEMPOTENCY_KEY_LENGTH, IDEMPOTENCY_KEY_PATTERN
from core.principals import Principal, Role, VerifiedTokens, verify_access_token

_bearer = HTTPBearer(auto_error=False)


def context_of(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


async def get_context(request: Request) -> Context:
    """Async on purpose: FastAPI runs a plain `def` dependency on a thread, a hop per request."""
    return context_of(request)


ContextDep = Annotated[Context, Depends(get_context)]


async def authorise(ctx: Context, scheme: str, token: str, roles: tuple[Role, ...]) -> Principal:
    """The caller of a `Bearer` access token, if their role is one of `roles` (401, 403).
    A staff token also needs its account still enabled and unchanged: `ctx.sessions`, which
    the runtime sets to the accounts domain's check (`accounts.sessions`)."""
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated()
    principal = verify_access_token(
        token,
        secret=ctx.settings.secret_key.get_secret_value(),
        verified=ctx.caches.of(VerifiedTokens),
    )
    if principal.role != "citizen":
        await ctx.sessions(ctx, principal)
    if principal.role not in roles:
        raise Forbidden()
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only the given roles (403 for the others)."""

    async def check(
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise Unauthenticated()
        return await authorise(ctx, credentials.scheme, credentials.credentials, roles)

    check.roles = roles  # type: ignore[attr-defined]  # read by web.lean, which skips the solver
    return check


def request_language(request: Request) -> str:
    """The language to answer in: its Accept-Language header, negotiated."""
    return negotiate(request.headers.get("accept-language"))


def negotiate(header: str | None) -> str:
    """The best of `core.i18n.LANGUAGES` for an Accept-Language header (RFC 9110 weights;
    `vi-VN` is `vi`); English when nothing matches. The one place that reads the header (the
    edge middleware calls it on raw headers)."""
    best, best_weight = "en", 0.0
    for item in (header or "").split(",")[:16]:
        tag, _, params = item.strip().partition(";")
        lang = language_of(tag)
        if lang is None:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > best_weight:  # a tie keeps the earlier: browsers list preference first
            best, best_weight = lang, weight
    return best


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Citizen = Annotated[Principal, Depends(require("citizen"))]
CheckpointStaff = Annotated[Principal, Depends(require("checkpoint_staff"))]
HealthOfficer = Annotated[Principal, Depends(require("health_officer"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Responder = Annotated[Principal, Depends(require("responder"))]
Organisation = Annotated[Principal, Depends(require("organisation"))]


def optional_key(description: str) -> Any:
    """The optional `Idempotency-Key` header of a route that honours one, as its parameter's
    `Annotated[str | None, optional_key(...)] = None`: a key of another shape is 422, and
    `description` tells client teams what a retry gets on that route (`core.idempotency`)."""
    return Header(
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_LENGTH[1],
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=description,
    )
