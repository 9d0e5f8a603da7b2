"""A family declares at the border without an account, in its own language, and is scanned
at Nội Bài; a traveller from an affected country is referred and handed over to monitoring."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.clock import utcnow
from core.context import Context
from core.principals import Area
from core.settings import Settings
from entry.form import entry_form
from entry.i18n import LANGUAGES
from tests.conftest import make_settings, sign_in_staff
from tests.entry.conftest import NOI_BAI, border_checkpoint, client_at, family, submit


class TestTheForm:
    async def test_korean_form_lists_every_field_with_korean_labels(
        self, client: httpx.AsyncClient
    ) -> None:
        form = (await client.get("/v1/entry/form", params={"lang": "ko"})).json()
        assert form["lang"] == "ko"
        assert form["title"] == "베트남 입국 건강 신고"
        fields = {f["name"]: f for s in form["sections"] for f in s["fields"]}
        assert fields["traveller.passport_number"]["label"] == "여권 번호"
        symptoms = {c["value"]: c["label"] for c in fields["symptoms"]["choices"]}
        assert symptoms["fever"] == "발열"
        assert "skin_haemorrhage" in symptoms
        assert {lang["code"] for lang in form["languages"]} == set(LANGUAGES)

    @pytest.mark.parametrize("lang", LANGUAGES)
    def test_every_language_labels_every_field_and_choice(self, lang: str) -> None:
        form = entry_form(lang)
        for section in form["sections"]:
            assert section["title"]
            for field in section["fields"]:
                assert field["label"].strip(), (lang, field["name"])
                for choice in field.get("choices", []):
                    assert str(choice["label"]).strip()

    async def test_without_lang_the_phones_languages_choose(
        self, client: httpx.AsyncClient
    ) -> None:
        answer = await client.get("/v1/entry/form", headers={"Accept-Language": "ja-JP, en;q=0.5"})
        assert answer.json()["lang"] == "ja"
        assert "Accept-Language" in answer.headers["vary"]
        chosen = await client.get(
            "/v1/entry/form", params={"lang": "ru"}, headers={"Accept-Language": "ja"}
        )
        assert chosen.json()["lang"] == "ru"
        assert (await client.get("/v1/entry/form")).json()["lang"] == "en"

    async def test_an_unknown_language_gets_english(self, client: httpx.AsyncClient) -> None:
        form = (await client.get("/v1/entry/form", params={"lang": "xx"})).json()
        assert form["lang"] == "en"
        assert form["title"] == "Vietnam entry health declaration"

    def test_the_form_names_every_field_of_the_request_model(self) -> None:
        from entry.schemas import EntryDeclarationIn

        def leaves(model: Any, prefix: str = "") -> set[str]:
            out: set[str] = set()
            for name, info in model.model_fields.items():
                args = getattr(info.annotation, "__args__", (info.annotation,))
                nested = next((a for a in args if hasattr(a, "model_fields")), None)
                path = prefix + name
                if nested is None:
                    out.add(path)
                else:
                    out |= leaves(nested, path + ("[]." if name == "companions" else "."))
            return out

        named = {f["name"] for s in entry_form("en")["sections"] for f in s["fields"]}
        assert named == leaves(EntryDeclarationIn)


class TestPointsOfEntry:
    async def test_gates_include_every_kind_with_both_names(
        self, client: httpx.AsyncClient
    ) -> None:
        answer = await client.get("/v1/entry/points")
        assert answer.status_code == 200
        assert "max-age" in answer.headers["cache-control"]
        items = {p["id"]: p for p in answer.json()["items"]}
        assert items[NOI_BAI] == {
            "id": NOI_BAI,
            "name": "Cảng hàng không quốc tế Nội Bài",
            "name_en": "Noi Bai International Airport",
            "kind": "airport",
            "province": 1,
        }
        assert {p["kind"] for p in items.values()} == {"airport", "seaport", "land"}
        assert answer.json()["source"]

    async def test_a_retired_gate_is_gone_and_cannot_be_declared_at(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        from tests.conftest import sign_in_staff

        admin = await sign_in_staff(ctx, client, "admin")
        retired = await client.delete(f"/v1/entry/points/{NOI_BAI}", headers=admin)
        assert retired.status_code == 204
        listed = (await client.get("/v1/entry/points")).json()["items"]
        assert NOI_BAI not in {p["id"] for p in listed}
        refused = await submit(client, family(), lang="en")
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "trip.point_of_entry"
        added = await client.post(
            "/v1/entry/points",
            json={
                "id": "poe_new_gate",
                "name": "Cửa khẩu mới",
                "name_en": "New gate",
                "kind": "land",
                "province": 20,
            },
            headers=admin,
        )
        assert added.status_code == 201
        listed = (await client.get("/v1/entry/points")).json()["items"]
        assert "poe_new_gate" in {p["id"] for p in listed}

    async def test_only_an_admin_changes_gates(self, client: httpx.AsyncClient) -> None:
        answer = await client.delete(f"/v1/entry/points/{NOI_BAI}")
        assert answer.status_code == 401


class TestKoreanFamily:
    async def test_declares_replays_and_is_scanned_at_noi_bai(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        key = secrets.token_hex(12)
        first = await submit(client, family(), key=key)
        assert first.status_code == 201, first.text
        declared = first.json()
        assert declared["status"] == "green"
        assert declared["companions"] == 2
        assert len(declared["code"]) == 9
        assert declared["code"][4] == "-"
        # A lost answer: the phone sends the same form again with the same key.
        again = await submit(client, family(), key=key)
        assert again.status_code == 201
        assert again.json() == declared
        assert again.headers["idempotent-replayed"] == "true"
        changed = await submit(client, family(symptoms=["fever"]), key=key)
        assert changed.status_code == 409
        assert await ctx.store.count("entry_declarations", {}) == 1

        checkpoint_id, staff = await border_checkpoint(ctx, client)
        scanned = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"token": declared["token"]},
            headers=staff,
        )
        assert scanned.status_code == 200, scanned.text
        result = scanned.json()
        assert result["decision"] == "allow"
        assert result["status"] == "green"
        assert result["traveller"] == {
            "full_name": "Kim Min-jun",
            "nationality": "KR",
            "passport_last4": "5678",
        }
        assert result["companions"] == 2
        stored = await ctx.store.get("entry_declarations", declared["id"])
        assert stored is not None
        assert stored["arrived_checkpoint_id"] == checkpoint_id

        # Typed by hand, in lower case and without the hyphen: the same traveller.
        typed = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"code": declared["code"].lower().replace("-", " ")},
            headers=staff,
        )
        assert typed.status_code == 200
        assert typed.json()["traveller"]["passport_last4"] == "5678"
        assert typed.json()["arrived_at"] == result["arrived_at"]
        assert await ctx.store.count("entry_scans", {"checkpoint_id": checkpoint_id}) == 2

    async def test_an_ordinary_checkpoint_denies_an_entry_code(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        declared = (await submit(client, family())).json()
        checkpoint_id, staff = await border_checkpoint(ctx, client, kind="airport")
        refused = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"token": declared["token"]},
            headers=staff,
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "not_a_border_checkpoint"
        personal_scan = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/scans",
            json={"token": declared["token"]},
            headers=staff,
        )
        assert personal_scan.json()["decision"] == "deny"

    async def test_unknown_codes_and_other_checkpoints_are_refused(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        other_id, _ = await border_checkpoint(ctx, client)
        unknown = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"code": "ZZZZ-ZZZZ"},
            headers=staff,
        )
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "entry_not_found"
        elsewhere = await client.post(
            f"/v1/checkpoints/{other_id}/entry-scans", json={"code": "ZZZZ-ZZZZ"}, headers=staff
        )
        assert elsewhere.status_code == 403
        both = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"code": "ZZZZ-ZZZZ", "token": "a.b.c"},
            headers=staff,
        )
        assert both.status_code == 422


class TestAffectedCountry:
    @pytest.fixture
    def settings(self, database_url: str, affected_rules: Path) -> Settings:
        return make_settings(database_url, rules_path=affected_rules)

    async def test_an_arrival_from_an_affected_country_is_referred_and_monitored(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        answer = await submit(client, family(), lang="en")
        assert answer.status_code == 201, answer.text
        declared = answer.json()
        assert declared["status"] == "yellow"
        assert [r["code"] for r in declared["reasons"]] == ["from_affected_country"]
        # A posted form is not yet an arrival: nothing for monitoring until the border scan.
        episodes = {"entry_declaration_id": declared["id"]}
        assert await ctx.store.count("monitoring_episodes", episodes) == 0

        checkpoint_id, staff = await border_checkpoint(ctx, client)
        scanned = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"code": declared["code"]},
            headers={**staff, "Accept-Language": "vi"},
        )
        assert scanned.json()["decision"] == "refer"
        assert scanned.json()["reason"].startswith("Chuyển kiểm tra y tế")
        [episode] = await ctx.store.find("monitoring_episodes", episodes)
        assert (episode["province"], episode["ward"]) == (1, 70)
        assert (episode["reason"], episode["status"], episode["opened_by"]) == (
            "entry",
            "active",
            "entry",
        )
        # Scanned again (a second gate, a retry): still one episode.
        again = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"code": declared["code"]},
            headers=staff,
        )
        assert again.status_code == 200
        assert await ctx.store.count("monitoring_episodes", episodes) == 1

    async def test_transit_through_an_affected_country_counts(
        self, client: httpx.AsyncClient
    ) -> None:
        body = family()
        body["trip"].update(departure_country="JP", countries_last_14_days=["JP"])
        body["trip"]["transit_countries"] = ["KR"]
        declared = (await submit(client, body)).json()
        assert declared["status"] == "yellow"

    async def test_a_green_arrival_is_not_monitored(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family()
        body["trip"].update(departure_country="JP", countries_last_14_days=["JP"])
        declared = (await submit(client, body)).json()
        assert declared["status"] == "green"
        assert (
            await ctx.store.count("monitoring_episodes", {"entry_declaration_id": declared["id"]})
            == 0
        )


class TestLimits:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, entry_per_passport_per_day=2)

    async def test_one_passport_cannot_flood_but_a_retry_is_not_counted(
        self, client: httpx.AsyncClient
    ) -> None:
        key = secrets.token_hex(12)
        assert (await submit(client, family(), key=key)).status_code == 201
        for _ in range(3):
            assert (await submit(client, family(), key=key)).status_code == 201  # replays
        assert (await submit(client, family())).status_code == 201
        limited = await submit(client, family(), lang="ko")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["title"] == "요청이 너무 많습니다"


class TestAStrangerCannotBlockATraveller:
    """Anyone may post a form with anyone's passport number: the forms of one address
    cannot refuse the holder's own, nor put work on a ward officer's list."""

    @pytest.fixture
    def settings(self, database_url: str, affected_rules: Path) -> Settings:
        return make_settings(database_url, rules_path=affected_rules, entry_per_passport_per_day=3)

    async def test_the_holder_declares_after_a_stranger_used_up_the_passports_forms(
        self, app: FastAPI, ctx: Context
    ) -> None:
        async with client_at(app, "203.0.113.9") as stranger:
            answers = [await submit(stranger, family(), lang="en") for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        async with client_at(app, "198.51.100.30") as traveller:
            own = await submit(traveller, family(), lang="ko")
        assert own.status_code == 201, own.text
        assert own.json()["status"] == "yellow"

    async def test_unscanned_forms_put_nothing_on_the_ward_officers_list(
        self, app: FastAPI, ctx: Context
    ) -> None:
        feverish = family(symptoms=["fever"])
        async with client_at(app, "203.0.113.9") as stranger:
            for _ in range(3):
                assert (await submit(stranger, feverish)).status_code == 201
        async with client_at(app, "198.51.100.30") as traveller:
            declared = (await submit(traveller, family())).json()
        async with client_at(app, "198.51.100.31") as office:
            officer = await sign_in_staff(
                ctx, office, "health_officer", area=Area(province=1, ward=70)
            )
            before = await office.get("/v1/monitoring", headers=officer)
            checkpoint_id, staff = await border_checkpoint(ctx, office)
            scanned = await office.post(
                f"/v1/checkpoints/{checkpoint_id}/entry-scans",
                json={"code": declared["code"]},
                headers=staff,
            )
            after = await office.get("/v1/monitoring", headers=officer)
        assert before.status_code == 200, before.text
        assert before.json()["items"] == []
        assert scanned.json()["decision"] == "refer"
        [item] = after.json()["items"]
        assert item["entry_declaration_id"] == declared["id"]


async def test_entry_declarations_expire_with_the_retention_period(
    ctx: Context, client: httpx.AsyncClient
) -> None:
    declared = (await submit(client, family())).json()
    later = utcnow() + timedelta(days=ctx.settings.retention_days, hours=1)
    await ctx.store.purge_expired(later)
    assert await ctx.store.get("entry_declarations", declared["id"]) is None
