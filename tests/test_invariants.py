"""Invariants of the published tables on a generated run (every KPI, every segment, every day)."""

from __future__ import annotations

import datetime as dt

import pytest

from loyalty_pipeline.settings import Settings
from tests.helpers import GENERATED, GENERATED_LAST_DAY, warehouse_query

RATES = (
    "session_conversion_rate",
    "visitor_conversion_rate",
    "cart_abandonment_rate",
    "subscriber_churn_rate_30d",
    "activity_churn_rate_30d",
    "revenue_churn_rate_30d",
    "repeat_purchase_rate",
    "csat_30d",
    "upsell_rate",
    "cross_sell_rate",
    "unprofitable_customer_share_30d",
)


def test_rates_and_scores_are_in_range(generated_run: Settings) -> None:
    rates = ", ".join(f"'{kpi}'" for kpi in RATES)
    out_of_range = warehouse_query(
        generated_run,
        f"select kpi, count(*) from kpi_daily where value is not null and ("
        f" (kpi in ({rates}) and (value < 0 or value > 1))"
        " or (kpi = 'nps_30d' and value not between -100 and 100)"
        " or (kpi in ('ces_30d') and value not between 1 and 10)"
        " or (kpi like 'likelihood_%' and value not between 0 and 10)) group by kpi",
    )
    assert out_of_range == []
    (checked,) = warehouse_query(generated_run, f"select count(value) from kpi_daily where kpi in ({rates})")[0]
    assert checked > 1_000


def test_every_day_has_every_company_kpi(generated_run: Settings) -> None:
    per_day = warehouse_query(
        generated_run, "select date, count(*) from kpi_daily where segment_type = 'all' group by date order by date"
    )
    assert [row[0] for row in per_day] == [GENERATED.start + dt.timedelta(days=n) for n in range(GENERATED.days)]
    assert {row[1] for row in per_day} == {31}  # every daily KPI of the catalogue


def test_segments_add_up_to_the_company(generated_run: Settings) -> None:
    """Each customer is in exactly one value of each segmentation: additive parts sum to the whole."""
    mismatches = warehouse_query(
        generated_run,
        """
        with company as (
            select date, kpi, numerator, denominator, value from kpi_daily where segment_type = 'all'
        ),
        segments as (
            select date, kpi, segment_type, sum(numerator) as numerator, sum(denominator) as denominator,
                sum(value) as value
            from kpi_daily where segment_type <> 'all' group by all
        )
        select segments.kpi, segments.segment_type, count(*)
        from segments join company using (date, kpi)
        where abs(coalesce(segments.numerator, 0) - coalesce(company.numerator, 0)) > 1e-6
            or abs(coalesce(segments.denominator, 0) - coalesce(company.denominator, 0)) > 1e-6
            or (segments.kpi in ('mrr', 'subscribers', 'new_customers', 'revenue')
                and abs(segments.value - company.value) > 1e-6)
        group by all
        """,
    )
    assert mismatches == []
    (segmented,) = warehouse_query(
        generated_run, "select count(distinct kpi) from kpi_daily where segment_type = 'country'"
    )[0]
    assert segmented == 24  # all 31 but the four session KPIs, cac_30d, crc_30d and clv_predicted_12m_avg


def test_mrr_movements_bridge_and_match_daily_mrr(generated_run: Settings) -> None:
    movements = [
        (row[0], *(float(amount) for amount in row[1:]))
        for row in warehouse_query(generated_run, "select * from mrr_movements_monthly order by month")
    ]
    assert [row[0] for row in movements] == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    previous_closing = None
    for month, opening, new, reactivation, expansion, contraction, churned, closing in movements:
        assert closing == pytest.approx(opening + new + reactivation + expansion - contraction - churned, abs=0.01)
        if previous_closing is not None:
            assert opening == pytest.approx(previous_closing, abs=0.01)
        previous_closing = closing
        month_end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        (daily_mrr,) = warehouse_query(
            generated_run,
            f"select value from kpi_daily where kpi = 'mrr' and segment_type = 'all' and date = '{month_end}'",
        )[0]
        assert daily_mrr == pytest.approx(closing, abs=0.01)
    assert sum(row[2] for row in movements) > 0
    assert sum(row[6] for row in movements) > 0


def test_customer_tables_are_consistent(generated_run: Settings) -> None:
    (customers, deciles, active) = warehouse_query(
        generated_run,
        "select count(*), count(distinct cps_decile), count(*) filter (where is_active) from customer_value",
    )[0]
    assert customers == GENERATED.customers
    assert deciles == 10
    (active_kpi,) = warehouse_query(
        generated_run,
        "select denominator from kpi_daily where kpi = 'cps_avg_30d' and segment_type = 'all'"
        f" and date = '{GENERATED_LAST_DAY}'",
    )[0]
    assert active == active_kpi
