"""The `khaibao` command: serve, worker, users, and the operators' tools of each domain."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, NoReturn

from pydantic import ValidationError

from accounts.repository import usernames_of
from checkpoints import cli as checkpoints_cli
from checkpoints import repository as checkpoints_repository
from core.errors import AppError
from core.settings import get_settings, settings_problems
from core.storage import DatabaseDirectoryMissing, StorageDown
from core.storage.factory import check_database_directory
from declarations.rules import RulesError, read_rules
from notifications import cli as notifications_cli
from publicmap import cli as publicmap_cli
from qr import cli as qr_cli
from reports import cli as reports_cli
from runtime.context import run_with_context

# The domains' operator commands: each module's `register(subparsers, run)` adds its own,
# and `run` opens a context for them (a domain never imports the runtime or the app).
# `khaibao audit` (reports) also names staff accounts, with the accounts domain's query,
# and lists a person's checkpoint scans, with the checkpoints domain's: reports sits below
# both, so the app hands them down (below, in `build_parser`).
DOMAIN_COMMANDS = (checkpoints_cli, qr_cli, notifications_cli, publicmap_cli)
# The app's own commands (they use this module's CommandError, so are found by name).
APP_COMMANDS: tuple[str, ...] = ("api.staff_cli", "api.demo")
TOOL_ENTRY_POINTS = "khaibao.commands"


class CommandError(Exception):
    """What an operator asked cannot be done; the message is one sentence saying why."""


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Each command's one-line help is also the description its own --help opens with
    (argparse shows it only in the list of the parent's commands)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if kwargs.get("help") and not kwargs.get("description"):
            description = str(kwargs["help"])
            kwargs["description"] = description[:1].upper() + description[1:] + "."
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        return parser


class _Parser(argparse.ArgumentParser):
    """A usage mistake in one line, pointing at the help, instead of the usage text; every
    option's default in its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        default, text = action.default, action.help or ""
        # Not shown: no default, a switch's off, an empty value, 0 (each says nothing).
        shown = default is not argparse.SUPPRESS and bool(default) and default is not True
        if shown and text is not argparse.SUPPRESS and "default" not in text:
            action.help = f"{text} (default: %(default)s)" if text else "default: %(default)s"
        return action

    def error(self, message: str) -> NoReturn:
        if "invalid choice: 'load'" in message or "invalid choice: 'bench'" in message:
            # The entry points are written by pip: missing only in a tree not installed.
            self.exit(
                2,
                f"error: {self.prog}: `load` and `bench` are registered when the project is "
                "installed: run `make install-dev` (pip install -c constraints.txt -e "
                "'.[dev]'), which also installs Locust, which `load` needs\n",
            )
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


class StartupRefused(Exception):
    """The service will not start as configured; the message says what to change."""


def _serve(args: argparse.Namespace) -> int:
    from api.serve import serve

    # Refuse bad settings and a broken rules file here, in one line each, before any worker
    # starts (a worker's refusal is a traceback in uvicorn's log).
    try:
        read_rules(get_settings())
    except RulesError as exc:
        raise StartupRefused(str(exc)) from None
    _refuse_what_would_not_open()

    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker is its own process; metrics are merged through this directory.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="khaibao-metrics-")
    return serve(args.host, args.port, workers=args.workers)


def _refuse_what_would_not_open() -> None:
    """The database checks of every long-running process, before it starts: settings it
    would refuse (main prints those), a SQLite file in a directory that does not exist, an
    unmigrated MongoDB. Past this point a refusal is a traceback in a uvicorn process, or a
    Celery worker that reports ready and then fails every task."""
    check_database_directory(get_settings())
    _refuse_an_unmigrated_database()


def _refuse_an_unmigrated_database() -> None:
    """On MongoDB, say in one line what `khaibao db migrate` has yet to create (a process
    would otherwise stop with SchemaMissing in a traceback)."""
    from core.storage import SchemaMissing
    from core.storage.factory import missing
    from runtime.collections import COLLECTIONS

    absent = asyncio.run(missing(get_settings(), COLLECTIONS))
    if absent:
        raise StartupRefused(str(SchemaMissing(absent)))


def _worker(args: argparse.Namespace) -> int:
    # Not for a cycle: importing the worker module builds the Celery app from the settings,
    # which only `khaibao worker` needs.
    from runtime.worker import run_worker

    _refuse_what_would_not_open()
    return run_worker(concurrency=args.concurrency)


def _scheduler(args: argparse.Namespace) -> int:
    get_settings()  # settings the service refuses stop beat too, before it connects anywhere
    from runtime.worker import run_scheduler  # as for the worker: only this command needs it

    return run_scheduler()


def _db_migrate(args: argparse.Namespace) -> int:
    from core.storage.factory import migrate
    from runtime.collections import COLLECTIONS, DATA_STEPS

    settings = get_settings()
    try:
        done = asyncio.run(
            migrate(settings, COLLECTIONS, steps=DATA_STEPS, drop_retired=args.drop_retired)
        )
    except Exception as exc:  # one line for the operator (or the compose log), not a trace
        print(f"error: migration failed: {exc}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    print(f"database ready: {len(COLLECTIONS)} collections")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; `command` (the first argument) says which tool, if any, to import."""
    parser = _Parser(prog="khaibao", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)"
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (more than 1: metrics merged through "
        "PROMETHEUS_MULTIPROC_DIR)",
    )
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run the Celery worker (needs KHAIBAO_REDIS_URL)")
    worker.add_argument(
        "--concurrency", type=int, default=2, help="Celery pool processes: tasks run at once"
    )
    worker.set_defaults(handler=_worker)

    scheduler = commands.add_parser(
        "scheduler", help="run Celery beat: sends the scheduled jobs to the workers (needs Redis)"
    )
    scheduler.set_defaults(handler=_scheduler)
    database = commands.add_parser("db", help="the database").add_subparsers(
        dest="db_command", required=True
    )
    migrate = database.add_parser(
        "migrate",
        help="create collections and indexes (MongoDB: and shard them on a cluster), then bring "
        "documents an older version stored up to date; run once per deployment and after an "
        "upgrade, before the API and the worker start",
    )
    migrate.add_argument(
        "--drop-retired",
        action="store_true",
        help="also drop the indexes an older version created that this one no longer "
        "declares, and rebuild as declared those built with the other uniqueness (migrate "
        "names both without it); only once no process of an older version runs, which may "
        "still read through them",
    )
    migrate.set_defaults(handler=_db_migrate)

    for name in APP_COMMANDS:
        importlib.import_module(name).register(commands)
    for module in DOMAIN_COMMANDS:
        module.register(commands, run_with_context)
    reports_cli.register(
        commands,
        run_with_context,
        staff_names=usernames_of,
        person_scans=checkpoints_repository.scans_of_person_between,
    )
    # Tools installed beside the service (the load tools: `khaibao load`, `khaibao bench`)
    # add their commands through the `khaibao.commands` entry points of pyproject.toml:
    # the service names none of them, and imports one only when its command is asked for,
    # or for `khaibao --help`, which shows their help (`khaibao serve` never imports load/).
    for tool in entry_points(group=TOOL_ENTRY_POINTS):
        if tool.name == command or command is None or command.startswith("-"):
            tool.load()(commands)
        else:
            commands.add_parser(tool.name, help=f"a tool installed beside the service: "
                                f"khaibao {tool.name} --help")  # fmt: skip
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    # A key id is a JWK thumbprint in base64url, so one in 64 begins with "-", which argparse
    # would take for an option: what follows `keys remove` is the id, whatever it looks like.
    if argv[:2] == ["keys", "remove"] and len(argv) == 3 and argv[2] not in ("-h", "--help"):
        argv = [*argv[:2], "--", argv[2]]
    return build_parser(argv[0] if argv else None).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Every refusal is one line on standard error, never a traceback: exit 2 for settings
    the service refuses to start with, 1 for a command that cannot be done."""
    args = parse(sys.argv[1:] if argv is None else argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ValidationError as exc:
        if exc.title != "Settings":
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or exc.title
            message = str(first["msg"]).removeprefix("Value error, ")
            print(f"error: {where}: {message}.", file=sys.stderr)
            return 1
        for problem in settings_problems(exc):
            print(f"khaibao: refusing to start: {problem}", file=sys.stderr)
        return 2
    except (StartupRefused, DatabaseDirectoryMissing) as exc:
        print(f"khaibao: refusing to start: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"error: {exc.detail.en}", file=sys.stderr)
        return 1
    except (CommandError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StorageDown:
        print("error: the database cannot take writes now (KHAIBAO_DATABASE_URL).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # still one line: the operator reports it, with its type
        line = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"error: unexpected {type(exc).__name__}: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
