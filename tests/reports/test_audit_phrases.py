"""Every action the service writes to the audit log has a phrase `khaibao audit` shows beside
it. The actions are found by reading the source (`ast`): the calls of the helpers that write
an audit entry, with the action each passes, so a new action without a phrase fails here
rather than reaching an inspector as a bare name."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

from reports.actions import PHRASES, REPORT_PHRASES, describe
from reports.audit import SCAN, ReportName

ROOT = Path(__file__).resolve().parents[2]
NOT_SERVICE = {"tests", "load", "var", "docs", ".venv"}
# The helpers that write an audit entry, and the position of their action argument: those
# of `reports.audit`, and the domains' own wrappers that pass an action on to them.
WRITERS: dict[str, int] = {
    "audited_change": 1,
    "actor_change": 2,
    "access_entry": 1,
    "erasure_entry": 0,
    "viewed": 1,  # monitoring.episodes
    "_audited": 1,  # checkpoints.tracing
    "_change": 3,  # accounts.staff
    "_Move": 4,  # questions.answering
}


def _sources() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        if not NOT_SERVICE & set(path.relative_to(ROOT).parts):
            yield path


def _strings(node: ast.expr, scope: ast.AST, constants: dict[str, set[str]]) -> set[str] | None:
    """The strings `node` can be; None when that cannot be told from the source. A name is
    every string assigned to it in its function (or the module's constant); a parameter
    passed on is the caller's business, which is scanned where it is called."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        a, b = _strings(node.body, scope, constants), _strings(node.orelse, scope, constants)
        return None if a is None or b is None else a | b
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _strings(node.left, scope, constants), _strings(node.right, scope, constants)
        return None if a is None or b is None else {x + y for x in a for y in b}
    if isinstance(node, ast.Name):
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.id in {a.arg for a in scope.args.args + scope.args.kwonlyargs}:
                return set()  # passed on: found at the wrapper's calls
            found: set[str] = set()
            for assign in ast.walk(scope):
                if not isinstance(assign, ast.Assign):
                    continue
                for target in assign.targets:
                    pairs: list[tuple[ast.expr, ast.expr]] = [(target, assign.value)]
                    if isinstance(target, ast.Tuple) and isinstance(assign.value, ast.Tuple):
                        pairs = list(zip(target.elts, assign.value.elts, strict=False))
                    for name, value in pairs:
                        if isinstance(name, ast.Name) and name.id == node.id:
                            values = _strings(value, scope, constants)
                            if values is None:
                                return None
                            found |= values
            if found:
                return found
        return constants.get(node.id)
    if isinstance(node, ast.Attribute) and node.attr == "action":
        return set()  # `move.action`: the `_Move`'s own, found where it is made
    return None


def _own_calls(scope: ast.AST) -> Iterator[ast.Call]:
    """The calls in `scope` itself, not in the functions defined inside it (their own)."""
    pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def written_actions() -> tuple[set[str], list[str]]:
    """The action names the service's source writes, and the calls whose action the scan
    could not tell (path:line)."""
    actions: set[str] = set()
    unknown: list[str] = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: {node.value.value}
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }  # fmt: skip
        for scope in [tree, *ast.walk(tree)]:
            if scope is not tree and not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in _own_calls(scope):
                func = call.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name not in WRITERS or (name[0] == "_" and isinstance(func, ast.Attribute)):
                    # A module's private helper is called by name (`self._change` is not it).
                    continue
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                if len(call.args) <= WRITERS[name]:
                    unknown.append(where)
                    continue
                values = _strings(call.args[WRITERS[name]], scope, constants)
                if values is None:
                    unknown.append(where)
                else:
                    actions |= values
        # An entry written whole, not through a helper (`audit_read_entry`).
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Insert"
                and len(node.args) > 1
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "audit_log"
                and isinstance(node.args[1], ast.Dict)
            ):
                entry = node.args[1]
                for key, value in zip(entry.keys, entry.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "action"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        actions.add(value.value)
    return actions, unknown


class TestEveryActionHasAPhrase:
    def test_the_scan_finds_every_action_and_each_has_a_phrase(self) -> None:
        actions, unknown = written_actions()
        assert unknown == [], "name these actions with a string the scan can read"
        # A checkpoint scan is not written to the log: `--person` shows it as an entry.
        actions.add(SCAN)
        # The scan reaches the kinds of call it must: literal, conditional, built from a
        # status, a module constant, a wrapper's, a service actor's, a whole entry.
        assert {
            "staff.create",
            "staff.disable",
            "staff.enable",
            "question.answered",
            "question.published",
            "organisation_status_read",
            "monitoring_open",
            "case_confirmed",
            "staff.sign_in.locked",
            "audit.read",
        } <= actions
        assert sorted(actions - PHRASES.keys()) == []
        # Every phrase is of an action still written: a stale one would hide a rename.
        assert sorted(PHRASES.keys() - actions) == []
        assert REPORT_PHRASES.keys() == set(get_args(ReportName))

    def test_an_unknown_action_shows_its_raw_name_and_a_report_request_its_report(
        self,
    ) -> None:
        assert describe({"action": "staff.fly_to_moon"}) == "staff.fly_to_moon"
        assert describe({"action": "staff.disable"}) == "Disabled a staff account"
        assert describe({"report": "arrivals", "params": {}}) == "Requested the arrivals report"
