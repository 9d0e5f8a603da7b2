"""Property-based testing of the whole API from its own OpenAPI document (schemathesis).

For every operation the document lists, schemathesis generates requests that fit the
schema (positive) and requests that break it (negative), sends them to the application
in-process (ASGI, with its real lifespan: SQLite, key ring, outbox) as each role signed in
for real, and runs every check it has: no server error, status codes, content types,
headers and bodies as documented, schema-valid input not refused with an unexpected
status, invalid input not accepted, authentication not ignored, and more.

Which roles an operation admits comes from the authorisation table
(`tests/security/test_authorization.py`): admitted roles get many examples in both modes;
a refused role gets a few, to show the refusal itself is documented and well-formed.

Bounded and reproducible: `derandomize=True`, no example database, few examples per
operation. Two knowingly relaxed checks, each with its reason, are in `CONFIG` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi

from accounts.service import create_staff
from api.app import create_app
from checkpoints.schemas import NewCheckpoint
from checkpoints.service import create_checkpoint
from core.principals import Principal
from core.settings import Settings
from runtime.context import build_context, close_context
from tests.conftest import STAFF_PASSWORD, TEST_ADMIN, TEST_PHONES, module_database_url
from tests.security.cast import (
    ID_NUMBERS,
    PHONE_A,
    PRINCIPALS,
    declaration_body,
    idempotency_key,
)
from tests.security.test_authorization import TABLE, matrix_settings

# The table is keyed by app.routes, which write a path converter (`{kid:path}`); the OpenAPI
# document names the same parameter without it.
DOCUMENTED = {(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)): rule for (m, p), rule in TABLE.items()}

# Role → the authorisation table's column that stands for it.
ROLES = {
    "citizen": "citizen_a",
    "checkpoint_staff": "staff_x",
    "health_officer": "officer",
    "analyst": "analyst",
    "admin": "admin",
    "anonymous": "anon",
}
ADMITTED_EXAMPLES = 25
REFUSED_EXAMPLES = 4
# Each staff sign-in attempt is an argon2 verification (~0.5 s here), and a batch holds up
# to 50 declarations: fewer examples for these two.
EXAMPLES = {"POST /v1/auth/token": 6, "POST /v1/declarations/batch": 8}

CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # The document cannot say everything validation knows (a ward must lie in its
            # province, a phone must be a Vietnamese mobile, a trip within 14 days, an
            # Idempotency-Key is required): schema-valid input may be refused with 400/422.
            # Every other status for schema-valid input is still a failure.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
            },
            # 413 refuses an over-long field before validation does: a rejection too.
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            },
        },
    }
)
# The offline queue answers 200 with a result per item, an invalid item being a 4xx result
# inside the 200 (one bad form must not lose the others): by design, not a missed rejection.
PER_ITEM_ANSWERS = {"POST /v1/declarations/batch"}


def _operation_labels() -> list[str]:
    """The operations the document lists, read from the application at collection time."""
    document = create_app(Settings(env="test", database_url="sqlite:///unused")).openapi()
    return sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


@dataclass
class FuzzWorld:
    app: FastAPI
    schema: Any
    tokens: dict[str, str]
    ids: dict[str, str]


def _seed(settings: Settings) -> dict[str, str]:
    """Staff accounts (as `khaibao users create` makes them) and checkpoint X."""

    async def seed() -> dict[str, str]:
        ctx = await build_context(settings)
        try:
            admin = Principal("usr_seed", "admin")
            body = NewCheckpoint(name="Chợ Đồng Xuân", province=1, ward=70, kind="market")
            registered = (await create_checkpoint(ctx, admin, body)).checkpoint
            checkpoint = registered.id
            for role in ("checkpoint_staff", "health_officer", "analyst", "admin"):
                await create_staff(
                    ctx,
                    username=f"fuzz-{role}",
                    password=STAFF_PASSWORD,
                    role=role,
                    checkpoints=[checkpoint] if role == "checkpoint_staff" else [],
                    by=TEST_ADMIN,
                )
            return {"checkpoint_id": checkpoint, "venue_token": registered.venue_token}
        finally:
            await close_context(ctx)

    return asyncio.run(seed())


@pytest.fixture(scope="module")
def fuzz_world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[FuzzWorld]:
    settings = matrix_settings(module_database_url(tmp_path_factory, request, "fuzz"))
    ids = _seed(settings)
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    tokens: dict[str, str] = {}
    try:
        with asgi.get_client(app) as client:  # type: ignore[arg-type]
            phone = PHONE_A
            assert client.post("/v1/auth/otp", json={"phone": phone}).status_code == 202
            signed = client.post("/v1/auth/token", json={"phone": phone, "otp": TEST_PHONES[phone]})
            tokens["citizen"] = signed.json()["access_token"]
            for role in ("checkpoint_staff", "health_officer", "analyst", "admin"):
                body = {"username": f"fuzz-{role}", "password": STAFF_PASSWORD}
                signed = client.post("/v1/auth/token", json=body)
                assert signed.status_code == 200, signed.text
                tokens[role] = signed.json()["access_token"]
            declared = client.post(
                "/v1/declarations",
                json=declaration_body(phone, ID_NUMBERS[phone]),
                headers={
                    "Authorization": f"Bearer {tokens['citizen']}",
                    "Idempotency-Key": idempotency_key(),
                },
            )
            assert declared.status_code == 201, declared.text
            ids["person_id"] = declared.json()["person_id"]
            ids["declaration_id"] = declared.json()["id"]
        yield FuzzWorld(app, schema, tokens, ids)
    finally:
        with contextlib.suppress(Exception):
            asgi.shutdown_lifespans()


def _admits(label: str, role: str) -> bool:
    method, path = label.split(" ", 1)
    expected = DOCUMENTED[(method, path)].expect[PRINCIPALS.index(ROLES[role])]
    return expected not in (401, 403)


def _has_inputs(operation: Any) -> bool:
    parts = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(part) for part in parts)


def _run(
    operation: Any,
    *,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    path_parameters: dict[str, str] | None = None,
    excluded: tuple[Any, ...] = (),
) -> None:
    strategy = operation.as_strategy(
        generation_mode=mode, headers=headers or None, path_parameters=path_parameters
    )

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        # The token again at the call, as schemathesis's own explicit headers: given only to
        # the strategy it is merged into the generated headers of an operation that has a
        # header parameter (Idempotency-Key), and a 2xx then reads as "generated auth
        # accepted". Explicit, ignored_auth probes the operation without it instead.
        case.call_and_validate(headers=headers or None, excluded_checks=list(excluded))

    check()


class TestDocumentedRefusals:
    def test_every_status_the_authorisation_table_expects_is_in_the_document(
        self, settings: Settings
    ) -> None:
        """A refusal the apps will meet (401, 403, 404) is documented on its operation."""
        document = create_app(settings).openapi()
        undocumented = []
        for (method, path), rule in DOCUMENTED.items():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue  # not in the document (docs pages, static assets)
            for status in sorted(set(rule.expect)):
                if str(status) not in operation["responses"]:
                    undocumented.append(f"{method} {path}: {status}")
        assert not undocumented, "statuses answered but not documented:\n" + "\n".join(undocumented)


@pytest.mark.timeout(240)
# Schemathesis's own strategies use `random` internally; not ours to fix.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@pytest.mark.parametrize("label", _operation_labels())
def test_operation_conforms_for_every_role(fuzz_world: FuzzWorld, label: str) -> None:
    method, path = label.split(" ", 1)
    operation = fuzz_world.schema[path][method]
    public = _admits(label, "anonymous")
    excluded: tuple[Any, ...] = ()
    if label in PER_ITEM_ANSWERS:
        excluded = (schemathesis.checks.negative_data_rejection,)
    known = {k: v for k, v in fuzz_world.ids.items() if "{" + k + "}" in path}
    failures: list[str] = []
    # A token changes nothing on a public operation: it is fuzzed once, anonymously.
    for role in ("anonymous",) if public else tuple(ROLES):
        token = fuzz_world.tokens.get(role)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        admitted = _admits(label, role)
        runs: list[tuple[GenerationMode, int, dict[str, str] | None]] = []
        count = EXAMPLES.get(label, ADMITTED_EXAMPLES if admitted else REFUSED_EXAMPLES)
        runs.append((GenerationMode.POSITIVE, count, None))
        if admitted:
            if _has_inputs(operation):
                runs.append((GenerationMode.NEGATIVE, count, None))
            if known:  # past the 404 of a made-up id, into what the operation does
                runs.append((GenerationMode.POSITIVE, count, known))
        for mode, examples, path_parameters in runs:
            try:
                _run(
                    operation,
                    mode=mode,
                    examples=examples,
                    headers=headers,
                    path_parameters=path_parameters,
                    excluded=excluded,
                )
            except Unsatisfiable:
                # Nothing left to make invalid (the only input, the token, is fixed).
                if mode is GenerationMode.POSITIVE:
                    raise
            except (AssertionError, Exception, BaseExceptionGroup) as failure:
                where = f"{role}, {mode.value}" + (", known ids" if path_parameters else "")
                failures.append(f"--- {label} as {where}:\n{failure}")
    assert not failures, "\n".join(failures)
