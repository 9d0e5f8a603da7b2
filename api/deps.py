"""FastAPI dependencies: the process context and the signed-in caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from accounts.tokens import Principal, Role, verify_access_token
from core.context import Context
from core.errors import Forbidden, Unauthenticated

_bearer = HTTPBearer(auto_error=False)


async def get_context(request: Request) -> Context:
    """Async on purpose: FastAPI runs a plain `def` dependency on a thread, a hop per request."""
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(get_context)]


async def current_principal(
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated()
    return verify_access_token(
        credentials.credentials, secret=ctx.settings.secret_key.get_secret_value()
    )


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only the given roles (403 for the others)."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden()
        return principal

    return check


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def request_language(request: Request) -> str:
    return "vi" if request.headers.get("accept-language", "").lower().startswith("vi") else "en"


Citizen = Annotated[Principal, Depends(require("citizen"))]
CheckpointStaff = Annotated[Principal, Depends(require("checkpoint_staff"))]
HealthOfficer = Annotated[Principal, Depends(require("health_officer"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Admin = Annotated[Principal, Depends(require("admin"))]
