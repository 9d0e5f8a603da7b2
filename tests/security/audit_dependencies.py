"""The dependency audit `.ci/run` runs: known vulnerabilities in the exact versions the
project installs (`constraints.txt`), never a silent green when nothing could be checked.

    python -m tests.security.audit_dependencies constraints.txt

1. `pip-audit` looks every locked version up in PyPI's vulnerability data. A package with
   a known vulnerability fails the run (exit 1), listing the advisory and fixed versions.
2. A package pip-audit could not look up (PyPI's per-version JSON unreachable, or
   answering 404 as it does from some networks) is tried once more through the
   project-level JSON, whose `vulnerabilities` cover only the latest release: that checks
   the package exactly when the locked version is the latest one.
3. Whatever is still unchecked is printed in a loud banner with the count. That is a
   warning (exit 0) unless `KHAIBAO_AUDIT_REQUIRE_COMPLETE=1`, for a CI whose network
   reaches the vulnerability service, where an incomplete audit must fail too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYPI_PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
LOOKUP_TIMEOUT_SECONDS = 10
AUDIT_TIMEOUT_SECONDS = 600
FALLBACK_BUDGET_SECONDS = 180

Fetch = Callable[[str], dict[str, Any] | None]


@dataclass
class Report:
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # "name==version": advisories
    checked: list[str] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)  # "name==version": why

    @property
    def total(self) -> int:
        return len(self.checked) + len(self.vulnerable) + len(self.unchecked)


def locked_versions(constraints: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in constraints.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[normalise(name)] = version.split(";", 1)[0].strip()
    return pins


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _advisory(vuln: dict[str, Any]) -> str:
    fixed = ", ".join(vuln.get("fix_versions") or vuln.get("fixed_in") or []) or "no fix yet"
    aliases = ", ".join(vuln.get("aliases") or [])
    return f"{vuln.get('id', '?')}" + (f" ({aliases})" if aliases else "") + f"; fixed in {fixed}"


def classify(audit: dict[str, Any], pins: dict[str, str], fetch: Fetch) -> Report:
    """Sort pip-audit's JSON into vulnerable, checked and unchecked; retry the unchecked
    through the project-level JSON."""
    report = Report()
    for dependency in audit.get("dependencies", []):
        name = normalise(str(dependency.get("name", "")))
        version = str(dependency.get("version") or pins.get(name, "?"))
        key = f"{name}=={version}"
        if dependency.get("skip_reason"):
            _latest_release_check(report, name, version, str(dependency["skip_reason"]), fetch)
        elif dependency.get("vulns"):
            report.vulnerable[key] = [_advisory(v) for v in dependency["vulns"]]
        else:
            report.checked.append(key)
    return report


def _latest_release_check(report: Report, name: str, version: str, why: str, fetch: Fetch) -> None:
    key = f"{name}=={version}"
    project = fetch(PYPI_PROJECT_JSON.format(name=name))
    if project is None:
        report.unchecked[key] = why + "; project JSON unreachable too"
        return
    latest = str(project.get("info", {}).get("version", ""))
    if latest != version:
        report.unchecked[key] = f"{why}; latest is {latest}, whose advisories do not cover it"
        return
    vulns = [v for v in project.get("vulnerabilities") or [] if not v.get("withdrawn")]
    if vulns:
        report.vulnerable[key] = [_advisory(v) for v in vulns]
    else:
        report.checked.append(key)


def _unreachable(url: str) -> dict[str, Any] | None:
    return None


def _with_deadline(fetch: Fetch, seconds: float) -> Fetch:
    """`fetch` until `seconds` have passed; after that every lookup counts as unreachable."""
    deadline = time.monotonic() + seconds

    def bounded(url: str) -> dict[str, Any] | None:
        return fetch(url) if time.monotonic() < deadline else None

    return bounded


def fetch_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=LOOKUP_TIMEOUT_SECONDS) as response:  # noqa: S310 (fixed https URL)
            data: dict[str, Any] = json.load(response)
            return data
    except (urllib.error.URLError, TimeoutError, ValueError, OSError):
        return None


def run_pip_audit(constraints: Path) -> dict[str, Any] | None:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(constraints),
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        str(LOOKUP_TIMEOUT_SECONDS),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        print("pip-audit did not finish in time", file=sys.stderr)
        return None
    try:
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed
    except json.JSONDecodeError:
        print("pip-audit gave no report:\n" + done.stderr[-2000:], file=sys.stderr)
        return None


def render(report: Report, *, require_complete: bool) -> tuple[str, int]:
    lines = [f"dependency audit: {report.total} locked packages"]
    lines.append(f"  checked, no known vulnerability: {len(report.checked)}")
    for key, advisories in sorted(report.vulnerable.items()):
        lines.append(f"  VULNERABLE {key}: " + "; ".join(advisories))
    if report.unchecked:
        bar = "!" * 78
        lines += [
            bar,
            f"!!! DEPENDENCY AUDIT INCOMPLETE: {len(report.unchecked)} of {report.total} "
            "packages could NOT be checked",
            "!!! for known vulnerabilities (the vulnerability service is unreachable or",
            "!!! answers nothing for these versions). This is not a clean bill of health.",
            bar,
        ]
        lines += [f"  unchecked {key}: {why}" for key, why in sorted(report.unchecked.items())]
    if report.vulnerable:
        return "\n".join(lines), 1
    if report.unchecked and require_complete:
        return "\n".join(lines), 1
    return "\n".join(lines), 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    constraints = Path(args[0] if args else "constraints.txt")
    pins = locked_versions(constraints)
    # One quick probe first: on a network that drops packets, 130 lookups timing out one
    # after the other would hold CI for half an hour to say what one lookup says.
    audit: dict[str, Any] | None = None
    fetch: Fetch = _unreachable
    reason = "PyPI unreachable from here"
    if fetch_json(PYPI_PROJECT_JSON.format(name="pip")) is not None:
        audit = run_pip_audit(constraints)
        fetch = _with_deadline(fetch_json, FALLBACK_BUDGET_SECONDS)
        reason = "pip-audit gave no report"
    if audit is None:  # no report at all: every package is unchecked
        audit = {
            "dependencies": [
                {"name": n, "version": v, "skip_reason": reason} for n, v in pins.items()
            ]
        }
    report = classify(audit, pins, fetch)
    require = os.environ.get("KHAIBAO_AUDIT_REQUIRE_COMPLETE") == "1"
    text, code = render(report, require_complete=require)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
