"""The repository stands on its own: every link in its documents resolves in a clone, every
section they and the code cite by name exists, and the image copies exactly the packages
pyproject.toml installs."""

from __future__ import annotations

import itertools
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


# A section cited by (the start of) its heading or of a bold lead-in, after a comma, a space
# or a parenthesis: `SECURITY.md, "Published figures"`, `BENCHMARKS.md "Routing"`.
_CITATION = re.compile(r'\b(SECURITY|BENCHMARKS)\.md(?:,\s*|\s+|\s*\(\s*)"([^"]{2,120})"')


def _words(text: str) -> str:
    return " ".join(text.split()).lower()


def section_names(document: Path) -> list[str]:
    text = document.read_text(encoding="utf-8")
    headings = re.findall(r"^#+\s+(.+)$", text, flags=re.MULTILINE)
    return [_words(name) for name in headings + re.findall(r"\*\*([^*]+)\*\*", text)]


def citing_files() -> list[Path]:
    code = [
        path
        for package in sorted(ROOT.iterdir())
        if (package / "__init__.py").exists()
        for path in sorted(package.rglob("*.py"))
    ]
    return [*(ROOT / name for name in DOCUMENTS), *code]


def installed_packages() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.removesuffix("*").removesuffix(".") for pattern in include}


def dockerfile_commands(keyword: str) -> list[list[str]]:
    """The Dockerfile's instructions of one kind, continuation lines joined, as words."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.split()[1:] for line in text.splitlines() if line.split()[:1] == [keyword]]


def pip_installs(words: list[str]) -> list[list[str]]:
    """The arguments of each `pip install` in one RUN instruction."""
    commands: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", ";", "||"):
            commands.append([])
        else:
            commands[-1].append(word)
    return [c[2:] for c in commands if c[:2] == ["pip", "install"]]


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

    def test_every_section_cited_by_name_exists(self) -> None:
        sections = {name: section_names(ROOT / f"{name}.md") for name in ("SECURITY", "BENCHMARKS")}
        missing = [
            f'{path.relative_to(ROOT)}: {document}.md "{cited}"'
            for path in citing_files()
            for document, cited in _CITATION.findall(path.read_text(encoding="utf-8"))
            if not any(name.startswith(_words(cited)) for name in sections[document])
        ]
        assert missing == []


class TestTheImageHoldsWhatIsInstalled:
    def test_the_dockerfile_copies_exactly_the_installed_packages(self) -> None:
        assert sorted(copied_packages()) == sorted(installed_packages())

    def test_the_image_installs_the_versions_ci_tests(self) -> None:
        # constraints.txt pins what CI tests and audits; an image built without it takes
        # whatever the index offers that day.
        copied = {word for words in dockerfile_commands("COPY") for word in words[:-1]}
        assert "constraints.txt" in copied
        installs = [args for words in dockerfile_commands("RUN") for args in pip_installs(words)]
        ours = [args for args in installs if "." in args]
        assert ours, installs  # the project is installed from its source
        for args in ours:
            pairs = set(itertools.pairwise(args))
            constrained = {("-c", "constraints.txt"), ("--constraint", "constraints.txt")}
            assert pairs & constrained, args

    def test_every_package_of_ours_is_installed(self) -> None:
        ours = {
            p.name
            for p in ROOT.iterdir()
            if (p / "__init__.py").exists() and p.name not in {"tests", "docs", "var"}
        }
        assert sorted(ours - installed_packages()) == []
