"""The public map in a real browser: Debian's Chromium, driven by Playwright, against a real
uvicorn server on a SQLite file seeded through the declaration and case services, with the
network cut to 127.0.0.1: the page must need nothing from anywhere else.

A new user's view: the provinces are shaded (checked on the screenshot's pixels: the
province with the most cases is the darkest, and the shading follows the figures), a click
on a province lists its wards, the trend chart has 30 days, and changing the measure
re-shades the map.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.context import Context
from tests.browser import chromium
from tests.publicmap.seeding import Cases, people_for, seed_map
from tests.reports.seeding import (
    DA_NANG,
    HA_NOI,
    HAI_CHAU,
    HO_CHI_MINH,
    HOAN_KIEM,
    VUNG_TAU,
    Batch,
    days_ago,
)
from tests.servers import running_server, seed_database

SCREENSHOT = Path("/tmp/khaibao-map.png")
HUE, THUAN_AN = 46, 19900  # a province with one case (hidden), and its ward
# Each day's count is a multiple of 5 where it should read exactly (rounding leaves those).
CASES = (
    Cases(days_ago(2), HA_NOI, HOAN_KIEM, 20),
    Cases(days_ago(1), HA_NOI, HOAN_KIEM, 20),
    Cases(days_ago(1), HO_CHI_MINH, VUNG_TAU, 15),
    Cases(days_ago(3), DA_NANG, HAI_CHAU, 5),
    Cases(days_ago(2), HUE, THUAN_AN, 1),
)
DECLARATIONS = (
    *people_for(CASES, days_ago(10)),
    Batch(days_ago(1), HO_CHI_MINH, VUNG_TAU, "yellow", ("fever",), count=30),
    Batch(days_ago(1), HA_NOI, HOAN_KIEM, "yellow", ("cough",), count=5),
)


async def _seed(ctx: Context) -> None:
    await seed_map(ctx, DECLARATIONS, CASES)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    seed_database(tmp_path, _seed)
    with running_server(tmp_path) as running:
        yield running.url


TILES = """tiles => tiles.map(t => {
  const box = t.getBoundingClientRect();
  return {province: Number(t.dataset.province), value: t.dataset.value,
          figure: t.querySelector('.figure').textContent,
          x: box.left + window.scrollX, y: box.top + window.scrollY};
})"""
TREND = """() => {
  const chart = Chart.getChart(document.getElementById('chart-trend'));
  return {labels: chart.data.labels, sets: chart.data.datasets.map(d => d.data)};
}"""


def shades(png: bytes, tiles: list[dict[str, Any]]) -> dict[int, float]:
    """Each tile's luminance on the screenshot, a few pixels inside its corner (off the
    text): lower is darker."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    found = {}
    for tile in tiles:
        red, green, blue = image.getpixel((int(tile["x"]) + 3, int(tile["y"]) + 3))  # type: ignore[misc]
        found[int(tile["province"])] = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return found


class TestMapInChromium:
    def test_a_new_user_sees_shaded_provinces_and_their_wards_offline(
        self, server: str, tmp_path: Path
    ) -> None:
        with chromium(
            server,
            tmp_path / "profile",
            viewport={"width": 412, "height": 915},  # a phone
            device_scale_factor=1,
            locale="vi-VN",
            timezone_id="Asia/Ho_Chi_Minh",
        ) as browser:
            page = browser.new_page()
            page.goto(server + "/map")
            page.wait_for_selector("#status[data-state=ready]")
            page.wait_for_selector(".tile")

            tiles = page.eval_on_selector_all(".tile", TILES)
            assert len(tiles) == 34
            figures = {t["province"]: t["figure"] for t in tiles}
            assert figures[HA_NOI] == "40"
            assert figures[HO_CHI_MINH] == "15"
            assert figures[DA_NANG] == "5"
            assert figures[HUE] in ("<5", "5")  # one case: rounded to 0 (hidden) or 5
            assert figures[56] == "0"
            legend = page.inner_text("#legend")
            assert "<5" in legend
            assert "34–40" in legend

            # The screenshot's pixels: darker means more, and Hà Nội is the darkest.
            shade = shades(page.screenshot(path=str(SCREENSHOT), full_page=True), tiles)
            assert shade[HA_NOI] == min(shade.values())
            assert shade[HA_NOI] < shade[HO_CHI_MINH] < shade[DA_NANG] < shade[56]
            quiet = [shade[t["province"]] for t in tiles if t["value"] == "0"]
            assert len(set(quiet)) == 1  # every empty province the same light grey

            days = page.evaluate(TREND)
            assert len(days["labels"]) == 30
            confirmed, symptoms = days["sets"]
            assert sum(n or 0 for n in confirmed) == 40 + 15 + 5 + (5 if figures[HUE] == "5" else 0)
            assert symptoms[-2] == 35  # yesterday: 30 in HCMC and 5 in Hà Nội

            page.click(f".tile[data-province='{HA_NOI}']")
            page.wait_for_selector("#wards-card:not([hidden]) #ward-table tbody tr")
            assert "Thành phố Hà Nội" in page.inner_text("#wards-title")
            rows = page.eval_on_selector_all(
                "#ward-table tbody tr",
                "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
            )
            assert rows == [["Phường Hoàn Kiếm", "40", "40", "5", "0"]]
            assert "125" in page.inner_text("#wards-quiet")  # Hà Nội's other wards
            assert "Thành phố Hà Nội" in page.inner_text("#trend-title")

            page.select_option("#measure", "declarations_with_symptoms_last_7_days")
            page.wait_for_function(
                "document.querySelector(\".tile[data-province='79']\").dataset.value === '30'"
            )
            tiles = page.eval_on_selector_all(".tile", TILES)
            shade = shades(page.screenshot(full_page=True), tiles)
            assert shade[HO_CHI_MINH] == min(shade.values())
            assert shade[HO_CHI_MINH] < shade[HA_NOI]

            assert browser.problems == []  # no script errors, no CSP violations
            assert browser.outside == []  # nothing fetched from anywhere but this service
