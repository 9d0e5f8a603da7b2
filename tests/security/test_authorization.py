"""Who may call what: every route × every kind of caller, from ONE table.

Columns are the callers of `tests.security.cast.PRINCIPALS`: citizen A, citizen B, staff of
checkpoint X, staff of checkpoint Y, a health officer, an analyst, an admin, and nobody.
Rows that name A's objects (A's declaration, A's person) show object-level authorisation:
B is answered 404, exactly as for an id that does not exist, so ids cannot be probed. The
table must name every route `app.routes` serves; a new route fails the coverage test until
someone decides who may call it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from api.app import create_app
from certificates.trust import dcc_kid, kid_text
from core.clock import local_day, utcnow
from core.context import Context
from core.settings import Settings
from tests.certificates.issuers import SHC_ISSUER, VECTORS, EuCsca, example_jwks
from tests.conftest import make_settings, module_database_url, sign_in_citizen
from tests.security.cast import (
    ID_NUMBERS,
    PHONE_A,
    PHONE_B,
    PRINCIPALS,
    Cast,
    assemble,
    declaration_body,
    fresh_refresh_token,
    idempotency_key,
)
from tests.security.routes import served_routes

Body = Callable[[Cast, str], Any]
Before = Callable[[httpx.AsyncClient, Cast, str], Awaitable[None]]
StandIn = Callable[[httpx.AsyncClient, Cast, str], Awaitable[dict[str, str]]]

OPEN = (200,) * 8
#             A    B    SX   SY   HO   AN   AD   anon
CITIZEN = (200, 200, 403, 403, 403, 403, 403, 401)
A_ONLY = (200, 404, 403, 403, 403, 403, 403, 401)
ANALYST = (403, 403, 403, 403, 403, 200, 403, 401)
NOBODY = (403, 403, 403, 403, 403, 403, 403, 401)  # of this cast: responders only


@dataclass(frozen=True)
class Rule:
    """How to call one route as a given caller, and what each caller must get."""

    expect: tuple[int, ...]
    path: str = ""  # the concrete path, with `{cast attribute}` holes; defaults to the template
    params: dict[str, str] = field(default_factory=dict)
    body: Body | None = None
    before: Before | None = None
    idempotent: bool = False
    # Who calls instead of the cast's own account, for a route that would destroy it.
    stand_in: StandIn | None = None


def _own_declaration(cast: Cast, who: str) -> dict[str, Any]:
    phone = PHONE_B if who == "citizen_b" else PHONE_A
    return declaration_body(phone, ID_NUMBERS[phone])


def _batch(cast: Cast, who: str) -> dict[str, Any]:
    item = {"idempotency_key": idempotency_key(), "declaration": _own_declaration(cast, who)}
    return {"items": [item]}


async def _request_code(client: httpx.AsyncClient, cast: Cast, who: str) -> None:
    sent = await client.post("/v1/auth/otp", json={"phone": "+84900000005"})
    assert sent.status_code == 202, sent.text


def _question(cast: Cast, who: str) -> dict[str, Any]:
    return {"kind": "question", "category": "qr_code", "title": "Mã QR?", "body": "Ở đâu?"}


def _refresh(cast: Cast, who: str) -> dict[str, str]:
    return {"refresh_token": cast.extra["refresh_tokens"].pop()}


AUSTRIAN_SIGNER = {
    "certificate": json.loads((VECTORS / "eu-dcc/AT/2DCode/raw/1.json").read_text())["TESTCTX"][
        "CERTIFICATE"
    ],
    "country": "AT",
}
AUSTRIAN_KID = kid_text(dcc_kid(base64.b64decode(AUSTRIAN_SIGNER["certificate"])))
SMART_ISSUER = {"iss": SHC_ISSUER, "jwks": example_jwks()}


async def _trust_austria(client: httpx.AsyncClient, cast: Cast, who: str) -> None:
    added = await client.post(
        "/v1/trust/dcc-signers", json=AUSTRIAN_SIGNER, headers=cast.auth("admin")
    )
    assert added.status_code == 201, added.text


# One UCI hash: standard base64 of 16 bytes (a revocation list entry).
AUSTRIAN_REVOCATIONS = {"kid": AUSTRIAN_KID, "hash_type": "UCI", "hashes": ["A" * 21 + "Q=="]}


async def _revoke_for_austria(client: httpx.AsyncClient, cast: Cast, who: str) -> None:
    await _trust_austria(client, cast, who)
    added = await client.post(
        "/v1/trust/dcc-revocations", json=AUSTRIAN_REVOCATIONS, headers=cast.auth("admin")
    )
    assert added.status_code == 201, added.text


# A CSCA of a country no other row trusts a signer of, so its chain rule refuses none.
LUXEMBOURG_CSCA = EuCsca("LU")
LUXEMBOURG_CSCA_BODY = {"certificate": LUXEMBOURG_CSCA.certificate_b64, "country": "LU"}


async def _trust_luxembourgs_csca(client: httpx.AsyncClient, cast: Cast, who: str) -> None:
    added = await client.post(
        "/v1/trust/dcc-cscas", json=LUXEMBOURG_CSCA_BODY, headers=cast.auth("admin")
    )
    assert added.status_code == 201, added.text


async def _trust_smart(client: httpx.AsyncClient, cast: Cast, who: str) -> None:
    added = await client.post(
        "/v1/trust/shc-issuers", json=SMART_ISSUER, headers=cast.auth("admin")
    )
    assert added.status_code == 201, added.text


def _today() -> dict[str, str]:
    day = local_day(utcnow())
    return {"from": str(day - timedelta(days=1)), "to": str(day)}


async def _organisation(client: httpx.AsyncClient, cast: Cast, who: str) -> None:
    if "organisation" not in cast.extra:
        created = await client.post(
            "/v1/organisations", json={"name": "Công ty Y"}, headers=cast.auth("admin")
        )
        assert created.status_code == 201, created.text
        cast.extra["organisation"] = created.json()["id"]


async def _throwaway_citizen(client: httpx.AsyncClient, cast: Cast, who: str) -> dict[str, str]:
    """A citizen of its own in place of citizen A or B, whom the call would erase."""
    if not who.startswith("citizen"):
        return cast.auth(who)
    return await sign_in_citizen(client, "+84900000005")


def _consent(cast: Cast, who: str) -> dict[str, Any]:
    return {"person_id": cast.person_a, "organisation_id": cast.extra["organisation"], "days": 7}


NEW_CHECKPOINT = {"name": "Ga Hà Nội", "province": 1, "ward": 70, "kind": "station"}
NEW_POINT = {
    "id": "poe_test_gate",
    "name": "Cửa khẩu thử",
    "name_en": "Test gate",
    "kind": "land",
    "province": 20,
}


def _arrival(cast: Cast, who: str) -> dict[str, Any]:
    from tests.entry.conftest import family

    return family()


def _episode(cast: Cast, who: str) -> dict[str, Any]:
    return {
        "person_id": cast.person_a,
        "reason": "contact",
        "address": {"province": 1, "ward": 70, "street": "12 Tràng Tiền"},
    }


# THE table. Key: (method, route template as in app.routes).
TABLE: dict[tuple[str, str], Rule] = {
    # Operations and documentation: open to everyone.
    ("GET", "/healthz"): Rule(OPEN),
    ("GET", "/readyz"): Rule(OPEN),
    ("GET", "/metrics"): Rule(OPEN),
    ("GET", "/openapi.json"): Rule(OPEN),
    ("GET", "/"): Rule(OPEN),  # a pointer to /docs, /openapi.json, /healthz
    ("GET", "/docs"): Rule(OPEN),
    ("GET", "/docs/assets/{name}"): Rule(OPEN, path="/docs/assets/swagger-ui.css"),
    ("GET", "/favicon.ico"): Rule(OPEN),
    # The status rules in force, checkpoint policy included: public (README, "Status rules").
    ("GET", "/v1/rules"): Rule(OPEN),
    # Sign-in: the body decides, a bearer token neither helps nor hurts.
    ("POST", "/v1/auth/otp"): Rule((202,) * 8, body=lambda c, w: {"phone": "+84900000005"}),
    ("POST", "/v1/auth/token"): Rule(
        OPEN, body=lambda c, w: {"phone": "+84900000005", "otp": "333333"}, before=_request_code
    ),
    ("POST", "/v1/auth/refresh"): Rule(OPEN, body=_refresh),
    # Declarations: citizens, and only their own.
    ("POST", "/v1/declarations"): Rule(
        (201, 201, 403, 403, 403, 403, 403, 401), body=_own_declaration, idempotent=True
    ),
    ("POST", "/v1/declarations/batch"): Rule(CITIZEN, body=_batch),
    ("GET", "/v1/declarations/{declaration_id:declaration_id}"): Rule(
        A_ONLY, path="/v1/declarations/{declaration_a}"
    ),
    ("GET", "/v1/declarations"): Rule(A_ONLY, params={"person_id": "{person_a}"}),
    ("GET", "/v1/people"): Rule(CITIZEN),
    # QR codes: a person's code only for the account that declares for them.
    ("GET", "/v1/people/{person_id}/qr"): Rule(A_ONLY, path="/v1/people/{person_a}/qr"),
    ("GET", "/.well-known/jwks.json"): Rule(OPEN),
    # Revocations tell whose status worsened: only the scanners that need them offline.
    ("GET", "/v1/revocations"): Rule((403, 403, 200, 200, 403, 403, 403, 401)),
    # Checkpoints: admins create, staff serve only their own checkpoint.
    ("POST", "/v1/checkpoints"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401), body=lambda c, w: NEW_CHECKPOINT
    ),
    ("GET", "/v1/checkpoints/{checkpoint_id}/qr"): Rule(
        (403, 403, 200, 403, 403, 403, 200, 401),
        path="/v1/checkpoints/{checkpoint_x}/qr",
        params={"format": "json"},
    ),
    ("POST", "/v1/checkpoints/{checkpoint_id}/scans"): Rule(
        (403, 403, 200, 403, 403, 403, 403, 401),
        path="/v1/checkpoints/{checkpoint_x}/scans",
        body=lambda c, w: {"token": c.extra["qr_a"]},
    ),
    ("POST", "/v1/checkins"): Rule(
        (201, 404, 403, 403, 403, 403, 403, 401),
        body=lambda c, w: {"venue_token": c.venue_x, "person_id": c.person_a},
    ),
    ("POST", "/v1/cases"): Rule(
        (403, 403, 403, 403, 201, 403, 403, 401), body=lambda c, w: {"person_id": c.person_c}
    ),
    # Certificates from abroad: staff of that checkpoint scan; admins keep the trust list.
    ("POST", "/v1/checkpoints/{checkpoint_id}/certificates"): Rule(
        (403, 403, 200, 403, 403, 403, 403, 401),
        path="/v1/checkpoints/{checkpoint_x}/certificates",
        body=lambda c, w: {"qr": "HC1:NCF"},
    ),
    ("POST", "/v1/trust/dcc-signers"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401), body=lambda c, w: AUSTRIAN_SIGNER
    ),
    ("GET", "/v1/trust/dcc-signers"): Rule((403, 403, 403, 403, 403, 403, 200, 401)),
    ("DELETE", "/v1/trust/dcc-signers/{kid:path}"): Rule(
        (403, 403, 403, 403, 403, 403, 204, 401),
        path="/v1/trust/dcc-signers/" + AUSTRIAN_KID.replace("/", "%2F"),
        before=_trust_austria,
    ),
    ("POST", "/v1/trust/dcc-cscas"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401), body=lambda c, w: LUXEMBOURG_CSCA_BODY
    ),
    ("GET", "/v1/trust/dcc-cscas"): Rule((403, 403, 403, 403, 403, 403, 200, 401)),
    ("DELETE", "/v1/trust/dcc-cscas/{csca_id}"): Rule(
        (403, 403, 403, 403, 403, 403, 204, 401),
        path="/v1/trust/dcc-cscas/" + LUXEMBOURG_CSCA.id,
        before=_trust_luxembourgs_csca,
    ),
    ("POST", "/v1/trust/dcc-revocations"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401),
        body=lambda c, w: AUSTRIAN_REVOCATIONS,
        before=_trust_austria,
    ),
    ("GET", "/v1/trust/dcc-revocations"): Rule((403, 403, 403, 403, 403, 403, 200, 401)),
    ("DELETE", "/v1/trust/dcc-revocations"): Rule(
        (403, 403, 403, 403, 403, 403, 204, 401),
        params={"kid": AUSTRIAN_KID, "hash_type": "UCI"},
        before=_revoke_for_austria,
    ),
    ("POST", "/v1/trust/shc-issuers"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401), body=lambda c, w: SMART_ISSUER
    ),
    ("GET", "/v1/trust/shc-issuers"): Rule((403, 403, 403, 403, 403, 403, 200, 401)),
    ("DELETE", "/v1/trust/shc-issuers"): Rule(
        (403, 403, 403, 403, 403, 403, 204, 401),
        params={"iss": SHC_ISSUER},
        before=_trust_smart,
    ),
    # Reports: analysts only. The dashboard page and its assets hold no data.
    ("GET", "/v1/reports/declarations"): Rule(ANALYST, params=_today()),
    ("GET", "/v1/reports/checkpoints"): Rule(ANALYST, params=_today()),
    ("GET", "/v1/reports/arrivals"): Rule(ANALYST, params=_today()),
    ("GET", "/v1/reports/monitoring"): Rule(ANALYST, params=_today()),
    ("GET", "/dashboard"): Rule(OPEN),
    ("GET", "/dashboard/static/{name}"): Rule(OPEN, path="/dashboard/static/dashboard.js"),
    # The public map: regional figures for everyone, no sign-in.
    ("GET", "/v1/public/regions"): Rule(OPEN),
    ("GET", "/map"): Rule(OPEN),
    ("GET", "/map/static/{name}"): Rule(OPEN, path="/map/static/map.js"),
    # Questions: citizens ask and read their own; only responders (none in this cast) work
    # the queue; the FAQ and its page are public; the report is the analysts'.
    ("POST", "/v1/questions"): Rule((201, 201, 403, 403, 403, 403, 403, 401), body=_question),
    ("GET", "/v1/questions/mine"): Rule(CITIZEN),
    ("GET", "/v1/questions"): Rule(NOBODY),
    ("POST", "/v1/questions/{question_id}/answer"): Rule(
        NOBODY, path="/v1/questions/qst_any/answer", body=lambda c, w: {"body": "Được."}
    ),
    ("POST", "/v1/questions/{question_id}/duplicate"): Rule(
        NOBODY, path="/v1/questions/qst_any/duplicate", body=lambda c, w: {"of": "qst_other"}
    ),
    ("POST", "/v1/questions/{question_id}/reject"): Rule(
        NOBODY, path="/v1/questions/qst_any/reject", body=lambda c, w: {"reason": "Trùng."}
    ),
    # Entry declarations: no sign-in to declare; admins keep the gates; border staff scan.
    ("GET", "/v1/entry/points"): Rule(OPEN),
    ("GET", "/v1/entry/form"): Rule(OPEN, params={"lang": "ko"}),
    ("POST", "/v1/entry/points"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401), body=lambda c, w: NEW_POINT
    ),
    ("DELETE", "/v1/entry/points/{point_id}"): Rule(
        (403, 403, 403, 403, 403, 403, 204, 401), path="/v1/entry/points/poe_sqn"
    ),
    ("POST", "/v1/entry-declarations"): Rule((201,) * 8, body=_arrival, idempotent=True),
    # Checkpoint X is a station, not a border gate: its own staff get 409, nobody else in.
    ("POST", "/v1/checkpoints/{checkpoint_id}/entry-scans"): Rule(
        (403, 403, 409, 403, 403, 403, 403, 401),
        path="/v1/checkpoints/{checkpoint_x}/entry-scans",
        body=lambda c, w: {"code": "ZZZZ-ZZZZ"},
    ),
    # Monitoring: health officers open, list, read a contact card and close; the citizen
    # reports for their own.
    ("POST", "/v1/monitoring"): Rule((403, 403, 403, 403, 201, 403, 403, 401), body=_episode),
    ("GET", "/v1/monitoring"): Rule((403, 403, 403, 403, 200, 403, 403, 401)),
    ("POST", "/v1/monitoring/{episode_id}/reports"): Rule(
        (404, 404, 403, 403, 404, 403, 403, 401),
        path="/v1/monitoring/mon_missing/reports",
        body=lambda c, w: {"temperature": 36.6},
    ),
    ("GET", "/v1/monitoring/{episode_id}/contact"): Rule(
        (403, 403, 403, 403, 404, 403, 403, 401), path="/v1/monitoring/mon_missing/contact"
    ),
    ("POST", "/v1/monitoring/{episode_id}/close"): Rule(
        (403, 403, 403, 403, 404, 403, 403, 401),
        path="/v1/monitoring/mon_missing/close",
        body=lambda c, w: {"outcome": "completed"},
    ),
    ("GET", "/v1/people/{person_id}/monitoring"): Rule(
        A_ONLY, path="/v1/people/{person_a}/monitoring"
    ),
    ("GET", "/v1/faq"): Rule(OPEN, params={"q": "khai bao"}),
    ("GET", "/v1/faq/{faq_id}"): Rule((404,) * 8, path="/v1/faq/faq_missing"),
    ("GET", "/v1/reports/questions"): Rule(ANALYST, params=_today()),
    ("GET", "/hoi-dap"): Rule(OPEN),
    ("GET", "/hoi-dap/static/{name}"): Rule(OPEN, path="/hoi-dap/static/hoi-dap.js"),
    # Personal data rights: each citizen their own; organisations only their own statuses
    # (no organisation account in this cast: every other caller is refused). The erasures
    # are called on ids nobody holds, and `DELETE /v1/me` by a citizen account of its own,
    # so the shared world keeps its people.
    ("GET", "/v1/me/export"): Rule(CITIZEN),
    ("GET", "/v1/me/access-log"): Rule(CITIZEN),
    ("DELETE", "/v1/people/{person_id}"): Rule(
        (404, 404, 403, 403, 403, 403, 403, 401), path="/v1/people/per_missing"
    ),
    ("POST", "/v1/organisations"): Rule(
        (403, 403, 403, 403, 403, 403, 201, 401), body=lambda c, w: {"name": "Công ty X"}
    ),
    ("POST", "/v1/consents"): Rule(
        (201, 404, 403, 403, 403, 403, 403, 401), body=_consent, before=_organisation
    ),
    ("DELETE", "/v1/consents/{consent_id}"): Rule(
        (404, 404, 403, 403, 403, 403, 403, 401), path="/v1/consents/cns_missing"
    ),
    ("DELETE", "/v1/me"): Rule(
        (204, 204, 403, 403, 403, 403, 403, 401), stand_in=_throwaway_citizen
    ),
    ("GET", "/v1/organisations/{organisation_id}/statuses"): Rule(
        (403, 403, 403, 403, 403, 403, 403, 401),
        path="/v1/organisations/org_00000000000000000000000000/statuses",
    ),
}


def _fill(text: str, cast: Cast) -> str:
    return text.format(**{k: v for k, v in vars(cast).items() if isinstance(v, str)})


async def call(
    client: httpx.AsyncClient, cast: Cast, method: str, template: str, who: str
) -> httpx.Response:
    rule = TABLE[(method, template)]
    if rule.before is not None:
        await rule.before(client, cast, who)
    if rule.stand_in is not None:
        headers = dict(await rule.stand_in(client, cast, who))
    else:
        headers = dict(cast.auth(who))
    if rule.idempotent:
        headers["Idempotency-Key"] = idempotency_key()
    return await client.request(
        method,
        _fill(rule.path or template, cast),
        params={k: _fill(v, cast) for k, v in rule.params.items()},
        json=rule.body(cast, who) if rule.body is not None else None,
        headers=headers,
    )


def matrix_settings(database_url: str, **overrides: Any) -> Settings:
    """Rate limits out of the way: these tests are about who, not how often."""
    return make_settings(
        database_url,
        requests_per_address_per_minute=1_000_000,
        otp_per_phone_per_hour=1_000_000,
        otp_per_phone_per_address_per_hour=1_000_000,
        otp_per_address_per_hour=1_000_000,
        **overrides,
    )


# One world for the module: signing the five staff in for real costs ten argon2 hashes.
in_world = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Cast]]:
    app = create_app(matrix_settings(module_database_url(tmp_path_factory, request, "matrix")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            ctx: Context = app.state.context
            cast = await assemble(ctx, client)
            code = await client.get(
                f"/v1/people/{cast.person_a}/qr", headers=cast.auth("citizen_a")
            )
            assert code.status_code == 200, code.text
            cast.extra["qr_a"] = code.json()["token"]
            yield app, client, cast


class TestTableCoversEveryRoute:
    def test_every_served_route_is_in_the_table_and_nothing_else(self, settings: Settings) -> None:
        served = served_routes(create_app(settings))
        missing = sorted(served - TABLE.keys())
        stale = sorted(TABLE.keys() - served)
        assert not missing, f"routes nobody decided who may call: {missing}"
        assert not stale, f"table rows for routes that no longer exist: {stale}"

    def test_every_row_names_every_caller(self) -> None:
        assert all(len(rule.expect) == len(PRINCIPALS) for rule in TABLE.values())


@in_world
class TestMatrix:
    async def test_every_route_answers_every_caller_as_the_table_says(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        _, client, cast = world
        refreshes = sum(1 for key in TABLE if key == ("POST", "/v1/auth/refresh"))
        cast.extra["refresh_tokens"] = [
            await fresh_refresh_token(client) for _ in range(refreshes * len(PRINCIPALS))
        ]
        wrong: list[str] = []
        for (method, template), rule in TABLE.items():
            for who, expected in zip(PRINCIPALS, rule.expect, strict=True):
                response = await call(client, cast, method, template, who)
                if response.status_code != expected:
                    wrong.append(
                        f"{method} {template} as {who}: {response.status_code}, "
                        f"expected {expected} ({response.text[:120]})"
                    )
                if response.status_code >= 400:
                    problem = response.json()
                    assert response.headers["content-type"] == "application/problem+json"
                    assert problem["status"] == response.status_code
                    assert problem["code"]
        assert not wrong, "\n".join(wrong)


@in_world
class TestObjectLevel:
    """What the table's A-only rows show, both ways round, and for staff between venues."""

    async def test_citizens_cannot_read_each_others_declarations(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        _, client, cast = world
        for who, other in (("citizen_a", cast.declaration_b), ("citizen_b", cast.declaration_a)):
            got = await client.get(f"/v1/declarations/{other}", headers=cast.auth(who))
            missing = await client.get("/v1/declarations/dec_doesnotexist", headers=cast.auth(who))
            assert got.status_code == 404
            # Someone else's is answered exactly like a missing one: no probing ids.
            assert got.json()["code"] == missing.json()["code"] == "not_found"
            assert got.json()["detail"] == missing.json()["detail"]

    async def test_citizens_cannot_list_declarations_of_each_others_people(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        _, client, cast = world
        for who, other in (("citizen_a", cast.person_b), ("citizen_b", cast.person_a)):
            got = await client.get(
                "/v1/declarations", params={"person_id": other}, headers=cast.auth(who)
            )
            assert got.status_code == 404

    async def test_citizens_see_only_their_own_people(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        _, client, cast = world
        people_a = await client.get("/v1/people", headers=cast.auth("citizen_a"))
        people_b = await client.get("/v1/people", headers=cast.auth("citizen_b"))
        assert [p["person_id"] for p in people_a.json()["items"]] == [cast.person_a]
        assert [p["person_id"] for p in people_b.json()["items"]] == [cast.person_b]
        mine = await client.get("/v1/declarations", headers=cast.auth("citizen_b"))
        ids = {d["id"] for d in mine.json()["items"]}
        assert cast.declaration_b in ids
        assert cast.declaration_a not in ids
        assert {d["person_id"] for d in mine.json()["items"]} == {cast.person_b}

    async def test_citizens_cannot_get_a_qr_code_for_each_others_people(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        _, client, cast = world
        for who, other in (("citizen_a", cast.person_b), ("citizen_b", cast.person_a)):
            for fmt in ("json", "png", "svg"):
                got = await client.get(
                    f"/v1/people/{other}/qr", params={"format": fmt}, headers=cast.auth(who)
                )
                assert got.status_code == 404, (who, fmt)

    async def test_a_citizen_cannot_check_in_someone_elses_person(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        app, client, cast = world
        ctx: Context = app.state.context
        before = await ctx.store.count("checkins", {})
        got = await client.post(
            "/v1/checkins",
            json={"venue_token": cast.venue_x, "person_id": cast.person_a},
            headers=cast.auth("citizen_b"),
        )
        assert got.status_code == 404
        assert await ctx.store.count("checkins", {}) == before

    async def test_staff_of_x_cannot_scan_at_y_and_nothing_is_recorded(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        app, client, cast = world
        ctx: Context = app.state.context
        before = await ctx.store.count("scans", {})
        for who, at in (("staff_x", cast.checkpoint_y), ("staff_y", cast.checkpoint_x)):
            got = await client.post(
                f"/v1/checkpoints/{at}/scans",
                json={"token": cast.extra["qr_a"]},
                headers=cast.auth(who),
            )
            assert got.status_code == 403, got.text
            assert got.json()["code"] == "forbidden"
            poster = await client.get(f"/v1/checkpoints/{at}/qr", headers=cast.auth(who))
            assert poster.status_code == 403
        assert await ctx.store.count("scans", {}) == before

    async def test_staff_of_x_scanning_at_an_unknown_checkpoint_is_refused(
        self, world: tuple[FastAPI, httpx.AsyncClient, Cast]
    ) -> None:
        _, client, cast = world
        got = await client.post(
            "/v1/checkpoints/cp_nowhere/scans",
            json={"token": cast.extra["qr_a"]},
            headers=cast.auth("staff_x"),
        )
        assert got.status_code == 403
