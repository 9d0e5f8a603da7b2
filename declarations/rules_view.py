"""`GET /v1/rules`: the ministry's rules file as it is in force, for anyone to read.

Public on purpose: the rules hold no personal data, and a citizen told "yellow" at a market
gate, a checkpoint operator or a journalist should be able to see why and what lets people
in (`checkpoints.allow`). The answer is the loaded file, so it cannot drift from what the
service applies."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from declarations.acceptance import AcceptancePolicy
from declarations.rules import Reason, RuleSet, rules_for
from web import caching
from web.deps import ContextDep
from web.openapi import NOT_MODIFIED, answered

router = APIRouter(prefix="/v1", tags=["rules"])
_CACHE = "public, max-age=300"


class ReasonText(BaseModel):
    en: str
    vi: str


class RuleOut(BaseModel):
    code: str
    status: str = Field(description="green, yellow or red: the status this rule gives")
    reason: ReasonText
    applies_to: list[str] = Field(description="the forms it judges: declaration, entry")
    conditions: dict[str, Any] = Field(description="all must hold, as the rules file writes them")


class CheckpointPolicy(BaseModel):
    allow: list[str] = Field(description="statuses let in at a checkpoint scan; others denied")


class RulesOut(BaseModel):
    version: str
    default: RuleOut = Field(description="what applies when no rule holds")
    rules: list[RuleOut] = Field(description="every rule that holds adds its reason; worst wins")
    affected_countries: list[str]
    checkpoints: CheckpointPolicy
    certificates: dict[str, Any] = Field(description="which certificates from abroad count")


def _rule(reason: Reason, forms: frozenset[str], conditions: dict[str, Any]) -> RuleOut:
    return RuleOut(
        code=reason.code,
        status=reason.status,
        reason=ReasonText(en=reason.en, vi=reason.vi),
        applies_to=sorted(forms),
        conditions=conditions,
    )


def rules_out(rules: RuleSet) -> RulesOut:
    return RulesOut(
        version=rules.version,
        default=_rule(rules.default, frozenset({"declaration", "entry"}), {}),
        rules=[_rule(r.reason, r.forms, dict(r.conditions)) for r in rules.rules],
        affected_countries=sorted(rules.affected_countries),
        checkpoints=CheckpointPolicy(
            allow=[s for s in ("green", "yellow", "red") if s in rules.checkpoint_allows]
        ),
        certificates=_policy(rules.certificates),
    )


def _policy(policy: AcceptancePolicy) -> dict[str, Any]:
    values = asdict(policy)
    values["accept"] = sorted(policy.accept)
    return values


@router.get(
    "/rules",
    summary="The status rules in force: conditions, statuses, who checkpoints let in (public)",
    response_model=RulesOut,
    responses={
        **answered(200, "The rules in force", "ETag", "Cache-Control", "Vary"),
        **NOT_MODIFIED,
    },
)
async def rules(ctx: ContextDep, request: Request) -> Response:
    body = rules_out(rules_for(ctx)).model_dump_json().encode()
    return caching.cacheable(request, body, cache_control=_CACHE)
