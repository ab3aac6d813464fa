"""KPIs of the hand-written dataset (tests/handworked.py) against values worked out by hand.

Each expectation says how it follows from kpi-catalogue.md and the rows; none was copied
from what the pipeline printed. The whole pipeline runs for real: generated-by-hand sources
in contract format, extraction and dbt through Dagster, DuckDB.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from loyalty_pipeline.generator import write_sources
from loyalty_pipeline.predicted_clv import customer_summaries, read_summaries
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.settings import Settings
from tests import handworked
from tests.helpers import source_settings

PUBLISHED = [
    "kpi_daily",
    "mrr_movements_monthly",
    "customer_value",
    "customer_profitability_monthly",
    "experience_drivers",
    "nps_due_customers",
]


def _settings(data_dir: Path, sources: Path) -> Settings:
    return source_settings(data_dir, sources, handworked.START)


def _quiet(_: str) -> None:
    """Progress lines are not what these tests look at."""


@pytest.fixture(scope="module")
def full_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The whole period materialised in one Dagster run."""
    root = tmp_path_factory.mktemp("handworked")
    write_sources(handworked.source_data(), root / "sources")
    settings = _settings(root / "data", root / "sources")
    run_range(settings, handworked.START, handworked.END, chunk_days=100, echo=_quiet)
    return settings


def _kpi(settings: Settings, day: str, kpi: str, segment: tuple[str, str] = ("all", "all")) -> tuple:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        rows = connection.execute(
            "select value, numerator, denominator from kpi_daily"
            " where date = ? and kpi = ? and segment_type = ? and segment_value = ?",
            [dt.date.fromisoformat(day), kpi, *segment],
        ).fetchall()
    assert len(rows) == 1, f"{kpi} on {day} for {segment}: {rows}"
    return rows[0]


def _table(settings: Settings, name: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(f"select * from {name} order by all").fetchall()


# (day, kpi, value, numerator, denominator, why)
EXPECTED = [
    # Acquisition
    ("2026-01-01", "sessions", 2, None, None, "s-1 and s-2 started on 1 January"),
    ("2026-01-01", "session_conversion_rate", 0.5, 1, 2, "s-1 is named by o-1; s-2 by no order"),
    ("2026-01-01", "visitor_conversion_rate", 0.5, 1, 2, "v-1 converted, v-9 did not"),
    ("2026-01-01", "cart_abandonment_rate", 0.5, 1, 2, "both carted; only s-2 did not convert"),
    ("2026-01-03", "sessions", 0, None, None, "no session on 3 January"),
    ("2026-01-03", "session_conversion_rate", None, 0, 0, "zero sessions: null, never 0"),
    ("2026-01-05", "session_conversion_rate", 2 / 3, 2, 3, "s-4 (o-3) and s-5 (o-4: refunded still names it) of 3"),
    ("2026-01-05", "visitor_conversion_rate", 1.0, 2, 2, "v-1 (s-4) and v-3 (s-5) both converted"),
    ("2026-01-05", "cart_abandonment_rate", 0.0, 0, 2, "s-4 and s-5 carted and converted; s-10 had no cart"),
    ("2026-01-10", "session_conversion_rate", 0.0, 0, 1, "s-6 is named only by the cancelled o-6"),
    ("2026-01-10", "cart_abandonment_rate", 1.0, 1, 1, "s-6 carted and did not convert"),
    ("2026-01-01", "new_customers", 1, None, None, "c-1's first completed order o-1"),
    ("2026-01-05", "new_customers", 0, None, None, "o-4 of c-3 was refunded: not a first completed order"),
    ("2026-01-14", "cac_30d", 70.0, 140, 2, "14 days x 10 acquisition spend / c-1 and c-2"),
    ("2026-01-30", "cac_30d", 100.0, 300, 3, "30 days x 10 / c-1, c-2, c-3 (o-11 on 15 January)"),
    # Retention
    ("2026-01-01", "mrr", 0, None, None, "no subscription started yet"),
    ("2026-01-01", "arpa", None, 0, 0, "no subscribers: null"),
    ("2026-02-04", "mrr", 60, None, None, "sp-1 30 counts at the end of 4 Feb (ends 5 Feb 00:00) + sp-3 360/12"),
    ("2026-02-05", "mrr", 80, None, None, "sp-2 50 from 5 Feb 00:00 + sp-3 30"),
    ("2026-02-05", "arpa", 40.0, 80, 2, "80 / 2 subscribers"),
    ("2026-02-14", "mrr", 50, None, None, "sp-3 ended 10 Feb 00:00: only c-2's 50"),
    ("2026-02-14", "subscriber_churn_rate_30d", 0.5, 1, 2, "c-2 and c-3 subscribed at the end of 15 Jan; c-3 not now"),
    ("2026-02-14", "revenue_churn_rate_30d", 0.5, 30, 60, "c-3 lost 30 of 60; c-2's expansion does not offset"),
    ("2026-02-14", "net_revenue_retention_30d", 50 / 60, 50, 60, "c-2 now 50, c-3 now 0, over 60"),
    ("2026-02-14", "activity_churn_rate_30d", 0.0, 0, 3, "all three purchased within 90 days of both days"),
    ("2026-02-14", "crc_30d", 30.0, 90, 3, "30 days x 3 retention spend / 3 customers active on 15 Jan and 14 Feb"),
    ("2026-01-05", "repeat_purchase_rate", 0.5, 1, 2, "c-1 has o-1 and o-3; c-2 only o-2"),
    ("2026-01-20", "repeat_purchase_rate", 2 / 3, 2, 3, "c-1 and c-2 repeat; c-3 has only o-11"),
    # Satisfaction
    ("2026-01-06", "nps_30d", 50.0, 100, 2, "a 9 (promoter) and a 7 (passive): 100 x (1 - 0) / 2"),
    ("2026-01-06", "nps_30d_margin_of_error", 100 * 1.96 * (0.25 / 2) ** 0.5, None, None, "p=0.5, q=0, n=2"),
    ("2026-01-14", "nps_30d", 0.0, 0, 3, "9, 7 and the relationship survey's 6: one promoter, one detractor"),
    ("2026-01-14", "nps_30d_margin_of_error", 100 * 1.96 * ((2 / 3) / 3) ** 0.5, None, None, "p=q=1/3, n=3"),
    ("2026-02-05", "nps_30d", -100.0, -100, 1, "the 6 January answers left the 30 days; only the 6 remains"),
    ("2026-01-12", "csat_30d", 1.0, 1, 1, "one satisfaction answer, a 4"),
    ("2026-01-14", "csat_30d", 2 / 3, 2, 3, "4 and 5 count, 3 does not"),
    ("2026-01-14", "ces_30d", 3.5, 7, 2, "effort 2 and 5"),
    ("2026-01-14", "likelihood_to_recommend_30d", 22 / 3, 22, 3, "(9 + 7 + 6) / 3"),
    ("2026-01-14", "likelihood_to_switch_30d", 3.0, 3, 1, "one answer"),
    ("2026-01-14", "likelihood_to_repurchase_30d", 7.0, 7, 1, "one answer"),
    # Efficiency
    ("2026-01-05", "revenue", 20, None, None, "o-3; o-4 was refunded, so its day is restated without it"),
    ("2026-01-20", "revenue", 30, None, None, "o-10 (10) + o-9 (20)"),
    ("2026-01-05", "upsell_rate", 1.0, 1, 1, "o-3: bean2 (tier 2) after bean1 (tier 1) in o-1"),
    ("2026-01-10", "cross_sell_rate", 1.0, 1, 1, "o-5: equipment, a line c-1 never bought"),
    ("2026-01-20", "upsell_rate", 0.5, 1, 2, "o-10 comes first ('o-10' < 'o-9'); o-9's bean2 then tops bean1"),
    ("2026-01-20", "cross_sell_rate", 0.5, 1, 2, "o-10 brings c-2 its first coffee_beans"),
    ("2026-01-20", "gross_margin_rate_30d", 340 / 558, 340, 558, "margins 10+20+12+40+240+6+12 over revenue"),
    ("2026-01-20", "cps_avg_30d", 256 / 3, 256, 3, "c-1 62-5-20, c-2 38-12-20, c-3 240-7-20 (retention 60 / 3)"),
    ("2026-01-20", "unprofitable_customer_share_30d", 0.0, 0, 3, "all three scores are positive"),
    ("2026-01-20", "ltv_historical_avg", 316 / 3, 316, 3, "margin 340 - handling 5+12+7, over 3 buyers"),
    ("2026-02-14", "ltv_formula", 50 * (38 / 60) / 0.5, None, None, "arpa 50 x margin rate 38/60 / churn 0.5"),
]


@pytest.mark.parametrize(("day", "kpi", "value", "numerator", "denominator", "why"), EXPECTED)
def test_company_kpi(
    full_build: Settings,
    day: str,
    kpi: str,
    value: float | None,
    numerator: float | None,
    denominator: float | None,
    why: str,
) -> None:
    actual_value, actual_numerator, actual_denominator = _kpi(full_build, day, kpi)
    assert actual_value == (None if value is None else pytest.approx(value, abs=1e-9)), why
    assert actual_numerator == (None if numerator is None else pytest.approx(numerator)), why
    assert actual_denominator == (None if denominator is None else pytest.approx(denominator)), why


def test_kpis_by_segment(full_build: Settings) -> None:
    """On 6 January c-1 (DE) answered 9 and c-2 (FR) 7: DE has NPS 100, FR 0."""
    assert _kpi(full_build, "2026-01-06", "nps_30d", ("country", "DE"))[0] == pytest.approx(100)
    assert _kpi(full_build, "2026-01-06", "nps_30d", ("country", "FR"))[0] == pytest.approx(0)
    # On 5 January only c-2 (business) subscribes; consumers have no subscriber, so no ARPA.
    assert _kpi(full_build, "2026-01-05", "arpa", ("segment", "business")) == (30.0, 30.0, 1.0)
    assert _kpi(full_build, "2026-01-05", "arpa", ("segment", "consumer")) == (None, 0.0, 0.0)
    # Segment numerators add up to the company's for an additive KPI.
    company = _kpi(full_build, "2026-02-14", "subscriber_churn_rate_30d")
    by_segment = [
        _kpi(full_build, "2026-02-14", "subscriber_churn_rate_30d", ("segment", s)) for s in ("business", "consumer")
    ]
    assert sum(row[1] for row in by_segment) == company[1]
    assert sum(row[2] for row in by_segment) == company[2]


def test_session_kpis_are_company_level_only(full_build: Settings) -> None:
    with duckdb.connect(str(full_build.warehouse_path), read_only=True) as connection:
        segments = connection.execute(
            "select distinct segment_type from kpi_daily"
            " where kpi in ('sessions', 'session_conversion_rate', 'cac_30d')"
        ).fetchall()
    assert segments == [("all",)]


def test_mrr_movements(full_build: Settings) -> None:
    """Month ends: 31 Dec all 0; 31 Jan c-2 30, c-3 30; 28 Feb c-2 50, c-3 0."""
    january = (dt.date(2026, 1, 1), 0.0, 60.0, 0.0, 0.0, 0.0, 0.0, 60.0)
    february = (dt.date(2026, 2, 1), 60.0, 0.0, 0.0, 20.0, 0.0, 30.0, 50.0)
    assert _table(full_build, "mrr_movements_monthly") == [january, february]


def test_customer_value(full_build: Settings) -> None:
    with duckdb.connect(str(full_build.warehouse_path), read_only=True) as connection:
        rows = connection.execute(
            "select customer_id, completed_orders, historical_ltv, is_active, account_manager"
            " from customer_value order by customer_id"
        ).fetchall()
    # c-1: margins 10+12+40 - ticket 5; c-2: 20+12+6+20 (o-7) - 12; c-3: 240 - 7.
    assert [(row[0], row[1], float(row[2]), row[3], row[4]) for row in rows] == [
        ("c-1", 3, 57.0, True, None),  # purchase-active: o-5 on 10 Jan is within 90 days of 2 Mar
        ("c-2", 4, 46.0, True, "Ann Lee"),  # subscriber
        ("c-3", 1, 233.0, True, None),  # o-11 on 15 Jan is within 90 days
    ]


# Summaries of the predicted-CLV models (docs/clv.md): a purchase is a purchase day, x = purchase
# days - 1, t_x = last - first purchase day, T = d - first purchase day (days), mean repeat spend =
# revenue of the purchase days after the first / x. Completed orders by customer (o-4 refunded and
# o-6 cancelled are not): c-1 o-1 01-01 (18), o-3 01-05 (20), o-5 01-10 (100); c-2 o-2 01-02 (30),
# o-10 and o-9 both 01-20 (10 + 20: one purchase day of 30), o-7 02-02 (30); c-3 o-11 01-15 (360).
# (customer, x, t_x, T, mean repeat spend)
HANDWORKED_SUMMARIES = {
    "2026-03-02": [
        # 3 days; 01-01 -> 01-10 = 9; 01-01 -> 03-02 = 30 (Jan) + 28 (Feb) + 2 = 60; (20 + 100) / 2.
        ("c-1", 2, 9, 60, 60.0),
        # 3 days; 01-02 -> 02-02 = 31; 01-02 -> 03-02 = 59; (30 + 30) / 2.
        ("c-2", 2, 31, 59, 30.0),
        # 1 day; 01-15 -> 03-02 = 16 + 28 + 2 = 46; no repeat spend.
        ("c-3", 0, 0, 46, None),
    ],
    "2026-01-20": [
        ("c-1", 2, 9, 19, 60.0),  # 01-01 -> 01-20 = 19
        ("c-2", 1, 18, 18, 30.0),  # 01-02 and 01-20 (o-10 + o-9): 01-02 -> 01-20 = 18; 10 + 20
        ("c-3", 0, 0, 5, None),  # 01-15 -> 01-20 = 5
    ],
    "2026-01-07": [
        ("c-1", 1, 4, 6, 20.0),  # 01-01 and 01-05 (o-3, 20)
        ("c-2", 0, 0, 5, None),  # 01-02 -> 01-07 = 5
        # c-3 has no completed order yet (o-4 of 01-05 was refunded): not a customer of the model.
    ],
}


@pytest.mark.parametrize("day", sorted(HANDWORKED_SUMMARIES))
def test_predicted_clv_summaries_worked_by_hand(full_build: Settings, day: str) -> None:
    """The predicted-CLV step's SQL gives each customer's summary as worked out from the orders."""
    summaries = customer_summaries(full_build.warehouse_path, dt.date.fromisoformat(day))
    actual = [
        (
            row.customer_id,
            row.frequency,
            row.recency,
            row.age,
            row.repeat_revenue / row.frequency if row.frequency else None,
        )
        for row in summaries.itertuples()
    ]
    assert actual == HANDWORKED_SUMMARIES[day]


def test_predicted_clv_inputs_of_the_last_day(full_build: Settings, tmp_path: Path) -> None:
    """The grouped summaries the fits read, the holdout purchases and the margin, worked out by hand."""
    first, last = dt.date(2026, 1, 20), handworked.END
    summaries = read_summaries(full_build.warehouse_path, first, last, holdout_day=first, spool_dir=tmp_path)
    rows = sorted(summaries.of_day(first).itertuples(index=False, name=None))
    # (x, t_x, T, repeat revenue, purchase days after 01-20 up to 03-02, customers): c-3, c-2
    # (o-7 on 02-02 is its one later purchase day), c-1.
    assert rows == [(0, 0, 5, 0.0, 0, 1), (1, 18, 18, 30.0, 1, 1), (2, 9, 19, 120.0, 0, 1)]
    # Revenue 18 + 30 + 20 + 100 + 360 + 10 + 20 + 30 = 588; margin 10 + 20 + 12 + 40 + 240 + 6 + 12 + 20 = 360.
    assert summaries.margin(last) == (588.0, 360.0)
    daily = pd.read_parquet(full_build.clv_dir / "daily" / f"{last}.parquet").iloc[0]
    assert (daily["customers"], daily["repeat_customers"]) == (3, 2)
    assert daily["gross_margin_rate"] == pytest.approx(360 / 588)
    customers = pd.read_parquet(full_build.clv_dir / "customers" / f"{last}.parquet")
    stored = customers[["customer_id", "frequency", "recency_days", "age_days", "mean_repeat_spend"]]
    assert [
        (row[0], row[1], row[2], row[3], None if pd.isna(row[4]) else row[4]) for row in stored.itertuples(index=False)
    ] == HANDWORKED_SUMMARIES["2026-03-02"]


def test_experience_drivers_and_nps_due(full_build: Settings) -> None:
    drivers = _table(full_build, "experience_drivers")
    # One relationship submission (12 January) in the 90 days: one point has no correlation.
    assert [(row[1], row[2], row[3]) for row in drivers] == [
        ("likelihood_to_recommend", None, 1),
        ("likelihood_to_repurchase", None, 1),
        ("likelihood_to_switch", None, 1),
    ]
    due = [row[0] for row in _table(full_build, "nps_due_customers")]
    # As of 2 March every account is over 30 days old; c-1 and c-2 answered on 6 January
    # and c-3 on 12 January, all within the last 90 days: nobody is due.
    assert due == []


def test_a_late_refund_restates_its_day_and_daily_runs_equal_a_full_build(full_build: Settings, tmp_path: Path) -> None:
    """o-4 is first delivered completed; its refund arrives on 8 January, three days later."""
    sources = tmp_path / "sources"
    data = handworked.source_data()
    before_refund = data.shop["orders"].copy()
    refunded = before_refund["order_id"] == "o-4"
    before_refund.loc[refunded, ["status", "refunded_at", "updated_at"]] = [
        "completed",
        None,
        before_refund.loc[refunded, "ordered_at"].iloc[0],
    ]
    write_sources(dataclasses.replace(data, shop={**data.shop, "orders": before_refund}), sources)
    settings = _settings(tmp_path / "data", sources)

    run_range(settings, handworked.START, dt.date(2026, 1, 7), echo=_quiet)
    assert _kpi(settings, "2026-01-05", "revenue")[0] == pytest.approx(120)  # o-3 20 + o-4 100

    write_sources(data, sources)
    run_range(settings, dt.date(2026, 1, 8), handworked.END, chunk_days=30, echo=_quiet)

    assert _kpi(settings, "2026-01-05", "revenue")[0] == pytest.approx(20)
    for table in PUBLISHED:
        assert _same_rows(_table(settings, table), _table(full_build, table)), table


def _same_rows(left: list[tuple], right: list[tuple]) -> bool:
    """Equal rows, floats equal to within summation-order noise."""
    if len(left) != len(right):
        return False
    for left_row, right_row in zip(left, right, strict=True):
        for a, b in zip(left_row, right_row, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if a != pytest.approx(b, rel=1e-12, abs=1e-9):
                    return False
            elif a != b:
                return False
    return True
