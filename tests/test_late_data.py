"""Late and changed data: a re-delivered record within the lookback is reflected; an older one is reported.

A daily run restates its partition and the `lookback_days` before it. Here the lookback is
7 days and two completed orders of the published baseline are refunded on its last day: one
ordered 3 days earlier (inside the lookback), one ordered 12 days earlier (outside). The
expected revenues are worked out from the shop's own order lines, not from the pipeline.
"""

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from loyalty_pipeline.runner import dagster_instance, run_range
from loyalty_pipeline.settings import Settings
from tests.helpers import SMALL, day, landing_file, source_settings

LAST = day(SMALL.start, SMALL.days - 1)
LOOKBACK_DAYS = 7
INSIDE = LAST - dt.timedelta(days=3)
OUTSIDE = LAST - dt.timedelta(days=12)


def _quiet(_: str) -> None:
    pass


@pytest.fixture
def settings(tmp_path: Path, small_sources: Path) -> Settings:
    """The SMALL sources published in one run over the whole period, with a 7-day lookback."""
    shutil.copytree(small_sources, tmp_path / "sources")
    settings = source_settings(tmp_path / "data", tmp_path / "sources", SMALL.start, lookback_days=LOOKBACK_DAYS)
    run_range(settings, SMALL.start, LAST, chunk_days=SMALL.days, echo=_quiet)
    return settings


def _shop(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.resolved_shop_db_url.removeprefix("sqlite:///"))


def _completed_order_on(settings: Settings, ordered_on: dt.date) -> tuple[str, float]:
    """A completed order of that day (UTC reporting days) and its revenue from its lines."""
    with _shop(settings) as shop:
        order_id, revenue = shop.execute(
            "select orders.order_id, sum(quantity * unit_price - discount_amount)"
            " from orders join order_items using (order_id)"
            " where status = 'completed' and date(ordered_at) = ?"
            " group by orders.order_id order by orders.order_id limit 1",
            [ordered_on.isoformat()],
        ).fetchone()
    return order_id, revenue


def _refund_on_last_day(settings: Settings, order_id: str) -> None:
    """The shop refunds the order on the last day: a new version, delivered in that day's partition."""
    with _shop(settings) as shop:
        shop.execute(
            "update orders set status = 'refunded', refunded_at = ?, updated_at = ? where order_id = ?",
            [f"{LAST} 12:00:00.000000", f"{LAST} 12:00:00.000000", order_id],
        )


def _late_orders(settings: Settings, first: dt.date, last: dt.date) -> set[str]:
    """Orders a run over first..last takes whose day is older than it restates, from the shop itself."""
    restated_from = first - dt.timedelta(days=LOOKBACK_DAYS)
    with _shop(settings) as shop:
        rows = shop.execute(
            "select order_id from orders where date(updated_at) between ? and ? and date(ordered_at) < ?",
            [first.isoformat(), last.isoformat(), restated_from.isoformat()],
        ).fetchall()
    return {order_id for (order_id,) in rows}


def _revenue(settings: Settings, on: dt.date) -> float:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return connection.execute(
            "select value from kpi.kpi_daily where kpi = 'revenue' and segment_type = 'all' and date = ?", [on]
        ).fetchone()[0]


def _monthly_revenue(settings: Settings, order_ids: list[str]) -> dict[str, float]:
    """January's published revenue of each customer who placed one of the orders."""
    with _shop(settings) as shop:
        placeholders = ", ".join("?" * len(order_ids))
        customers = [
            row[0]
            for row in shop.execute(f"select customer_id from orders where order_id in ({placeholders})", order_ids)
        ]
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        rows = connection.execute(
            "select customer_id, revenue from kpi.customer_profitability_monthly"
            " where month = date_trunc('month', ?::date) and list_contains(?, customer_id)",
            [LAST, customers],
        ).fetchall()
    return {customer_id: float(revenue) for customer_id, revenue in rows}


def _orders_check(settings: Settings) -> dg.AssetCheckEvaluation:
    """The raw orders check of the latest run."""
    instance = dagster_instance(settings)
    run_id = instance.get_runs(limit=1)[0].run_id
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    (orders,) = [evaluation for evaluation in evaluations if evaluation.asset_check_key.name == "shop__orders"]
    return orders


def _metadata(check: dg.AssetCheckEvaluation) -> dict[str, object]:
    return {key: getattr(value, "value", value) for key, value in check.metadata.items()}


def test_late_records_inside_the_lookback_are_reflected_and_older_ones_reported(settings: Settings) -> None:
    inside_order, inside_revenue = _completed_order_on(settings, INSIDE)
    outside_order, outside_revenue = _completed_order_on(settings, OUTSIDE)
    before = {when: _revenue(settings, when) for when in (INSIDE, OUTSIDE)}
    monthly_before = _monthly_revenue(settings, [inside_order, outside_order])
    for order_id in (inside_order, outside_order):
        _refund_on_last_day(settings, order_id)
    late = _late_orders(settings, LAST, LAST)  # the generator's own late refunds, and outside_order
    assert outside_order in late

    run_range(settings, LAST, LAST, echo=_quiet)  # the daily run: restates LAST - 7 .. LAST

    # Inside the lookback: the order's day is restated without it.
    assert _revenue(settings, INSIDE) == pytest.approx(before[INSIDE] - inside_revenue, abs=1e-6)
    # Outside: its day is not restated by a daily run, and the run says so (WARN, not blocking).
    assert _revenue(settings, OUTSIDE) == pytest.approx(before[OUTSIDE], abs=1e-6)
    # The monthly profitability is rebuilt whole as of the run: January loses both orders' revenue.
    refunded = {}
    with _shop(settings) as shop:
        for order_id, revenue in ((inside_order, inside_revenue), (outside_order, outside_revenue)):
            (customer_id,) = shop.execute("select customer_id from orders where order_id = ?", [order_id]).fetchone()
            refunded[customer_id] = refunded.get(customer_id, 0.0) + revenue
    monthly_after = _monthly_revenue(settings, [inside_order, outside_order])
    # A customer left with no revenue, support cost or activity in January has no row: 0.
    assert {customer: monthly_after.get(customer, 0.0) for customer in refunded} == pytest.approx(
        {customer: monthly_before[customer] - refunded[customer] for customer in refunded}, abs=1e-6
    )
    check = _orders_check(settings)
    metadata = _metadata(check)
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert metadata["unexpected_count"] == len(late)
    assert "within the lookback" in metadata["rule"]
    assert {sample["order_id"] for sample in metadata["samples"]} == late
    # Not dropped: the refunded version is in the warehouse, waiting for its day to be restated.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        status = warehouse.execute(
            "select order_status from int_orders_joined_to_items where order_id = ?", [outside_order]
        ).fetchone()
    assert status == ("refunded",)

    # The runbook's remedy: re-run from the late record's day. Its day is restated; what the
    # wider run still reports late is exactly the shop's orders older than its own lookback.
    run_range(settings, OUTSIDE, LAST, chunk_days=SMALL.days, echo=_quiet)
    assert _revenue(settings, OUTSIDE) == pytest.approx(before[OUTSIDE] - outside_revenue, abs=1e-6)
    check = _orders_check(settings)
    still_late = _late_orders(settings, OUTSIDE, LAST)
    assert outside_order not in still_late
    assert check.passed == (not still_late)
    if still_late:
        assert {sample["order_id"] for sample in _metadata(check)["samples"]} == still_late


def _landed_sessions(settings: Settings) -> pd.DataFrame:
    """The landing files' sessions up to LAST, each in its latest delivery (the later file day
    wins), with the day it started: the source contract, not the pipeline."""
    files = Path(settings.landing_dir) / "sessions" / "*.parquet"
    return duckdb.sql(
        f"""
        with delivered as (
            select *, cast(regexp_extract(filename, '(\\d{{4}}-\\d{{2}}-\\d{{2}})\\.parquet$', 1) as date) as file_day
            from read_parquet('{files}', filename = true)
        )
        select session_id, added_to_cart, cast(started_at as date) as session_day
        from delivered
        where file_day <= '{LAST}'
        qualify row_number() over (partition by session_id order by file_day desc) = 1
        """
    ).df()


def _count_by_day(sessions: pd.DataFrame) -> dict[dt.date, int]:
    return {pd.Timestamp(day).date(): int(count) for day, count in sessions.groupby("session_day").size().items()}


def _from_day(by_day: dict[dt.date, int], first: dt.date) -> dict[dt.date, int]:
    return {day: count for day, count in by_day.items() if day >= first}


def _converting_sessions(settings: Settings) -> set[str]:
    """Sessions that some order of the shop, in any status but cancelled, names ("converted session")."""
    with _shop(settings) as shop:
        rows = shop.execute("select session_id from orders where session_id is not null and status <> 'cancelled'")
        return {session_id for (session_id,) in rows}


def _published_by_day(settings: Settings, kpi: str, column: str) -> dict[dt.date, int]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        rows = connection.execute(
            f"select date, {column} from kpi.kpi_daily where kpi = ? and segment_type = 'all' and {column} > 0",
            [kpi],
        ).fetchall()
    return {date: int(count) for date, count in rows}


def test_sessions_corrected_and_redelivered_inside_the_lookback_restate_their_day(settings: Settings) -> None:
    """Sessions are restated by day from the window's deliveries only (int_sessions_converted is
    incremental): a corrected export with a session fewer, a session re-delivered changed in a
    later file, one re-delivered with its start moved from a day before the window into it, and
    one named by an order's later version, all reach their day once, converted as the shop says;
    the days before the window keep their published values."""
    inside_file = landing_file(settings.landing_dir, "sessions", INSIDE, "parquet")
    last_file = landing_file(settings.landing_dir, "sessions", LAST, "parquet")
    inside_sessions = pd.read_parquet(inside_file)
    dropped, redelivered = inside_sessions.iloc[0], inside_sessions[~inside_sessions["added_to_cart"]].iloc[-1]
    assert dropped["session_id"] != redelivered["session_id"]
    inside_sessions[inside_sessions["session_id"] != dropped["session_id"]].to_parquet(inside_file, index=False)
    changed = redelivered.to_frame().T.astype(inside_sessions.dtypes).assign(added_to_cart=True)
    moved = pd.read_parquet(landing_file(settings.landing_dir, "sessions", OUTSIDE, "parquet")).iloc[[0]]
    moved = moved.assign(
        started_at=moved["started_at"] + (INSIDE - OUTSIDE), ended_at=moved["ended_at"] + (INSIDE - OUTSIDE)
    )
    pd.concat([pd.read_parquet(last_file), changed, moved], ignore_index=True).to_parquet(last_file, index=False)
    # A converting order arrives after its session was built: an offline order of INSIDE is
    # attributed, in a version of the last day, to a session of INSIDE that nothing converted.
    with _shop(settings) as shop:
        converting = {row[0] for row in shop.execute("select session_id from orders where session_id is not null")}
        (attributed_order,) = shop.execute(
            "select order_id from orders where session_id is null and status <> 'cancelled'"
            " and date(ordered_at) = ? order by order_id limit 1",
            [INSIDE.isoformat()],
        ).fetchone()
        attributed_session = next(
            session_id
            for session_id in inside_sessions["session_id"]
            if session_id not in converting and session_id not in (dropped["session_id"], redelivered["session_id"])
        )
        shop.execute(
            "update orders set session_id = ?, updated_at = ? where order_id = ?",
            [attributed_session, f"{LAST} 12:00:00.000000", attributed_order],
        )
    published_before = _published_by_day(settings, "sessions", "value")

    run_range(settings, INSIDE, LAST, chunk_days=SMALL.days, echo=_quiet)  # restates INSIDE - 7 .. LAST

    window = INSIDE - dt.timedelta(days=LOOKBACK_DAYS)
    landed = _landed_sessions(settings)
    expected_sessions = _count_by_day(landed)
    expected_carts = _count_by_day(landed[landed["added_to_cart"].eq(True)])
    expected_converted = _count_by_day(landed[landed["session_id"].isin(_converting_sessions(settings))])
    published = _published_by_day(settings, "sessions", "value")
    assert _from_day(published, window) == _from_day(expected_sessions, window)
    assert {d: n for d, n in published.items() if d < window} == {
        d: n for d, n in published_before.items() if d < window
    }
    carts = _published_by_day(settings, "cart_abandonment_rate", "denominator")
    assert _from_day(carts, window) == _from_day(expected_carts, window)
    converted = _published_by_day(settings, "session_conversion_rate", "numerator")
    assert _from_day(converted, window) == _from_day(expected_converted, window)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        by_day = dict(
            warehouse.execute("select session_date, count(*) from int_sessions_converted group by 1").fetchall()
        )
        (is_converted,) = warehouse.execute(
            "select is_converted from int_sessions_converted where session_id = ?", [attributed_session]
        ).fetchone()
        rows_of = dict(
            warehouse.execute(
                "select session_id, count(*) from int_sessions_converted where list_contains(?, session_id) group by 1",
                [[dropped["session_id"], moved["session_id"].iloc[0]]],
            ).fetchall()
        )
    assert by_day == expected_sessions, "every session once, on the day of its latest delivery"
    assert rows_of == {moved["session_id"].iloc[0]: 1}, "the dropped session is gone, the moved one is there once"
    assert is_converted, "a session named by an order's later version is converted"
