"""CSV for spreadsheets: UTF-8 with a byte-order mark (Excel then reads the diacritics
right), a header row, `<5` for a suppressed count."""

from __future__ import annotations

import csv
import io
from typing import Any

from reports.service import Report

BOM = "\ufeff"
# A cell starting with one of these is a formula to a spreadsheet; names typed by operators
# (checkpoint names) must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(report: Report) -> str:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(report.columns)
    hidden = f"<{report.threshold}"
    for row in report.rows:
        writer.writerow(
            [
                hidden if column == "count" and row["suppressed"] else _cell(row.get(column))
                for column in report.columns
            ]
        )
    return out.getvalue()


def filename(report_name: str, first: str, last: str) -> str:
    return f"khaibao-{report_name}-{first}-{last}.csv"


def wants_csv(accept: str) -> bool:
    """True when the client prefers text/csv over JSON (q-values respected, JSON by default)."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = q
    csv = quality.get("text/csv", 0.0)
    return csv > 0 and csv >= quality.get("application/json", 0.0)


def csv_text(columns: list[str], rows: list[list[Any]]) -> str:
    """A CSV of ready cells (a suppressed one already written as `<5`), BOM and header."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
