"""The OpenAPI document: valid, every operation named and tagged, every error typed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from api.app import create_app
from core.errors import all_error_types
from web.openapi import OPERATION_ID, OPERATION_IDS

APP = create_app()
DOCUMENT: dict[str, Any] = APP.openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


def test_the_document_passes_openapi_spec_validator() -> None:
    validate(DOCUMENT)


def test_every_operation_has_a_readable_unique_id_and_a_tag() -> None:
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    assert len(ids) == len(set(ids))
    assert all(OPERATION_ID.fullmatch(i) for i in ids), ids
    assert all(operation["tags"] for _, _, operation in OPERATIONS)
    # The table names only operations that exist: a renamed route is renamed there too.
    assert set(OPERATION_IDS) <= {(m, p) for m, p, _ in OPERATIONS}
    named = {(m, p): o["operationId"] for m, p, o in OPERATIONS}
    assert named["POST", "/v1/declarations"] == "declarations_create"
    assert named["GET", "/v1/people/{person_id}/qr"] == "people_qr_get"


CONTRACT = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_the_contract_in_the_repository_names_every_operation_id() -> None:
    contract = CONTRACT
    missing = [
        o["operationId"] for _, _, o in OPERATIONS if f"`{o['operationId']}`" not in contract
    ]
    assert not missing, "add them to docs/api.md, Operation ids"


def test_every_error_is_problem_json_and_waits_are_named() -> None:
    for method, path, operation in OPERATIONS:
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert list(response["content"]) == ["application/problem+json"], (path, status)
                assert "$ref" in response["content"]["application/problem+json"]["schema"]
            if status in ("429", "503"):
                assert "Retry-After" in response["headers"], (method, path)
    schemas = DOCUMENT["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    # Module-qualified names (two models of one name) break generators.
    assert not [name for name in schemas if "__" in name]


def declare_key_pattern(operation: dict[str, Any]) -> str:
    (key,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    return str(key["schema"]["pattern"])


def test_required_headers_images_batches_and_sign_in_are_typed() -> None:
    declare = DOCUMENT["paths"]["/v1/declarations"]["post"]
    entry = DOCUMENT["paths"]["/v1/entry-declarations"]["post"]
    for operation in (declare, entry):
        (key,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["required"] is True
        assert key["schema"]["maxLength"] == 128
        assert key["schema"]["pattern"]
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    for optional in ("/v1/questions", "/v1/monitoring", "/v1/consents"):
        ask = DOCUMENT["paths"][optional]["post"]
        (key,) = [p for p in ask["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["required"] is False
        assert key["schema"]["anyOf"][0]["pattern"] == declare_key_pattern(declare)
        assert "Idempotent-Replayed" in ask["responses"]["201"]["headers"]
        assert "409" in ask["responses"]
    for acting in (
        "/v1/monitoring/{episode_id}/close",
        "/v1/questions/{question_id}/answer",
        "/v1/questions/{question_id}/duplicate",
        "/v1/questions/{question_id}/reject",
        "/v1/checkpoints/{checkpoint_id}/scans",
    ):
        act = DOCUMENT["paths"][acting]["post"]
        (key,) = [p for p in act["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["required"] is False
        assert key["schema"]["anyOf"][0]["pattern"] == declare_key_pattern(declare)
        assert "Idempotent-Replayed" in act["responses"]["200"]["headers"]
        assert "409" in act["responses"]
    qr = DOCUMENT["paths"]["/v1/people/{person_id}/qr"]["get"]["responses"]["200"]
    assert qr["content"]["image/png"]["schema"] == {"type": "string", "format": "binary"}
    assert qr["content"]["image/svg+xml"]["schema"] == {"type": "string"}
    assert {"ETag", "Cache-Control"} <= set(qr["headers"])
    schemas = DOCUMENT["components"]["schemas"]
    item = schemas["BatchItemIn"]["properties"]["declaration"]
    assert item["$ref"] == "#/components/schemas/DeclarationIn"
    assert schemas["TokenRequest"]["oneOf"] == [
        {"$ref": "#/components/schemas/PhoneSignIn"},
        {"$ref": "#/components/schemas/PasswordSignIn"},
    ]
    assert "enum" in schemas["PersonOut"]["properties"]["relation"]
    detail = schemas["DeclarationDetail"]["properties"]
    assert detail["exposure"] == {"$ref": "#/components/schemas/ExposureOut"}
    assert "enum" in detail["symptoms"]["items"]
    public = DOCUMENT["paths"]["/v1/public/regions"]["get"]
    assert public["security"] == []


def test_a_problem_with_more_members_is_shown_with_its_own_schema() -> None:
    """`POST /v1/cases` by identity number alone answers 409 `choose_record` with the masked
    candidates: the document names that problem and the schema that reads them."""
    answer = DOCUMENT["paths"]["/v1/cases"]["post"]["responses"]["409"]
    assert "choose_record" in answer["description"]
    assert answer["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/RecordChoice"}}
    }
    choice = DOCUMENT["components"]["schemas"]["RecordChoice"]
    assert {"code", "status", "title", "detail", "candidates"} <= set(choice["properties"])


def test_writes_that_create_for_an_account_name_account_erased() -> None:
    """A token that outlived `DELETE /v1/me` is 401 `account_erased` where it would create a
    record for the account: the document says so beside the other 401."""
    for path in ("/v1/declarations", "/v1/questions"):
        unauthorised = DOCUMENT["paths"][path]["post"]["responses"]["401"]
        assert "account_erased" in unauthorised["description"], path
        assert "unauthenticated" in unauthorised["description"], path


# docs/api.md names a problem as `<status> <code>` (e.g. `409 too_many_people`).
NAMED_PROBLEM = re.compile(r"`([1-5][0-9][0-9])\s+([a-z][a-z0-9_]*)`")
# /openapi.json lists each error answer's codes as "Problem: <code>, <code>…" (web.problems).
LISTED = re.compile(r"Problem: ([a-z][a-z0-9_]*(?:, [a-z][a-z0-9_]*)*)")


def problems_in_the_document() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for method, path, operation in OPERATIONS:
        for status, response in operation["responses"].items():
            if status[0] in "45":
                listed = LISTED.match(response["description"])
                assert listed, (method, path, status, "names no problem code")
                found |= {(status, code) for code in listed.group(1).split(", ")}
    return found


def passages_naming(path: str) -> list[str]:
    """The contract's bullets, paragraphs and table rows that name `path` (any spelling of
    its parameters: `{id}` for `{checkpoint_id}`), not as part of a longer path."""
    pattern = re.compile(
        r"(?<![\w/.-])"
        + re.sub(r"\\\{[a-z_]+\\\}", r"\\{[a-z_]+\\}", re.escape(path))
        + r"(?![\w/.-])"
    )
    passages = re.split(r"\n(?=- |#|\||\n)", CONTRACT)
    return [passage for passage in passages if pattern.search(passage)]


def test_the_contract_names_every_problem_route_and_query_parameter_the_document_has() -> None:
    """docs/api.md is the repository's copy of /openapi.json: each error code with its status,
    each method and path, each query parameter beside its route; and no problem the server
    no longer has."""
    problems = problems_in_the_document()
    named = set(NAMED_PROBLEM.findall(CONTRACT))
    assert not sorted(problems - named, key=lambda p: p[1]), "name them in docs/api.md"
    served = problems | {(str(error.status), error.code) for error in all_error_types()}
    assert not sorted(named - served), "docs/api.md names problems the server does not have"

    routes = [(m, p) for m, p, _ in OPERATIONS if f"`{m} {p}`" not in CONTRACT]
    assert not routes, "add them to docs/api.md, Operation ids"

    unnamed = [
        (method, path, parameter["name"])
        for method, path, operation in OPERATIONS
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
        and not any(
            f"{parameter['name']}=" in passage or f"`{parameter['name']}`" in passage
            for passage in passages_naming(path)
        )
    ]
    assert not unnamed, "say what they do where docs/api.md describes the route"


def test_only_headers_the_service_asks_for_are_parameters() -> None:
    """A generated client gets an argument per header parameter: the ones a cacheable route
    reads for itself (If-None-Match, Accept-Encoding) are not its caller's to fill in."""
    headers = {
        (method, path, parameter["name"])
        for method, path, operation in OPERATIONS
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }
    assert {name for _, _, name in headers} == {"Idempotency-Key"}, sorted(headers)
