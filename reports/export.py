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
