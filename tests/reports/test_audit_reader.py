"""`khaibao audit`: the audit log as a data-protection officer reads it. Entries written by
the service's own actions (an analyst's report over HTTP, an officer opening a monitoring
episode) come back filtered by user, action, report, person and Vietnamese day, newest
first, as CSV or JSON Lines, naming who acted and what it was in plain words; the read is
audited; a bad date is one line and exit code 2."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx

from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from core.principals import Principal
from reports.audit import actor_change, record_report_request
from tests.checkpoints.helpers import (
    account_id,
    create_person,
    new_checkpoint,
    person_token,
    scan,
)
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.monitoring.conftest import officer, person_under_follow_up
from tests.questions.conftest import ask

REPOSITORY = Path(__file__).resolve().parents[2]
OS_USER = "dpo.lan"  # the login name the command runs under (getpass reads LOGNAME first)
COLUMNS = [
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
    "actor",
    "description",
]
OPERATOR = f"{OS_USER} (operator at the server's shell)"


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    def rows(self) -> list[dict[str, str]]:
        """The CSV as a spreadsheet or the csv module reads it (the BOM is the encoding's)."""
        text = self.out.encode("utf-8").decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        assert reader.fieldnames == COLUMNS
        return list(reader)


async def khaibao_audit(ctx: Context, *args: str, database_url: str | None = None) -> Done:
    """`khaibao audit …` in its own process, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    url = database_url or ctx.settings.database_url
    env.update(KHAIBAO_ENV="test", KHAIBAO_DATABASE_URL=url, LOGNAME=OS_USER)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "api.cli", "audit", *args],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


async def pull_report(client: httpx.AsyncClient, analyst: dict[str, str]) -> None:
    today = local_day(utcnow()).isoformat()
    pulled = await client.get(
        "/v1/reports/declarations",
        params={"from": today, "to": today, "group_by": "day"},
        headers=analyst,
    )
    assert pulled.status_code == 200, pulled.text


def moment(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VIETNAM)


class TestWhoDidWhat:
    async def test_filters_by_user_action_and_report_find_what_the_service_wrote(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        await pull_report(client, analyst)
        _, person_id, episode = await person_under_follow_up(ctx, client)
        await pull_report(client, analyst)
        analyst_id = account_id(analyst)

        by_analyst = await khaibao_audit(ctx, "--user", analyst_id)
        assert by_analyst.code == 0, by_analyst.err
        rows = by_analyst.rows()
        assert [(r["user"], r["role"], r["report"]) for r in rows] == [
            (analyst_id, "analyst", "declarations")
        ] * 2
        assert rows[0]["at"] > rows[1]["at"]  # newest first
        today = local_day(utcnow()).isoformat()
        assert json.loads(rows[0]["params"]) == {
            "from": today,
            "to": today,
            "group_by": ["day"],
            "province": None,
            "format": "json",
        }

        opened = (await khaibao_audit(ctx, "--action", "monitoring_open")).rows()
        assert len(opened) == 1
        assert opened[0]["role"] == "health_officer"
        assert opened[0]["user"].startswith("usr_")
        assert opened[0]["user"] != analyst_id
        assert (opened[0]["person_id"], opened[0]["subject_id"]) == (person_id, episode["id"])
        assert opened[0]["params"] == ""  # an access entry has none
        # Who, without a second look-up: the officer's user name and the role acted in.
        ward_officer = await ctx.store.get("staff_users", opened[0]["user"])
        assert ward_officer is not None
        assert opened[0]["actor"] == f"{ward_officer['username']} (health_officer)"
        assert opened[0]["description"] == "Opened a person's medical monitoring"
        analyst_account = await ctx.store.get("staff_users", analyst_id)
        assert analyst_account is not None
        assert {(r["actor"], r["description"]) for r in rows} == {
            (f"{analyst_account['username']} (analyst)", "Requested the declarations report")
        }

        reports = (await khaibao_audit(ctx, "--report", "declarations", "--since", today)).rows()
        assert [r["user"] for r in reports] == [analyst_id, analyst_id]

        # The account changes made in setting up staff are `staff.create`, by the test admin.
        created = (await khaibao_audit(ctx, "--action", "staff.*")).rows()
        assert {r["action"] for r in created} == {"staff.create"}
        assert len(created) == 2  # the analyst and the ward officer


class TestActorsAPersonReads:
    async def test_a_citizen_is_citizen_with_no_phone_or_identity_and_unknown_actions_raw(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        identity = "001203004567"
        citizen = await sign_in_citizen(client, "+84900000001")
        await create_person(client, citizen, id_number=identity)
        await ask(client, citizen)
        # An action this version has no phrase for (a newer one wrote it): its raw name.
        await ctx.store.write([actor_change(None, "system", "trust.moon", {}, now=utcnow())])

        done = await khaibao_audit(ctx)
        assert done.code == 0, done.err
        shown = {r["action"]: (r["user"], r["actor"], r["description"]) for r in done.rows()}
        assert shown["question.received"] == ("", "citizen", "Asked a question")
        assert shown["trust.moon"] == ("", "system", "trust.moon")
        assert shown["audit.read"] == (f"cli:{OS_USER}", OPERATOR, "Read the audit log")
        for secret in ("900000001", identity, account_id(citizen)):
            assert secret not in done.out


class TestWhoSawThisPerson:
    async def test_staff_reads_of_that_record_only_and_the_citizen_sees_the_look_up(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, _ = await person_under_follow_up(ctx, client)
        province_officer = await officer(ctx, client)
        worklist = await client.get("/v1/monitoring", headers=province_officer)
        assert worklist.status_code == 200, worklist.text

        done = await khaibao_audit(ctx, "--person", person_id, "--format", "jsonl")
        assert done.code == 0, done.err
        entries = [json.loads(line) for line in done.out.splitlines()]
        assert [e["action"] for e in entries] == [
            "audit.read",  # this very look-up, written first
            "monitoring_worklist",
            "monitoring_open",
        ]
        assert entries[1]["user"] == account_id(province_officer)
        assert all(e["person_id"] == person_id for e in entries)
        assert entries[0]["user"] == f"cli:{OS_USER}"
        assert entries[0]["actor"] == OPERATOR

        log = await client.get("/v1/me/access-log", headers=citizen)
        newest = log.json()["items"][0]
        assert (newest["action"], newest["role"]) == ("audit.read", "admin")

        other = await sign_in_citizen(client, "+84900000002")
        assert (await client.get("/v1/me/access-log", headers=other)).json()["items"] == []


class TestWhoScannedThisPerson:
    async def test_checkpoint_scans_of_that_person_are_listed_with_the_staff_who_scanned(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        checkpoint_id = (await new_checkpoint(ctx, client))["id"]
        gate = await sign_in_staff(
            ctx, client, "checkpoint_staff", checkpoints=(checkpoint_id,), username="gate.minh"
        )
        citizen = await sign_in_citizen(client, "+84900000001")
        person_id = await create_person(client, citizen)
        other_id = await create_person(client, citizen, id_number="001203009999")
        await scan(client, gate, checkpoint_id, await person_token(client, citizen, person_id))
        await scan(client, gate, checkpoint_id, await person_token(client, citizen, other_id))

        done = await khaibao_audit(ctx, "--person", person_id, "--format", "jsonl")
        assert done.code == 0, done.err
        entries = [json.loads(line) for line in done.out.splitlines()]
        scans = [e for e in entries if e["action"] == "scan"]
        assert len(scans) == 1  # the other person's scan is theirs
        assert scans[0]["user"] == account_id(gate)
        assert scans[0]["actor"] == "gate.minh (checkpoint_staff)"
        assert scans[0]["target"] == checkpoint_id
        assert scans[0]["person_id"] == person_id
        assert scans[0]["params"]["decision"] == "allow"
        assert scans[0]["description"].startswith("Scanned the person's QR code")

        only_scans = await khaibao_audit(ctx, "--person", person_id, "--action", "scan")
        assert [r["action"] for r in only_scans.rows()] == ["scan"]
        by_other = await khaibao_audit(ctx, "--person", person_id, "--user", "usr_nobody")
        assert [r["action"] for r in by_other.rows()] == []
        reports_only = await khaibao_audit(ctx, "--person", person_id, "--report", "declarations")
        assert reports_only.rows() == []


class TestDays:
    async def test_since_and_until_are_vietnamese_days_both_included(self, ctx: Context) -> None:
        analyst = Principal("usr_test_analyst", "analyst")
        first, second = date(2026, 3, 1), date(2026, 3, 2)
        for when in (
            moment(first, 0, 10),  # 17:10 UTC the day before: still 1 March in Vietnam
            moment(first, 23, 50),
            moment(second, 0, 5),  # 17:05 UTC on 1 March: 2 March in Vietnam
            moment(second, 23, 59),
            moment(date(2026, 3, 3), 0, 0),
        ):
            params: dict[str, Any] = {"at": when.isoformat()}
            await record_report_request(ctx.store, analyst, "arrivals", params, now=when)

        def shown(done: Done) -> list[str]:
            assert done.code == 0, done.err
            return [json.loads(r["params"])["at"] for r in done.rows()]

        march_2 = await khaibao_audit(ctx, "--since", "2026-03-02", "--until", "2026-03-02")
        assert shown(march_2) == [
            moment(second, 23, 59).isoformat(),
            moment(second, 0, 5).isoformat(),
        ]
        assert march_2.rows()[0]["at"] == "2026-03-02T23:59:00.000+07:00"
        until_first = await khaibao_audit(ctx, "--until", "2026-03-01", "--report", "arrivals")
        assert len(shown(until_first)) == 2
        newest = await khaibao_audit(ctx, "--report", "arrivals", "--limit", "1")
        assert shown(newest) == [moment(date(2026, 3, 3), 0, 0).isoformat()]
        assert "newest 1 entries shown" in newest.err


class TestTheReadIsAudited:
    async def test_each_read_is_an_entry_naming_the_os_user_and_the_filters(
        self, ctx: Context
    ) -> None:
        done = await khaibao_audit(
            ctx, "--user", "usr_someone", "--action", "trust.*", "--since", "2026-01-05",
            "--person", "per_abc",
        )  # fmt: skip
        assert done.code == 0, done.err
        [entry] = await ctx.store.find("audit_log", {"action": "audit.read"})
        assert entry["user"] == f"cli:{OS_USER}"
        assert entry["person_id"] == "per_abc"  # where erasure finds it, not in params
        assert entry["params"] == {
            "user": "usr_someone",
            "action_prefix": "trust.",
            "since": "2026-01-05",
            "person": True,
            "limit": 1000,
        }
        assert utcnow() - timedelta(minutes=5) < entry["at"] <= utcnow()


class TestBadInput:
    async def test_a_bad_day_is_one_line_and_exit_code_2(self, ctx: Context) -> None:
        for args in (
            ("--since", "2026-02-30"),
            ("--until", "yesterday"),
            ("--since", "2026-03-02", "--until", "2026-03-01"),
            ("--limit", "0"),
            ("--action", "*"),
        ):
            done = await khaibao_audit(ctx, *args)
            assert done.code == 2, args
            assert done.out == ""
            assert "Traceback" not in done.err
            assert len(done.err.strip().splitlines()) == 1
            assert done.err.startswith("error: khaibao audit: ")
        # Nothing was read, so nothing was audited.
        assert await ctx.store.count("audit_log", {"action": "audit.read"}) == 0

    async def test_a_mistyped_database_path_is_an_error_not_an_empty_log(
        self, ctx: Context, tmp_path: Path
    ) -> None:
        # It used to create an empty database there and print only its own read: "nobody
        # looked at this person", from a file that holds nothing.
        typo = tmp_path / "khaibao-typo.sqlite3"
        done = await khaibao_audit(ctx, "--person", "per_x", database_url=f"sqlite:///{typo}")
        assert done.code == 2
        assert done.out == ""
        assert done.err.startswith("error: khaibao audit: no database at ")
        assert not typo.exists()
