"""A client generated from the live `/openapi.json`, used as a mobile team would use it.

The app runs under uvicorn on 127.0.0.1 in a subprocess; openapi-python-client generates a
client from the document that server answers with, into a temporary directory; and from then
on the test speaks to the server ONLY through the generated code: sign in, declare (the
generated function demands the Idempotency-Key), read a 422 as a typed problem with its field
list, download a PNG QR code as bytes, post a batch built from typed declarations.
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notifications.conftest import ROOT, free_port

PHONE, OTP = "+84900000071", "271828"
PACKAGE = "khaibao_client"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env.update(
        KHAIBAO_ENV="test",
        KHAIBAO_DATABASE_URL=f"sqlite:///{home}/khaibao.sqlite3",
        KHAIBAO_TEST_OTP=f"{PHONE}:{OTP}",
        KHAIBAO_SHED_LOOP_LAG_MS="0",
        KHAIBAO_LOG_LEVEL="WARNING",
    )
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "api.app:app_from_environment", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((home / "server.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def generated(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The package openapi-python-client writes for the live document, imported."""
    work = tmp_path_factory.mktemp("client")
    (work / "openapi.json").write_bytes(httpx.get(server + "/openapi.json").content)
    # No post hooks: formatting the generated code is the team's business, not the test's.
    # The generator reads bytes only from application/octet-stream: a PNG is bytes (README).
    (work / "config.yaml").write_text(
        f"package_name_override: {PACKAGE}\npost_hooks: []\n"
        "content_type_overrides:\n  image/png: application/octet-stream\n"
    )
    tool = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(
        [
            *(str(tool), "generate", "--path", "openapi.json", "--config", "config.yaml"),
            *("--meta", "none", "--output-path", str(work / PACKAGE)),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every operation and schema generated: a warning names what the generator skipped.
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_team_signs_in_declares_reads_problems_and_downloads_its_qr_with_the_generated_client(
    server: str, generated: Any
) -> None:
    models = module("models")
    otp_request = module("api.sign_in.auth_otp_request")
    token_create = module("api.sign_in.auth_token_create")
    declarations_create = module("api.declarations.declarations_create")
    batch_create = module("api.declarations.declarations_batch_create")
    people_qr_get = module("api.qr.people_qr_get")

    # Sign in: a phone and its code, one of TokenRequest's two shapes.
    public = generated.Client(base_url=server, raise_on_unexpected_status=True)
    sent = otp_request.sync(client=public, body=models.OtpRequest(phone=PHONE))
    assert isinstance(sent, models.OtpAccepted)
    tokens = token_create.sync(client=public, body=models.PhoneSignIn(phone=PHONE, otp=OTP))
    assert isinstance(tokens, models.TokenResponse)
    client = generated.AuthenticatedClient(
        base_url=server, token=tokens.access_token, raise_on_unexpected_status=True
    )

    # Declaring demands the Idempotency-Key: a required keyword of the generated function.
    key = inspect.signature(declarations_create.sync_detailed).parameters["idempotency_key"]
    assert key.default is inspect.Parameter.empty
    assert key.kind is inspect.Parameter.KEYWORD_ONLY

    def declaration(ward: int = 70, child: str = "") -> Any:
        person = models.PersonIn(
            full_name="Nguyễn Thị Lan",
            id_number="001190000071",
            birth_year=1990,
            gender=models.PersonInGender.FEMALE,
            phone=PHONE,
        )
        if child:
            person = models.PersonIn(
                full_name="Trần Minh An",
                id_number=child,
                birth_year=2015,
                gender=models.PersonInGender.MALE,
                relation=models.PersonInRelation.CHILD,
            )
        return models.DeclarationIn(
            person=person,
            address=models.AddressIn(province=1, ward=ward, street="12 Tràng Tiền"),
            symptoms=[models.DeclarationInSymptomsItem.COUGH],
        )

    answer = declarations_create.sync_detailed(
        client=client, body=declaration(), idempotency_key=f"client-{uuid.uuid4().hex}"
    )
    assert answer.status_code == 201
    declared = answer.parsed
    assert isinstance(declared, models.DeclarationOut)
    assert declared.status.value in ("green", "yellow", "red")

    # A 422 is a typed problem with the failing fields (a ward of another province).
    refused = declarations_create.sync_detailed(
        client=client, body=declaration(ward=26734), idempotency_key=f"client-{uuid.uuid4().hex}"
    )
    assert refused.status_code == 422
    problem = refused.parsed
    assert isinstance(problem, models.Problem)
    assert problem.code == "validation_failed"
    assert [e.field for e in problem.errors] == ["address.ward"]
    assert isinstance(problem.errors[0], models.FieldProblem)

    # The person's QR code as a PNG: bytes, not text.
    qr = people_qr_get.sync_detailed(
        declared.person_id, client=client, format_=models.PeopleQrGetFormat.PNG
    )
    assert qr.status_code == 200
    assert qr.headers["content-type"] == "image/png"
    assert isinstance(qr.parsed, generated.types.File)
    png = qr.parsed.payload.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    # An offline queue: typed declarations, as they were built for the single endpoint.
    queued = [declaration(child=f"00120150{n:04d}") for n in (72, 73)]
    batch = batch_create.sync(
        client=client,
        body=models.BatchIn(
            items=[
                models.BatchItemIn(idempotency_key=f"queue-{uuid.uuid4().hex}", declaration=d)
                for d in queued
            ]
        ),
    )
    assert isinstance(batch, models.BatchOut)
    assert [r.status_code for r in batch.results] == [201, 201]
    assert all(isinstance(r.declaration, models.DeclarationOut) for r in batch.results)
