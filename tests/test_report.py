"""The KPI report: rendered from a real pipeline run's published tables and loaded in headless Chromium."""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from loyalty_pipeline.report import (
    COHORT_COLUMNS,
    cohort_chart,
    periods,
    read_report_data,
    render_report,
    write_report,
)
from loyalty_pipeline.settings import Settings
from tests.helpers import GENERATED, GENERATED_LAST_DAY

GENERATED_AT = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
CHARTS_PER_PERIOD = 8
PERIODS = ("last90", "all")
# KPIs a degraded warehouse lacks: the survey tool switched off, LTV not computed.
DROPPED_KPIS = (
    "nps_30d",
    "nps_30d_margin_of_error",
    "csat_30d",
    "ces_30d",
    "ltv_historical_avg",
    "ltv_formula",
    "clv_predicted_12m_avg",
)


@pytest.fixture
def published(generated_run: Settings) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    """A read-only connection to the serving file the session's generated run published."""
    with duckdb.connect(str(generated_run.serving_path), read_only=True) as connection:
        yield connection, "kpi"


@pytest.fixture
def degraded(generated_run: Settings) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    """An in-memory copy of the published tables without survey or LTV KPIs and without ended months."""
    with duckdb.connect() as connection:
        connection.execute("attach ? as warehouse (read_only)", [str(generated_run.serving_path)])
        schema = "kpi"
        connection.execute("create schema published")
        dropped = ", ".join(f"'{kpi}'" for kpi in DROPPED_KPIS)
        for table, where in [
            ("kpi_daily", f"kpi not in ({dropped})"),
            ("mrr_movements_monthly", "false"),
            ("customer_value", "true"),
            ("customer_profitability_monthly", "true"),
        ]:
            connection.execute(
                f"create table published.{table} as select * from warehouse.{schema}.{table} where {where}"
            )
        connection.execute("detach warehouse")
        yield connection, "published"


@pytest.fixture
def pages(
    tmp_path: Path,
    published: tuple[duckdb.DuckDBPyConnection, str],
    degraded: tuple[duckdb.DuckDBPyConnection, str],
) -> dict[str, Path]:
    """The report of the full warehouse and of the degraded one, as files."""
    return {
        name: write_report(connection, schema, tmp_path / f"{name}.html", generated_at=GENERATED_AT)
        for name, (connection, schema) in (("full", published), ("degraded", degraded))
    }


# --------------------------------------------------------------------------------------
# The page as HTML
# --------------------------------------------------------------------------------------


class _ResourceLinks(HTMLParser):
    """Collects what a page would load: script sources, linked files, CSS url(...)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.links += [values[name] or "" for name in ("src", "href") if name in values]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.links += re.findall(r"url\(([^)]*)\)|@import\s+([^;]+)", data)


def test_same_inputs_give_the_same_page(published: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = published
    first = render_report(connection, schema, generated_at=GENERATED_AT)
    assert render_report(connection, schema, generated_at=GENERATED_AT) == first
    chart_ids = re.findall(r'<div class="chart" id="([^"]+)"', first)
    assert len(chart_ids) == len(set(chart_ids)) == CHARTS_PER_PERIOD * len(PERIODS)
    assert "chart-last90-mrr" in chart_ids
    assert f"Data from {GENERATED.start} to {GENERATED_LAST_DAY} ({GENERATED.days} days)" in first
    assert "generated 2026-03-04 06:00 UTC" in first


def test_the_page_loads_nothing_from_the_network(published: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    page = render_report(*published, generated_at=GENERATED_AT, currency="USD")
    parser = _ResourceLinks()
    parser.feed(page)
    assert parser.links == [], "scripts and styles are inline"
    assert page.count("<script>") == 2, "plotly.js once, then the page's own script"
    assert "amounts in USD" in page


def test_write_report_replaces_the_file_atomically(
    tmp_path: Path, published: tuple[duckdb.DuckDBPyConnection, str]
) -> None:
    connection, schema = published
    target = tmp_path / "out" / "report.html"
    assert write_report(connection, schema, target, generated_at=GENERATED_AT) == target
    written = target.read_text(encoding="utf-8")
    assert written == render_report(connection, schema, generated_at=GENERATED_AT)

    with pytest.raises(ValueError, match="ISO 4217"):
        write_report(connection, schema, target, currency="euro")

    assert target.read_text(encoding="utf-8") == written, "a failed write leaves the old report"
    assert sorted(path.name for path in target.parent.iterdir()) == ["report.html"], "no temporary file is left"


def test_cohort_retention_from_the_published_tables(published: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = published
    cohorts = read_report_data(connection, schema).cohorts
    (customers,) = connection.execute(
        f"select count(*) from {schema}.customer_value where first_order_date is not null"
    ).fetchone()

    assert list(cohorts.columns) == list(COHORT_COLUMNS)
    months = pd.period_range(GENERATED.start, GENERATED_LAST_DAY, freq="M")
    assert [f"{month:%Y-%m}" for month in cohorts["cohort_month"].unique()] == [f"{month}" for month in months]
    sizes = cohorts.groupby("cohort_month")["cohort_size"].first()
    assert sizes.sum() == customers, "every customer with a completed order is in one cohort"
    month_zero = cohorts[cohorts["months_since"] == 0]
    assert (month_zero["retained_share"] == 1).all(), "a cohort orders in its own month"
    later = cohorts[cohorts["months_since"] > 0]["retained_share"]
    assert later.between(0, 1).all()
    assert (later > 0).any()
    assert sorted(cohorts.groupby("cohort_month")["months_since"].max()) == list(range(len(months)))


def test_a_given_cohort_matrix_replaces_the_derived_one(published: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = published
    given = pd.DataFrame(
        {
            "cohort_month": [dt.date(2026, 1, 1), dt.date(2026, 1, 1)],
            "months_since": [0, 1],
            "cohort_size": [10, 10],
            "retained_share": [1.0, 0.4],
        }
    )
    data = read_report_data(connection, schema, cohorts=given)
    heatmap = cohort_chart(data, periods(data.first, data.last)[1]).figure.data[0]
    assert heatmap.y == ("2026-01 (10)",)
    assert heatmap.z.tolist() == [[1.0, 0.4]]
    with pytest.raises(ValueError, match="retained_share"):
        read_report_data(connection, schema, cohorts=given.drop(columns=["retained_share"]))


def test_absent_kpis_show_no_data(degraded: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    page = render_report(*degraded, generated_at=GENERATED_AT)
    assert "No NPS data for this period" in page
    assert "No CSAT or CES data for this period" in page
    assert "No LTV data for this period" in page
    assert "No data: monthly movements" in page
    assert page.count('<div class="value none">no data</div>') == 4, "NPS, CSAT, CES and LTV tiles"


def test_an_empty_warehouse_renders_a_page_of_empty_charts() -> None:
    with duckdb.connect() as connection:
        page = render_report(connection, "main", generated_at=GENERATED_AT)
    assert "No published KPI data yet" in page
    assert page.count('<div class="chart" id=') == CHARTS_PER_PERIOD * len(PERIODS)


# --------------------------------------------------------------------------------------
# The page in headless Chromium
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable that `make test` installs (scripts/install-chromium.sh)."""
    path = os.environ.get("LOYALTY_TEST_CHROMIUM")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("LOYALTY_TEST_CHROMIUM is not set: CI must run `make test`, which installs Chromium")
        pytest.skip("LOYALTY_TEST_CHROMIUM is not set (make test installs Chromium and sets it)")
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    """Headless Chromium driven by Playwright: the system's browser, Playwright downloads none."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


def png_colours(data: bytes) -> dict[int, int]:
    """Pixel counts per colour of an 8-bit RGB or RGBA PNG (what Chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, compressed, header = 8, [], ()
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert (depth, interlace) == (8, 0), header
    assert colour_type in (2, 6), header
    step = 3 if colour_type == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(compressed)), dtype=np.uint8).reshape(height, width * step + 1)
    image = np.zeros((height, width * step), dtype=np.uint8)
    previous = np.zeros(width * step, dtype=np.uint8)
    for y in range(height):
        image[y] = previous = _unfiltered(int(raw[y, 0]), raw[y, 1:], previous, step)
    # One integer per pixel (its bytes side by side), so numpy counts the colours.
    pixels = image.reshape(height * width, step).astype(np.uint32)
    keys = sum(pixels[:, channel] << (8 * channel) for channel in range(step))
    values, counts = np.unique(keys, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _unfiltered(kind: int, row: np.ndarray, previous: np.ndarray, step: int) -> np.ndarray:
    """Undo one PNG row filter: None, Sub and Up with numpy (uint8 wraps), Average and Paeth byte by byte."""
    if kind == 0:
        return row
    if kind == 1:
        return np.cumsum(row.reshape(-1, step), axis=0, dtype=np.uint8).reshape(-1)
    if kind == 2:
        return row + previous
    out, up_row = bytearray(row.tobytes()), previous.tobytes()
    for i in range(len(out)):
        left = out[i - step] if i >= step else 0
        up, up_left = up_row[i], (up_row[i - step] if i >= step else 0)
        if kind == 3:
            predicted = (left + up) >> 1
        else:
            # Paeth: whichever of left, up and up-left is nearest to left + up - up-left.
            to_left, to_up, to_up_left = abs(up - up_left), abs(left - up_left), abs(left + up - 2 * up_left)
            predicted = left if to_left <= to_up and to_left <= to_up_left else up if to_up <= to_up_left else up_left
        out[i] = (out[i] + predicted) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)


@pytest.mark.browser
@pytest.mark.parametrize("name", ["full", "degraded"])
def test_every_chart_renders_in_chromium(browser: Browser, pages: dict[str, Path], name: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def refuse(route: Route) -> None:
        # Anything but the file itself would be a request to the network.
        problems.append(f"request {route.request.url}")
        route.abort()

    page.route(re.compile(r"^(?!file:)"), refuse)

    page.goto(pages[name].as_uri(), wait_until="load")

    for period in PERIODS:
        page.click(f"button[data-period='{period}']")
        section = page.locator(f"section[data-period-section='{period}']")
        page.wait_for_function(
            "([key, count]) => document.querySelectorAll("
            "`section[data-period-section='${key}']:not([hidden]) .chart[data-rendered]`).length === count",
            arg=[period, CHARTS_PER_PERIOD],
            timeout=20_000,
        )
        charts = section.locator(".chart")
        assert charts.count() == CHARTS_PER_PERIOD
        for index in range(CHARTS_PER_PERIOD):
            chart = charts.nth(index)
            chart_id = chart.get_attribute("id")
            box = chart.bounding_box()
            assert box is not None, f"{chart_id} is not displayed"
            assert box["width"] > 300, f"{chart_id} is too narrow: {box}"
            assert box["height"] > 200, f"{chart_id} is too low: {box}"
            assert chart.locator("svg.main-svg").count() > 0, f"{chart_id} has no Plotly drawing"
            # A blank chart is one colour; even an empty-state note has antialiased text
            # (about 200 colours, over 1,000 pixels off the background).
            colours = png_colours(chart.screenshot())
            drawn = sum(colours.values()) - max(colours.values())
            assert len(colours) > 20, f"{chart_id} looks blank: {len(colours)} colours"
            assert drawn >= 500, f"{chart_id} looks blank: {drawn} pixels off the background"

    harmless = ("console log", "console info", "console debug")
    noise = [problem for problem in problems if not problem.startswith(harmless)]
    assert noise == [], "\n".join(noise)


def test_the_pipeline_writes_the_report_after_publishing(generated_run: Settings) -> None:
    page = generated_run.report_path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert f"Data from {GENERATED.start} to {GENERATED_LAST_DAY}" in page
    assert generated_run.report_path.stat().st_mtime >= generated_run.serving_path.stat().st_mtime
