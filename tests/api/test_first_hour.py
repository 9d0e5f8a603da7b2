"""What a newcomer meets in the first hour, from a fresh clone (issue 24): the README's
promises, `make run` that does not reinstall, the operator commands for checkpoints, and
start-up refusals that are one line per problem."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.accounts.test_staff_accounts import assert_one_sentence, khaibao
from tests.conftest import STAFF_PASSWORD

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
REFUSAL = "khaibao: refusing to start: "
# The commands that start a process which keeps running: each must refuse what the others
# refuse, before it starts (a worker that reports ready and then fails every task, or a
# uvicorn process's traceback, is what an operator would see otherwise).
LONG_RUNNING = {
    "serve": ("serve", "--port", "9"),
    "worker": ("worker",),
    "scheduler": ("scheduler",),
    "db migrate": ("db", "migrate"),
}
GOOD_DATA_KEY = "cHJvZHVjdGlvbi1kYXRhLWtleS0zMi1ieXRlcy1vayE="  # base64 of 32 bytes
PRODUCTION = {
    "KHAIBAO_ENV": "production",
    "KHAIBAO_SECRET_KEY": "a-production-secret-key-of-more-than-32-characters",
    "KHAIBAO_DATA_KEY": GOOD_DATA_KEY,
    "KHAIBAO_REDIS_URL": "redis://127.0.0.1:6379/0",
}


class TestReadmeSaysWhatTestsNeed:
    def test_make_test_names_redis_and_chromium(self) -> None:
        head = "\n".join(README.splitlines()[:8])
        assert "Redis" in head
        assert "Chromium" in head

    def test_ci_keeps_installing_chromium(self) -> None:
        script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
        assert "apt-get install -y -qq chromium" in script

    def test_test_numbers_say_how_their_codes_work(self) -> None:
        row = next(line for line in README.splitlines() if line.startswith("| `KHAIBAO_TEST_OTP`"))
        assert "only after `POST /v1/auth/otp`" in row
        assert "once" in row

    async def test_the_openapi_document_says_it_too(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        description = document["paths"]["/v1/auth/otp"]["post"]["description"]
        assert "only after this request" in description


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
class TestMakeRunInstallsOnlyWhenDependenciesChange:
    def _dry_run(self, tree: Path) -> str:
        done = subprocess.run(
            ["make", "-n", "run"], cwd=tree, capture_output=True, text=True, check=True
        )
        return done.stdout

    def test_a_stamp_skips_pip_until_pyproject_or_constraints_change(self, tmp_path: Path) -> None:
        for name in ("Makefile", "pyproject.toml", "constraints.txt"):
            shutil.copy(REPO / name, tmp_path / name)
        bin_dir = tmp_path / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "python").write_text("#!/bin/sh\n")
        (bin_dir / "python").chmod(0o755)
        assert "pip install" in self._dry_run(tmp_path)  # never installed

        stamp = tmp_path / ".venv" / ".installed"
        stamp.touch()
        os.utime(tmp_path / "pyproject.toml", (1_000, 1_000))
        os.utime(tmp_path / "constraints.txt", (1_000, 1_000))
        os.utime(stamp, (2_000, 2_000))
        assert "pip install" not in self._dry_run(tmp_path)  # a restart: straight to serve

        for changed in ("constraints.txt", "pyproject.toml"):
            os.utime(tmp_path / changed, (3_000, 3_000))
            assert "pip install" in self._dry_run(tmp_path), changed
            os.utime(tmp_path / changed, (1_000, 1_000))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
class TestMakeRunOnAnotherPort:
    """`make run PORT=8001` serves there, and the URL the demo's links and QR issuer use
    follows it unless KHAIBAO_PUBLIC_URL is set."""

    def _run(self, tree: Path, *words: str, **env: str) -> str:
        for name in ("Makefile", "pyproject.toml", "constraints.txt"):
            shutil.copy(REPO / name, tree / name)
            os.utime(tree / name, (1_000, 1_000))
        bin_dir = tree / ".venv" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for tool, script in (
            ("python", "#!/bin/sh\n"),
            ("khaibao", '#!/bin/sh\necho "$KHAIBAO_PUBLIC_URL $*"\n'),
        ):
            (bin_dir / tool).write_text(script)
            (bin_dir / tool).chmod(0o755)
        (tree / ".venv" / ".installed").touch()
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KHAIBAO_", "MAKE"))}
        done = subprocess.run(
            ["make", "-s", "run", *words],
            cwd=tree,
            capture_output=True,
            text=True,
            check=True,
            env={**clean, **env},
        )
        return done.stdout.strip()

    def test_port_sets_the_port_and_the_public_url(self, tmp_path: Path) -> None:
        assert self._run(tmp_path) == ("http://127.0.0.1:8000 serve --host 127.0.0.1 --port 8000")
        assert self._run(tmp_path, "PORT=8001") == (
            "http://127.0.0.1:8001 serve --host 127.0.0.1 --port 8001"
        )

    def test_a_public_url_given_is_kept(self, tmp_path: Path) -> None:
        served = self._run(tmp_path, "PORT=8001", KHAIBAO_PUBLIC_URL="https://khaibao.example")
        assert served == "https://khaibao.example serve --host 127.0.0.1 --port 8001"


class TestStartUpRefusals:
    def test_production_with_test_codes_is_one_line_per_problem_and_exit_2(
        self, tmp_path: Path
    ) -> None:
        started = khaibao(
            "serve",
            "--port",
            "9",
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_ENV="production",
            KHAIBAO_TEST_OTP="+84900000001:123456",
        )
        assert started.returncode == 2
        assert "Traceback" not in started.stderr
        lines = started.stderr.strip().splitlines()
        assert lines == [
            "khaibao: refusing to start: KHAIBAO_SECRET_KEY is the development default"
            " (KHAIBAO_ENV=production)",
            "khaibao: refusing to start: KHAIBAO_DATA_KEY is the development default"
            " (KHAIBAO_ENV=production)",
            "khaibao: refusing to start: KHAIBAO_TEST_OTP must not be set in production"
            " (KHAIBAO_ENV=production)",
            "khaibao: refusing to start: KHAIBAO_REDIS_URL must be set in production"
            " (rate limits live there) (KHAIBAO_ENV=production)",
        ]

    def test_a_malformed_setting_names_its_variable(self, tmp_path: Path) -> None:
        started = khaibao(
            "users",
            "list",
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_ACCESS_TOKEN_MINUTES="soon",
        )
        assert started.returncode == 2
        assert started.stderr.startswith("khaibao: refusing to start: KHAIBAO_ACCESS_TOKEN_MINUTES")
        assert len(started.stderr.strip().splitlines()) == 1

    def test_a_broken_rules_file_is_one_line(self, tmp_path: Path) -> None:
        rules = tmp_path / "rules.toml"
        rules.write_text("[checkpoints]\nallow = []\n", encoding="utf-8")
        started = khaibao(
            "serve",
            "--port",
            "9",
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_RULES_PATH=str(rules),
        )
        assert started.returncode == 2
        assert started.stderr.strip().splitlines() == [
            f"khaibao: refusing to start: {rules}: `version` must be text of 1-64 characters"
        ]


def assert_refused(started: subprocess.CompletedProcess[str], *problems: str) -> None:
    """Exit 2, one line per problem, no traceback."""
    assert "Traceback" not in started.stderr
    assert started.stderr.strip().splitlines() == [REFUSAL + problem for problem in problems]
    assert started.returncode == 2


class TestWrongSettingsStopEveryProcessInOneLine:
    @pytest.mark.parametrize("command", LONG_RUNNING)
    def test_a_data_key_that_is_not_base64_and_a_redis_url_that_is_not_one(
        self, command: str, tmp_path: Path
    ) -> None:
        started = khaibao(
            *LONG_RUNNING[command],
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_DATA_KEY="notbase64",
            KHAIBAO_REDIS_URL="notaurl",
        )
        assert_refused(
            started,
            "KHAIBAO_REDIS_URL: must start with redis://, rediss:// or unix://",
            "KHAIBAO_DATA_KEY: must be base64 of 32 bytes (e.g. base64 of os.urandom(32))",
        )

    @pytest.mark.parametrize("command", LONG_RUNNING)
    def test_a_data_key_of_the_wrong_length(self, command: str, tmp_path: Path) -> None:
        started = khaibao(
            *LONG_RUNNING[command],
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_DATA_KEY="c2hvcnQ=",  # "short"
        )
        assert_refused(
            started,
            "KHAIBAO_DATA_KEY: must be base64 of 32 bytes (e.g. base64 of os.urandom(32))",
        )

    @pytest.mark.parametrize("command", LONG_RUNNING)
    def test_the_webhook_provider_without_its_url(self, command: str, tmp_path: Path) -> None:
        started = khaibao(
            *LONG_RUNNING[command],
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            KHAIBAO_NOTIFY_PROVIDER="webhook",
        )
        assert_refused(
            started,
            "KHAIBAO_NOTIFY_WEBHOOK_URL is required when KHAIBAO_NOTIFY_PROVIDER=webhook",
        )

    @pytest.mark.parametrize("secret", ["", "x"])
    def test_production_refuses_an_empty_or_short_webhook_secret(
        self, secret: str, tmp_path: Path
    ) -> None:
        started = khaibao(
            "serve",
            "--port",
            "9",
            database_url=f"sqlite:///{tmp_path}/k.sqlite3",
            **PRODUCTION,
            KHAIBAO_NOTIFY_PROVIDER="webhook",
            KHAIBAO_NOTIFY_WEBHOOK_URL="https://sms.example.vn/send",
            KHAIBAO_NOTIFY_WEBHOOK_SECRET=secret,
        )
        assert_refused(
            started,
            "KHAIBAO_NOTIFY_WEBHOOK_SECRET must be at least 32 characters (KHAIBAO_ENV=production)",
        )


class TestAMistypedDatabasePathIsNotANewDatabase:
    @pytest.mark.parametrize(
        "command", [("serve", "--port", "9"), ("worker",), ("users", "list")], ids=" ".join
    )
    def test_a_file_in_a_directory_that_does_not_exist_is_refused(
        self, command: tuple[str, ...], tmp_path: Path
    ) -> None:
        typo = tmp_path / "dat" / "khaibao.sqlite3"
        started = khaibao(
            *command,
            database_url=f"sqlite:///{typo}",
            KHAIBAO_REDIS_URL="redis://127.0.0.1:6379/0",
        )
        assert_refused(
            started,
            f"KHAIBAO_DATABASE_URL: the directory {typo.parent} does not exist; create it, "
            "or run `khaibao db migrate`, if a new database is meant there",
        )
        assert not typo.parent.exists()

    def test_db_migrate_creates_the_directory_it_is_told_to(self, tmp_path: Path) -> None:
        new = tmp_path / "data" / "khaibao.sqlite3"
        migrated = khaibao("db", "migrate", database_url=f"sqlite:///{new}")
        assert migrated.returncode == 0, migrated.stderr
        assert new.exists()
        listed = khaibao("users", "list", database_url=f"sqlite:///{new}")
        assert listed.returncode == 0, listed.stderr

    def test_the_default_under_var_is_created_on_a_fresh_clone(self, tmp_path: Path) -> None:
        # `make run` on a fresh clone: no KHAIBAO_DATABASE_URL, no var/ yet.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
        env.update(KHAIBAO_ENV="test", PYTHONPATH=str(REPO))
        listed = subprocess.run(
            [str(Path(sys.executable).parent / "khaibao"), "users", "list"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert (tmp_path / "var" / "khaibao.sqlite3").exists()


class TestCheckpointCommands:
    def test_create_list_and_staff_for_it(self, database_url: str) -> None:
        created = khaibao(
            "checkpoints", "create", "--name", "Chợ Bến Thành", "--province", "79",
            "--ward", "26743", "--kind", "market", database_url=database_url,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        checkpoint_id = created.stdout.strip()
        assert checkpoint_id.startswith("cp_")

        listed = khaibao("checkpoints", "list", "--province", "79", database_url=database_url)
        assert listed.stdout.splitlines()[1:] == [
            f"{checkpoint_id}\tmarket\t79\t26743\tChợ Bến Thành"
        ]
        staff = khaibao(
            "users", "create", "--role", "checkpoint_staff", "--username", "gate",
            "--checkpoint", checkpoint_id, database_url=database_url,
            stdin=STAFF_PASSWORD + "\n",
        )  # fmt: skip
        assert staff.returncode == 0, staff.stderr

    def test_mistakes_are_one_sentence(self, database_url: str) -> None:
        wrong_ward = khaibao(
            "checkpoints", "create", "--name", "Chợ", "--province", "79", "--ward", "70",
            "--kind", "market", database_url=database_url,
        )  # fmt: skip
        assert_one_sentence(wrong_ward, "--ward", "not in the province")
        no_name = khaibao(
            "checkpoints", "create", "--name", " ", "--province", "79", "--ward", "26743",
            "--kind", "market", database_url=database_url,
        )  # fmt: skip
        assert_one_sentence(no_name, "--name")
        not_staff = khaibao(
            "users", "create", "--role", "analyst", "--username", "a", "--checkpoint", "cp_x",
            database_url=database_url, stdin=STAFF_PASSWORD + "\n",
        )  # fmt: skip
        assert_one_sentence(not_staff, "Only checkpoint_staff")

    def test_a_usage_mistake_is_one_line_too(self, database_url: str) -> None:
        done = khaibao(
            "checkpoints", "create", "--name", "Chợ", "--province", "Hà Nội", "--ward", "70",
            "--kind", "market", database_url=database_url,
        )  # fmt: skip
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            "error: khaibao checkpoints create: argument --province: invalid int value:"
            " 'Hà Nội' (see khaibao checkpoints create --help)"
        ]
