"""`khaibao audit`: the audit log as a data-protection officer or an inspector reads it.

Who looked at this person's record (`--person`), who pulled which report last week
(`--report`, `--since`), what did one staff account or operator do (`--user`): entries newest
first, as CSV (the dashboard's: UTF-8 with a byte-order mark, a header row, `params` as
compact JSON in one column) or JSON Lines. The raw columns come first, as scripts read
them; the last two are for a person: `actor`, who acted (a staff account's user name and
role, `citizen`, `system`, or the OS user of an operator's command at the server's shell),
and `description`, what the action was in plain words (its raw name when it has none).
The read is itself audited (`audit.read`), before anything is shown: the log says who
looked at whom, which is personal data too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from functools import partial
from typing import Any, get_args

from core.clock import VIETNAM
from core.context import Context, ContextRunner
from core.principals import SHELL_OPERATOR, shell_operator
from core.settings import get_settings
from core.storage import Document, Store
from reports.actions import describe
from reports.audit import AuditQuery, PersonScans, ReportName, read_audit_log
from reports.export import csv_text

COLUMNS = (
    "at",
    "user",
    "role",
    "action",
    "report",
    "target",
    "person_id",
    "subject_id",
    "organisation",
    "params",
    "id",
    # For a person reading the log; appended so that scripts reading the columns above by
    # position keep working.
    "actor",
    "description",
)
SERVICE = "system:"  # the service acting on its own, by a name (`system:trust-refresh`)
# User names of staff accounts by id (`accounts.repository.usernames_of`). The accounts
# domain sits above reports, which may not import it: the app hands the query down.
StaffNames = Callable[[Store, Iterable[str]], Awaitable[dict[str, str]]]
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a day as YYYY-MM-DD (in Vietnam)") from None


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_LIMIT}")
    return number


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(VIETNAM).isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _staff_ids(entries: list[Document]) -> set[str]:
    """The actors that are staff accounts: never a citizen's, whose account is looked up by
    nobody here (its phone is personal data), and not an operator or the service."""
    return {
        user
        for entry in entries
        if isinstance(user := entry.get("user"), str)
        and entry.get("role") != "citizen"
        and not user.startswith((SHELL_OPERATOR, SERVICE))
    }


def actor(entry: Document, usernames: dict[str, str]) -> str:
    """Who acted, as a person names them. The role is the entry's, the one they acted in."""
    user, role = entry.get("user"), entry.get("role")
    if role == "citizen":
        return "citizen"
    if not isinstance(user, str):
        return "system"
    if user.startswith(SHELL_OPERATOR):
        return f"{user.removeprefix(SHELL_OPERATOR)} (operator at the server's shell)"
    if user.startswith(SERVICE):
        return f"system ({user.removeprefix(SERVICE)})"
    # An id no staff account has any more still says who: the raw id.
    return f"{usernames.get(user, user)} ({role})"


def _row(entry: Document, usernames: dict[str, str]) -> dict[str, Any]:
    """One entry as the columns say, `at` in Vietnam time with its offset: the day it
    falls on is the day `--since`/`--until` count it in."""
    row = {column: entry.get(column) for column in COLUMNS}
    row["id"] = entry["_id"]
    row["at"] = _json_value(entry["at"])
    row["actor"] = actor(entry, usernames)
    row["description"] = describe(entry)
    return row


def _compact(value: Any, *, sort_keys: bool = True) -> str:
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys, default=_json_value
    )


def render(entries: list[Document], form: str, usernames: dict[str, str]) -> str:
    rows = [_row(entry, usernames) for entry in entries]
    if form == "jsonl":
        return "".join(_compact(row, sort_keys=False) + "\n" for row in rows)
    cells = [
        [_compact(row[c]) if c == "params" and row[c] is not None else row[c] for c in COLUMNS]
        for row in rows
    ]
    return csv_text(list(COLUMNS), cells)


def _query(args: argparse.Namespace) -> AuditQuery:
    action: str | None = args.action
    prefix: str | None = None
    if action is not None and action.endswith("*"):
        prefix = action.removesuffix("*")
        action = None
        if not prefix:
            raise ValueError("--action: name an action, or the start of one before the *")
    if args.since and args.until and args.until < args.since:
        raise ValueError("--until is before --since")
    return AuditQuery(
        user=args.user,
        action=action,
        action_prefix=prefix,
        report=args.report,
        person_id=args.person,
        since=args.since,
        until=args.until,
        limit=args.limit,
    )


def _audit(
    args: argparse.Namespace,
    run: ContextRunner,
    staff_names: StaffNames,
    person_scans: PersonScans,
) -> int:
    try:
        query = _query(args)
    except ValueError as exc:
        print(f"error: khaibao audit: {exc}", file=sys.stderr)
        return 2

    settings = get_settings()
    if not settings.is_mongodb and not settings.sqlite_path.exists():
        # Opening it would create an empty database, whose empty log reads as "nobody
        # looked": a DPO who mistyped the path must hear that there is nothing there.
        print(
            f"error: khaibao audit: no database at {settings.sqlite_path} "
            "(KHAIBAO_DATABASE_URL); nothing was read",
            file=sys.stderr,
        )
        return 2

    async def read(ctx: Context) -> tuple[list[Document], dict[str, str]]:
        # One more than asked, to say whether older entries were left out.
        found = await read_audit_log(
            ctx.store, shell_operator(), query, fetch=query.limit + 1, person_scans=person_scans
        )
        shown = found[: query.limit]
        return found, await staff_names(ctx.store, _staff_ids(shown))

    entries, usernames = run(read)
    out = render(entries[: query.limit], args.format, usernames)
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    if len(entries) > query.limit:
        print(
            f"khaibao audit: the newest {query.limit} entries shown; older ones match too "
            "(narrow with --since/--until, or raise --limit)",
            file=sys.stderr,
        )
    return 0


def register(
    subparsers: Any, run: ContextRunner, *, staff_names: StaffNames, person_scans: PersonScans
) -> None:
    """`staff_names`: how the `actor` column names a staff account from its id;
    `person_scans`: a person's checkpoint scans, listed by `--person` as `scan` entries."""
    parser = subparsers.add_parser(
        "audit",
        help="read the audit log (who read or changed what, when), newest first, with who "
        "acted and what it was in plain words; the read is audited",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--user",
        help="the account id (usr_…) or cli:<OS user> the log names as the actor (the "
        "`user` column; `actor` shows the user name)",
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--action",
        help="an action (monitoring_open, staff.disable, audit.read…); ending in * for every "
        "action that starts so (trust.*)",
    )
    kind.add_argument("--report", choices=get_args(ReportName), help="requests of one report")
    parser.add_argument(
        "--person", help="a person id (per_…): who saw or acted on this person's record"
    )
    parser.add_argument("--since", type=_day, help="from this day on (YYYY-MM-DD, in Vietnam)")
    parser.add_argument("--until", type=_day, help="up to this day, included")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    parser.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        help=f"at most this many entries, the newest (default {DEFAULT_LIMIT})",
    )
    parser.set_defaults(
        handler=partial(_audit, run=run, staff_names=staff_names, person_scans=person_scans)
    )
