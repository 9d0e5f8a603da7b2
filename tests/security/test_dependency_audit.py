"""The CI's dependency audit decides right: a known vulnerability fails, an audit that could
not check packages says so loudly instead of passing silently. (pip-audit's answers and
PyPI's are canned here; `.ci/run` runs the real thing.)"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.security.audit_dependencies import classify, locked_versions, normalise, render

PINS = {"jinja2": "2.10", "idna": "3.20", "h11": "0.16.0"}
NOT_FOUND = "Dependency not found on PyPI and could not be audited"
LOCK = Path(__file__).parents[2] / "constraints.txt"
# pip freeze leaves out the installer's own tools and the project itself (editable).
UNLOCKED = {"pip", "setuptools", "wheel", "khaibao", "distribute"}


def _project(version: str, vulns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"info": {"version": version}, "vulnerabilities": vulns or []}


def _fetch_from(projects: Mapping[str, dict[str, Any] | None]) -> Any:
    def fetch(url: str) -> dict[str, Any] | None:
        return projects.get(url.split("/pypi/")[1].split("/")[0])

    return fetch


class TestAudit:
    def test_the_lock_file_is_read_as_exact_versions(self, tmp_path: Path) -> None:
        lock = tmp_path / "constraints.txt"
        lock.write_text("# header\nJinja2==2.10\nzope.interface==7.0  # comment\nfoo>=1\n")
        assert locked_versions(lock) == {"jinja2": "2.10", "zope-interface": "7.0"}

    def test_a_known_vulnerability_fails_the_run(self) -> None:
        audit = {
            "dependencies": [
                {
                    "name": "jinja2",
                    "version": "2.10",
                    "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}],
                },
                {"name": "idna", "version": "3.20", "vulns": []},
            ]
        }
        report = classify(audit, PINS, _fetch_from({}))
        text, code = render(report, require_complete=False)
        assert code == 1
        assert "VULNERABLE jinja2==2.10: PYSEC-2019-217; fixed in 2.10.1" in text

    def test_an_unreachable_service_is_a_loud_warning_not_a_silent_pass(self) -> None:
        audit = {"dependencies": [{"name": n, "skip_reason": NOT_FOUND} for n in PINS]}
        report = classify(audit, PINS, _fetch_from({}))
        text, code = render(report, require_complete=False)
        assert code == 0
        assert "DEPENDENCY AUDIT INCOMPLETE: 3 of 3 packages could NOT be checked" in text
        assert render(report, require_complete=True)[1] == 1

    def test_the_latest_release_is_checked_through_the_project_json(self) -> None:
        audit = {"dependencies": [{"name": n, "skip_reason": NOT_FOUND} for n in PINS]}
        projects = {
            "idna": _project("3.20"),  # locked = latest, no advisory: checked
            "h11": _project("0.16.0", [{"id": "GHSA-x", "fixed_in": ["0.16.1"]}]),
            "jinja2": _project("3.1.6"),  # locked is older: its advisories are unknown
        }
        report = classify(audit, PINS, _fetch_from(projects))
        assert report.checked == ["idna==3.20"]
        assert report.vulnerable == {"h11==0.16.0": ["GHSA-x; fixed in 0.16.1"]}
        assert list(report.unchecked) == ["jinja2==2.10"]
        assert render(report, require_complete=False)[1] == 1

    def test_a_withdrawn_advisory_does_not_fail(self) -> None:
        audit = {"dependencies": [{"name": "idna", "skip_reason": NOT_FOUND}]}
        projects = {"idna": _project("3.20", [{"id": "OLD", "withdrawn": "2024-01-01"}])}
        report = classify(audit, PINS, _fetch_from(projects))
        assert report.checked == ["idna==3.20"]


class TestLock:
    def test_what_is_installed_is_what_is_locked_and_audited(self) -> None:
        """A dependency added without regenerating constraints.txt would go unaudited."""
        pins = locked_versions(LOCK)
        installed = {
            normalise(dist.metadata["Name"]): dist.version
            for dist in importlib.metadata.distributions()
            if normalise(dist.metadata["Name"]) not in UNLOCKED
        }
        drift = {
            name: (version, pins.get(name))
            for name, version in installed.items()
            if pins.get(name) != version
        }
        assert not drift, f"installed vs constraints.txt (regenerate it): {drift}"
