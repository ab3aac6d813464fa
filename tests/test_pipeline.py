"""The `loyalty-pipeline run` command end to end: Dagster runs over a range, dbt staging, re-runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pandas as pd
import pytest

from loyalty_pipeline import cli
from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.runner import dagster_instance, run_range
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.transform import dbt_work_dir
from tests.helpers import SMALL, day, landing_file, raw_rows, warehouse_query

# Staging models are ephemeral; the intermediate tables built on them hold one row per
# latest version of each key (or count each key once), so they show deduplication.
STAGED_COUNTS = {
    ("shop", "customers", "customer_id"): (
        "select count(*) from int_customer_segments where segment_type = 'segment' and segment_value <> 'unknown'"
    ),
    ("shop", "orders", "order_id"): "select count(*) from int_orders_joined_to_items",
    ("shop", "subscription_periods", "subscription_period_id"): (
        "select count(*) from int_subscription_periods_monthly_amounts"
    ),
    ("web_analytics", "sessions", "session_id"): "select count(*) from int_sessions_converted",
    ("survey_tool", "survey_responses", "response_id"): "select count(*) from int_survey_answers",
    ("back_office", "support_tickets", "ticket_id"): "select sum(tickets_opened) from int_support_costs_daily",
    ("back_office", "marketing_spend", "spend_date"): "select count(*) from int_marketing_spend_daily",
}
SNAPSHOT_TABLES = [
    "int_orders_joined_to_items",
    "int_customer_status_daily",
    "kpi_daily",
    "mrr_movements_monthly",
    "customer_value",
    "customer_profitability_monthly",
]


def _environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOYALTY_SHOP_DB_URL", settings.resolved_shop_db_url)
    monkeypatch.setenv("LOYALTY_LANDING_DIR", settings.resolved_landing_dir)
    monkeypatch.setenv("LOYALTY_START_DATE", SMALL.start.isoformat())


def _snapshot(settings: Settings) -> dict[str, list[tuple]]:
    return {table: warehouse_query(settings, f"select * from {table} order by all") for table in SNAPSHOT_TABLES}


def test_run_command_materialises_the_range_through_dagster(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, settings)
    end = day(SMALL.start, 9)

    assert cli.main(["run", "--start", SMALL.start.isoformat(), "--end", end.isoformat(), "--chunk-days", "4"]) == 0

    output = capsys.readouterr().out
    assert "[3/3] partitions" in output
    assert "10 daily partitions" in output
    assert str(settings.warehouse_path) in output
    assert (dbt_work_dir(settings.data_dir) / "logs" / "dbt.log").is_file(), "dbt logs in the data folder"
    assert not list((dbt_work_dir(settings.data_dir) / "runs").iterdir()), "dbt artifacts of good runs are removed"
    runs = dagster_instance(settings).get_runs()
    assert len(runs) == 3
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    for (source, table, key), query in STAGED_COUNTS.items():
        distinct = len({row[0] for row in raw_rows_keyed(settings, source, table, key)})
        (staged,) = warehouse_query(settings, query)[0]
        assert staged == distinct > 0, f"{source}.{table}"


def raw_rows_keyed(settings: Settings, source: str, table: str, key: str) -> list[tuple]:
    pattern = settings.raw_dir / source / table / "*.parquet"
    with duckdb.connect() as connection:
        return connection.execute(f"select {key} from read_parquet('{pattern}')").fetchall()


def test_rerunning_a_range_gives_the_same_tables(settings: Settings) -> None:
    end = day(SMALL.start, 6)
    run_range(settings, SMALL.start, end, echo=lambda _: None)
    first = _snapshot(settings)
    files = sorted(path.relative_to(settings.raw_dir) for path in settings.raw_dir.rglob("*.parquet"))

    run_range(settings, SMALL.start, end, chunk_days=3, echo=lambda _: None)

    assert _snapshot(settings) == first
    assert sorted(path.relative_to(settings.raw_dir) for path in settings.raw_dir.rglob("*.parquet")) == files


def test_a_switched_off_source_is_absent_not_an_error(settings: Settings) -> None:
    without_surveys = dataclasses.replace(settings, disabled_sources=frozenset({"survey_tool"}))
    graph = build_definitions(without_surveys).resolve_asset_graph()
    materializable = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert "survey_tool/survey_responses" not in materializable
    assert "shop/orders" in materializable

    run_range(without_surveys, SMALL.start, day(SMALL.start, 2), echo=lambda _: None)

    assert warehouse_query(without_surveys, "select count(*) from int_survey_answers") == [(0,)]
    assert warehouse_query(without_surveys, "select count(*) from int_orders_joined_to_items")[0][0] > 0
    stages = warehouse_query(without_surveys, "select distinct stage from kpi_daily order by stage")
    assert stages == [("acquisition",), ("efficiency",), ("retention",)], "survey KPIs are absent, not zero"


def test_a_failed_run_exits_non_zero_naming_source_partition_and_column(
    private_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, private_settings)
    broken_day = day(SMALL.start, 1)
    path = landing_file(private_settings.resolved_landing_dir, "sessions", broken_day, "parquet")
    pd.read_parquet(path).drop(columns=["device"]).to_parquet(path)

    code = cli.main(["run", "--start", SMALL.start.isoformat(), "--end", broken_day.isoformat()])

    error = capsys.readouterr().err
    assert code == 1
    assert "web_analytics.sessions" in error
    assert f"partition {broken_day}" in error
    assert "'device'" in error


def test_raw_keeps_every_delivered_ticket_version(settings: Settings) -> None:
    run_range(settings, SMALL.start, day(SMALL.start, 9), echo=lambda _: None)
    versions = raw_rows(settings, "back_office", "support_tickets")
    ticket_ids = [row[0] for row in versions]
    assert len(ticket_ids) > len(set(ticket_ids)), "re-delivered tickets keep both versions in raw"
    (staged,) = warehouse_query(settings, "select sum(tickets_opened) from int_support_costs_daily")[0]
    assert staged == len(set(ticket_ids))


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LOYALTY_DATA_DIR": str(tmp_path),
            "LOYALTY_START_DATE": "2025-03-01",
            "LOYALTY_TIMEZONE": "Europe/Berlin",
            "LOYALTY_DISABLED_SOURCES": "survey_tool, back_office",
        }
    )
    assert settings.data_dir == tmp_path.resolve()
    assert settings.resolved_shop_db_url == f"sqlite:///{tmp_path.resolve() / 'sources' / 'shop.sqlite'}"
    assert settings.disabled_sources == {"survey_tool", "back_office"}
    with pytest.raises(ValueError, match="LOYALTY_TIMEZONE"):
        Settings.from_env({"LOYALTY_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ValueError, match="unknown source systems"):
        Settings.from_env({"LOYALTY_DISABLED_SOURCES": "crm"})


def test_the_daily_schedule_runs_yesterdays_partition_at_the_configured_time(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"LOYALTY_DATA_DIR": str(tmp_path), "LOYALTY_SCHEDULE_TIME": "05:30", "LOYALTY_TIMEZONE": "Europe/Berlin"}
    )
    schedule = build_definitions(settings).resolve_schedule_def("loyalty_daily_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 5 * * *", "Europe/Berlin")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # LOYALTY_SCHEDULE_ENABLED turns it on
    tick = dt.datetime(2026, 3, 5, 5, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    (request,) = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick)).run_requests
    assert request.partition_key == "2026-03-04"


def test_published_tables_show_as_stale_after_the_freshness_window(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOYALTY_DATA_DIR": str(tmp_path), "LOYALTY_FRESHNESS_FAIL_HOURS": "48"})
    graph = build_definitions(settings).resolve_asset_graph()
    policy = graph.get(dg.AssetKey(["published", "kpi_daily"])).freshness_policy
    assert policy.fail_window.to_timedelta() == dt.timedelta(hours=48)
    assert policy.warn_window.to_timedelta() == dt.timedelta(hours=26)
