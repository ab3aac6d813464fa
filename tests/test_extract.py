"""Extraction through Dagster: partitions match their sources, re-runs replace, errors are clear."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from loyalty_pipeline.contract import ContractTable, load_contract
from loyalty_pipeline.partitions import daily_partitions
from loyalty_pipeline.resources import ShopDatabase
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.sources.shop import read_shop_days
from tests.helpers import SMALL, day, failure_message, landing_file, materialize_extract, raw_rows, warehouse_query

PARTITION = day(SMALL.start, 5)
LANDING_FOLDERS = {
    ("web_analytics", "sessions"): ("sessions", "parquet"),
    ("survey_tool", "survey_responses"): ("surveys", "csv"),
    ("back_office", "support_tickets"): ("support_tickets", "csv"),
    ("back_office", "marketing_spend"): ("marketing_spend", "csv"),
}


def _shop_frame(settings: Settings, table: str) -> pd.DataFrame:
    engine = sa.create_engine(settings.resolved_shop_db_url)
    with engine.connect() as connection:
        frame = pd.read_sql_table(table, connection)
    engine.dispose()
    return frame


def _on_day(timestamps: pd.Series, partition: dt.date) -> pd.Series:
    return pd.to_datetime(timestamps).dt.date == partition


def _expected_source_rows(settings: Settings, partition: dt.date) -> dict[tuple[str, str], int]:
    """Rows each source holds for a partition day, counted straight from the sources."""
    orders = _shop_frame(settings, "orders")
    delivered_orders = orders[_on_day(orders["updated_at"], partition)]
    items = _shop_frame(settings, "order_items")
    expected = {
        ("shop", name): int(_on_day(_shop_frame(settings, name)["updated_at"], partition).sum())
        for name in ("customers", "products", "subscription_periods")
    }
    expected[("shop", "orders")] = len(delivered_orders)
    expected[("shop", "order_items")] = int(items["order_id"].isin(delivered_orders["order_id"]).sum())
    for key, (folder, extension) in LANDING_FOLDERS.items():
        path = landing_file(settings.resolved_landing_dir, folder, partition, extension)
        frame = pd.read_parquet(path) if extension == "parquet" else pd.read_csv(path)
        expected[key] = len(frame)
    return expected


def test_partition_row_counts_equal_the_sources(settings: Settings) -> None:
    result = materialize_extract(settings, PARTITION.isoformat())
    assert result.success, failure_message(result)

    expected = _expected_source_rows(settings, PARTITION)
    assert len(expected) == len(load_contract(settings.dbt_project_dir))
    for (source, table), count in expected.items():
        rows = raw_rows(settings, source, table)
        assert len(rows) == count, f"{source}.{table}"
    assert expected[("shop", "orders")] > 0
    assert expected[("web_analytics", "sessions")] > 0
    counts = {
        event.asset_key.to_user_string(): event.metadata["dagster/row_count"].value
        for event in result.get_asset_materialization_events()
        for event in [event.materialization]
    }
    assert counts == {f"{source}/{table}": count for (source, table), count in expected.items()}


def test_rerunning_a_partition_replaces_it(settings: Settings) -> None:
    for _ in range(2):
        result = materialize_extract(
            settings, PARTITION.isoformat(), keys=["shop/orders", "back_office/support_tickets"]
        )
        assert result.success, failure_message(result)

    orders = raw_rows(settings, "shop", "orders")
    order_ids = [row[0] for row in orders]
    assert len(order_ids) == len(set(order_ids)) == _expected_source_rows(settings, PARTITION)[("shop", "orders")]
    assert list((settings.raw_dir / "shop" / "orders").iterdir()) == [
        settings.raw_dir / "shop" / "orders" / f"{PARTITION.isoformat()}.parquet"
    ]


def test_changed_record_lands_in_its_new_day_and_staging_keeps_the_latest(private_settings: Settings) -> None:
    settings = private_settings
    first, changed_on = day(SMALL.start, 2), day(SMALL.start, 6)
    run_range(settings, SMALL.start, first, echo=lambda _: None)

    orders = _shop_frame(settings, "orders")
    completed = orders[(orders["status"] == "completed") & _on_day(orders["updated_at"], first)]
    order_id = completed["order_id"].iloc[0]
    status_query = f"select order_status from int_orders_joined_to_items where order_id = '{order_id}'"
    assert warehouse_query(settings, status_query) == [("completed",)]

    refund_at = dt.datetime.combine(changed_on, dt.time(10, 30))
    engine = sa.create_engine(settings.resolved_shop_db_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("update orders set status = 'refunded', refunded_at = :at, updated_at = :at where order_id = :id"),
            {"at": refund_at, "id": order_id},
        )
    engine.dispose()
    run_range(settings, day(SMALL.start, 3), changed_on, echo=lambda _: None)

    versions = raw_rows(settings, "shop", "orders", f"order_id = '{order_id}' order by _partition_date")
    assert [(row[4], row[-2]) for row in versions] == [("completed", first), ("refunded", changed_on)]
    staged = warehouse_query(settings, status_query.replace("order_status", "order_status, is_completed"))
    assert staged == [("refunded", False)]


def test_missing_required_column_fails_naming_it(private_settings: Settings) -> None:
    path = landing_file(private_settings.resolved_landing_dir, "surveys", PARTITION)
    pd.read_csv(path, dtype=str).drop(columns=["score"]).to_csv(path, index=False)

    result = materialize_extract(private_settings, PARTITION.isoformat(), keys=["survey_tool/survey_responses"])

    assert not result.success
    message = failure_message(result)
    assert "survey_tool.survey_responses" in message
    assert f"partition {PARTITION.isoformat()}" in message
    assert "'score'" in message
    assert "required column is missing" in message
    assert not (private_settings.raw_dir / "survey_tool" / "survey_responses").exists()


def test_value_of_wrong_type_fails_naming_column_and_value(private_settings: Settings) -> None:
    path = landing_file(private_settings.resolved_landing_dir, "support_tickets", PARTITION)
    tickets = pd.read_csv(path, dtype=str)
    assert len(tickets) > 0
    tickets.loc[0, "handling_cost"] = "twelve euros"
    tickets.to_csv(path, index=False)

    result = materialize_extract(private_settings, PARTITION.isoformat(), keys=["back_office/support_tickets"])

    message = failure_message(result)
    assert not result.success
    assert "back_office.support_tickets" in message
    assert PARTITION.isoformat() in message
    assert "'handling_cost'" in message
    assert "expected decimal" in message
    assert "twelve euros" in message


def test_missing_day_file_fails_naming_it(private_settings: Settings) -> None:
    landing_file(private_settings.resolved_landing_dir, "marketing_spend", PARTITION).unlink()

    result = materialize_extract(private_settings, PARTITION.isoformat(), keys=["back_office/marketing_spend"])

    assert not result.success
    assert f"marketing_spend/{PARTITION.isoformat()}" in failure_message(result)


ORDERS_COLUMNS = (
    "order_id text, customer_id text, session_id text, ordered_at timestamp, status text,"
    " refunded_at timestamp, updated_at timestamp"
)


def _shop_with_orders(database: Path, rows: list[tuple], extra_columns: str = "") -> ShopDatabase:
    """A SQLite shop whose orders table holds these rows (the contract's columns, then any extra ones)."""
    with sqlite3.connect(database) as connection:
        connection.execute(f"create table orders ({ORDERS_COLUMNS}{extra_columns})")
        connection.executemany(f"insert into orders values ({', '.join('?' for _ in rows[0])})", rows)
    return ShopDatabase(url=f"sqlite:///{database}")


def _orders_contract() -> ContractTable:
    return next(table for table in load_contract(Settings.from_env({}).dbt_project_dir) if table.name == "orders")


def test_shop_rows_fall_on_their_reporting_day(tmp_path: Path) -> None:
    """23:30 UTC on 1 January is 2 January in Berlin: the row belongs to the 2 January partition."""
    shop = _shop_with_orders(
        tmp_path / "shop.sqlite",
        [
            ("o-1", "c-1", None, "2026-01-01 10:00:00", "completed", None, "2026-01-01 10:00:00"),
            ("o-2", "c-1", None, "2026-01-01 23:30:00", "completed", None, "2026-01-01 23:30:00"),
        ],
    )
    partitions = daily_partitions(dt.date(2026, 1, 1), "Europe/Berlin")
    window = partitions.time_window_for_partition_key("2026-01-02")

    days = read_shop_days(shop, _orders_contract(), window, is_first=False)

    assert list(days) == [dt.date(2026, 1, 2)]
    assert days[dt.date(2026, 1, 2)]["order_id"].tolist() == ["o-2"]


def test_shop_rows_read_in_batches_equal_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch where a column is all NULL (refunded_at, and an extra column) types it apart: the
    concatenated frame still has the types of one read, so raw files do not depend on batch bounds."""
    at = "2026-01-01 10:00:00"
    rows = [
        ("o-1", "c-1", None, at, "completed", None, at, None),
        ("o-2", "c-1", None, at, "completed", None, at, None),
        ("o-3", "c-1", None, at, "completed", "2026-01-01 11:00:00", at, 2),
        ("o-4", "c-1", None, at, "completed", None, at, 1),
    ]
    shop = _shop_with_orders(tmp_path / "shop.sqlite", rows, extra_columns=", coupon_count integer")
    orders = _orders_contract()
    window = daily_partitions(dt.date(2026, 1, 1), "UTC").time_window_for_partition_key("2026-01-01")

    whole = read_shop_days(shop, orders, window, is_first=True)[dt.date(2026, 1, 1)]
    monkeypatch.setattr("loyalty_pipeline.sources.shop.READ_BATCH_ROWS", 2)
    batched = read_shop_days(shop, orders, window, is_first=True)[dt.date(2026, 1, 1)]

    assert whole["order_id"].tolist() == ["o-1", "o-2", "o-3", "o-4"]
    pd.testing.assert_frame_equal(batched, whole)


@pytest.mark.postgres
def test_extraction_from_a_postgresql_shop_database(settings: Settings, postgres_url: str, tmp_path: Path) -> None:
    from loyalty_pipeline.generator import generate

    generate(SMALL, tmp_path / "pg_sources", shop_db_url=postgres_url)
    pg_settings = Settings(
        data_dir=tmp_path / "pg_data",
        shop_db_url=postgres_url,
        landing_dir=settings.landing_dir,
        start_date=SMALL.start,
    )

    result = materialize_extract(
        pg_settings,
        PARTITION.isoformat(),
        keys=[f"shop/{name}" for name in ("customers", "products", "orders", "order_items", "subscription_periods")],
    )

    assert result.success, failure_message(result)
    expected = _expected_source_rows(settings, PARTITION)
    for name in ("customers", "products", "orders", "order_items", "subscription_periods"):
        assert len(raw_rows(pg_settings, "shop", name)) == expected[("shop", name)], name
    source_location = next(
        event.materialization.metadata["source_location"].value for event in result.get_asset_materialization_events()
    )
    assert "loyalty:***@" in source_location
    assert ":loyalty@" not in source_location


def test_asset_keys_and_job_name_are_stable(settings: Settings) -> None:
    """BI users and schedules address assets by key: a rename must be deliberate."""
    from loyalty_pipeline.definitions import build_definitions

    defs = build_definitions(settings)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "shop/customers",
        "shop/products",
        "shop/orders",
        "shop/order_items",
        "shop/subscription_periods",
        "web_analytics/sessions",
        "survey_tool/survey_responses",
        "back_office/support_tickets",
        "back_office/marketing_spend",
        "int_orders_joined_to_items",
        "kpi_daily",
        "mrr_movements_monthly",
        "customer_value",
        "customer_profitability_monthly",
        "experience_drivers",
        "nps_due_customers",
    } <= keys
    assert defs.resolve_job_def("loyalty_daily").partitions_def is not None
    assert isinstance(defs.resolve_job_def("loyalty_daily").partitions_def, dg.DailyPartitionsDefinition)
