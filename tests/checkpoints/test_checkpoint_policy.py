"""Which statuses a checkpoint lets in is the ministry's policy, kept in the rules file
(`[checkpoints] allow`, default green only), and anyone can read it at `GET /v1/rules`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.context import Context
from declarations.rules import DEFAULT_RULES_PATH, RulesError, parse_rules
from tests.checkpoints.helpers import (
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_headers,
)
from tests.conftest import make_settings, sign_in_citizen

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
ALLOW_GREEN = 'allow = ["green"]'


async def _yellow_scan(client: httpx.AsyncClient, ctx: Context) -> dict[str, Any]:
    citizen = await sign_in_citizen(client)
    person_id = await create_person(client, citizen, symptoms=("cough",))
    token = await person_token(client, citizen, person_id)
    checkpoint = await new_checkpoint(ctx, client)
    staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
    return await scan(client, staff, checkpoint["id"], token)


@pytest.fixture
async def lenient(database_url: str, tmp_path: Path) -> Any:
    """The service with a rules file that lets yellow in (a hospital's fever clinic)."""
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_TEXT.replace(ALLOW_GREEN, 'allow = ["green", "yellow"]'), "utf-8")
    app = create_app(make_settings(database_url, rules_path=rules))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, app.state.context


class TestTheRulesFileDecides:
    async def test_by_default_yellow_is_denied(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        result = await _yellow_scan(client, ctx)
        assert (result["decision"], result["status"]) == ("deny", "yellow")
        assert result["reason"] == "Yellow status"

    async def test_a_file_that_allows_yellow_lets_yellow_in(self, lenient: Any) -> None:
        client, ctx = lenient
        result = await _yellow_scan(client, ctx)
        assert (result["decision"], result["status"]) == ("allow", "yellow")
        assert result["reason"] == "Yellow: allowed here"
        published = (await client.get("/v1/rules")).json()
        assert published["checkpoints"] == {"allow": ["green", "yellow"]}

    @pytest.mark.parametrize(
        ("allow", "message"),
        [
            ('allow = ["yellow"]', "must include green"),
            ('allow = ["green", "blue"]', "unknown"),
            ("allow = []", "non-empty"),
        ],
    )
    def test_a_bad_policy_stops_start_up(self, allow: str, message: str) -> None:
        with pytest.raises(RulesError, match=message):
            parse_rules(DEFAULT_TEXT.replace(ALLOW_GREEN, allow))


class TestPublishedRules:
    async def test_anyone_reads_the_rules_in_force(self, client: httpx.AsyncClient) -> None:
        answer = await client.get("/v1/rules")  # no sign-in
        assert answer.status_code == 200
        published = answer.json()
        assert published["checkpoints"] == {"allow": ["green"]}
        assert published["default"]["status"] == "green"
        symptoms = next(r for r in published["rules"] if r["code"] == "symptoms")
        assert symptoms["status"] == "yellow"
        assert symptoms["conditions"] == {"min_symptoms": 1}
        assert symptoms["reason"]["vi"] == "Có triệu chứng trong 14 ngày qua."
        assert "vaccination" in published["certificates"]["accept"]
        again = await client.get("/v1/rules", headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304
