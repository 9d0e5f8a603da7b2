"""The house plan, enforced: which top-level package may import which.

Every module's imports are read with `ast` (function-level imports too, and
`importlib.import_module("…")` with a literal name), so a cycle dodged with a lazy import is
still seen. A package may import only packages below it in LAYERS; the domains, which sit
in one layer, are ordered among themselves by DOMAINS. A new package gets a line in one of
the two tables (and its place decides what it may use).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top to bottom: a package imports only what is below it. "domains" stands for DOMAINS.
LAYERS: tuple[str, ...] = (
    "api",  # the app's assembly: factory, middleware, router list, CLI
    "runtime",  # the context, the collection list, the worker: for the app and the CLIs
    "domains",
    "people",  # the person record and its status
    "web",  # the HTTP kit domain routers use: deps, problems, lean routes, language
    "core",  # settings, storage, crypto, errors, the Context: imports nothing of ours
)
# The domains, top to bottom: one may use those listed below it, never those above.
DOMAINS: tuple[str, ...] = (
    "rights",  # reads and erases what every domain below holds about a person
    "entry",
    "questions",
    "certificates",
    "checkpoints",
    "monitoring",
    "declarations",
    "accounts",
    "qr",
    "publicmap",
    "reports",
    "notifications",
)
# Not part of the service: may import anything, and nothing of the service imports it.
TOOLS: tuple[str, ...] = ("load",)
# The one part of the load tools that runs the service's code in its process (the profiler,
# the bench app, direct-store seeders, micro-benchmarks); the rest speaks HTTP and the CLI.
IN_PROCESS = ROOT / "load" / "inprocess"
# Imports that break the rules today, each with why and who removes it. The test fails
# when one is no longer there, so this list only shrinks.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}
NOT_PACKAGES = {"tests", "var", "docs"}
# Collections only their owner's modules may name in a query or a write.
OWNED_COLLECTIONS: dict[str, str] = {"people": "people", "account_holders": "people"}
_STORAGE_CALLS = {"Insert", "Update", "Delete", "get", "find", "find_one", "count", "get_many"}


def rank(package: str) -> int:
    """Higher imports lower. The domains' ranks lie between runtime's and people's."""
    order = [*LAYERS[: LAYERS.index("domains")], *DOMAINS, *LAYERS[LAYERS.index("domains") + 1 :]]
    return len(order) - order.index(package)


@dataclass(frozen=True)
class Import:
    source: str  # the importing package
    target: str  # the imported package
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.where}: {self.source} → {self.target}"

    @property
    def excepted(self) -> bool:
        return (self.where.split(":")[0], self.target) in KNOWN_EXCEPTIONS


def our_packages(root: Path) -> set[str]:
    return {
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_PACKAGES
    }


def imported_names(tree: ast.AST) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, node.lineno


def imports_between_packages(root: Path, *, with_exceptions: bool = False) -> list[Import]:
    packages = our_packages(root)
    found = []
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, line in imported_names(tree):
                target = name.split(".")[0]
                if target in packages and target != package:
                    found.append(Import(package, target, f"{path.relative_to(root)}:{line}"))
    return found if with_exceptions else [edge for edge in found if not edge.excepted]


def cycles(imports: list[Import]) -> list[list[str]]:
    """Every cycle between packages, each as the packages around it (found by DFS)."""
    graph: dict[str, set[str]] = {}
    for edge in imports:
        graph.setdefault(edge.source, set()).add(edge.target)
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                if frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its least node
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def collection_uses(root: Path) -> list[tuple[str, str, str]]:
    """(package, collection, path:line) for every query or write naming a collection by a
    literal: `store.find("people", …)`, `Update("people", …)`."""
    found = []
    for package in sorted(our_packages(root)):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                first = node.args[0]
                if (
                    name in _STORAGE_CALLS
                    and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                ):
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    found.append((package, first.value, where))
    return found


class TestHousePlan:
    def test_every_package_has_a_place_in_the_tables(self) -> None:
        placed = set(LAYERS) | set(DOMAINS) | set(TOOLS)
        assert sorted(our_packages(ROOT) - placed) == [], "add the package to LAYERS or DOMAINS"

    def test_no_cycle_between_packages(self) -> None:
        assert [" → ".join(c) for c in cycles(imports_between_packages(ROOT))] == []

    def test_imports_point_down(self) -> None:
        """api → runtime → domains (in DOMAINS' order) → people → web → core."""
        upward = [
            str(edge)
            for edge in imports_between_packages(ROOT)
            if edge.source not in TOOLS
            and edge.target not in TOOLS
            and rank(edge.source) <= rank(edge.target)
        ]
        assert upward == []

    def test_every_known_exception_is_still_needed(self) -> None:
        present = {
            (edge.where.split(":")[0], edge.target)
            for edge in imports_between_packages(ROOT, with_exceptions=True)
        }
        assert sorted(set(KNOWN_EXCEPTIONS) - present) == [], "remove it from KNOWN_EXCEPTIONS"

    def test_nothing_of_the_service_imports_the_load_tools(self) -> None:
        into_tools = [
            str(edge)
            for edge in imports_between_packages(ROOT)
            if edge.target in TOOLS and edge.source not in TOOLS
        ]
        assert into_tools == []

    def test_the_load_tools_outside_their_in_process_package_import_no_service_code(
        self,
    ) -> None:
        service = our_packages(ROOT) - set(TOOLS)
        found = [
            f"{path.relative_to(ROOT)}:{line}: {name}"
            for path in sorted((ROOT / "load").rglob("*.py"))
            if not path.is_relative_to(IN_PROCESS)
            for name, line in imported_names(ast.parse(path.read_text(encoding="utf-8")))
            if name.split(".")[0] in service
        ]
        assert found == [], "move it under load/inprocess/, or reach the service over HTTP"

    def test_only_the_owner_queries_or_writes_its_collection(self) -> None:
        trespass = [
            f"{where}: {collection}"
            for package, collection, where in collection_uses(ROOT)
            if OWNED_COLLECTIONS.get(collection, package) != package
        ]
        assert trespass == []
