"""The repository stands on its own: every link in its documents resolves in a clone, and
the image copies exactly the packages pyproject.toml installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = (
    "README.md",
    "SECURITY.md",
    "BENCHMARKS.md",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
)
# [text](target) and [text]: target, without the #fragment; web and mail links are not ours.
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)", re.IGNORECASE)


def relative_links(document: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = [a or b for a, b in _LINK.findall(text)]
    return [t.split("#", 1)[0] for t in targets if not _EXTERNAL.match(t)]


def installed_packages() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.removesuffix("*").removesuffix(".") for pattern in include}


def copied_packages() -> set[str]:
    copied = set()
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--"):
            copied |= {w for w in words[1:-1] if (ROOT / w / "__init__.py").exists()}
    return copied


class TestDocumentsAreSelfContained:
    def test_every_relative_link_resolves_to_a_file_in_the_repository(self) -> None:
        broken = []
        for name in DOCUMENTS:
            document = ROOT / name
            for target in relative_links(document):
                resolved = (document.parent / target).resolve()
                if not resolved.is_relative_to(ROOT) or not resolved.exists():
                    broken.append(f"{name}: {target}")
        assert broken == []

    def test_the_http_contract_is_in_the_repository(self) -> None:
        contract = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
        assert "# Additions, December 2026" in contract


class TestTheImageHoldsWhatIsInstalled:
    def test_the_dockerfile_copies_exactly_the_installed_packages(self) -> None:
        assert sorted(copied_packages()) == sorted(installed_packages())

    def test_every_package_of_ours_is_installed(self) -> None:
        ours = {
            p.name
            for p in ROOT.iterdir()
            if (p / "__init__.py").exists() and p.name not in {"tests", "docs", "var"}
        }
        assert sorted(ours - installed_packages()) == []
