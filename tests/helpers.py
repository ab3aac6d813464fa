"""Small helpers the tests share: run assets through Dagster, read the raw store and warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.generator import GeneratorConfig
from loyalty_pipeline.settings import Settings

# Small generated sources shared by the session: 300 customers over three weeks.
SMALL = GeneratorConfig(customers=300, days=21, seed=7, start=dt.date(2026, 1, 1))
# A generated run long enough for two month ends, monthly cohorts and the 30-day windows,
# small enough for the suite; built once per session (conftest `generated_run`).
GENERATED = GeneratorConfig(customers=1_500, days=75, seed=11, start=dt.date(2026, 1, 1))
GENERATED_LAST_DAY = GENERATED.start + dt.timedelta(days=GENERATED.days - 1)


def source_settings(data_dir: Path, sources: Path, start: dt.date, **overrides: object) -> Settings:
    """Settings for a data folder reading generated sources (`shop.sqlite` and `landing/` under `sources`)."""
    return Settings(
        data_dir=data_dir,
        shop_db_url=f"sqlite:///{sources / 'shop.sqlite'}",
        landing_dir=str(sources / "landing"),
        start_date=start,
        **overrides,
    )


def materialize_extract(
    settings: Settings, partition_key: str, keys: list[str] | None = None
) -> dg.ExecuteInProcessResult:
    """Materialise extract assets (all, or those named "source/table") for one partition."""
    defs = build_definitions(settings)
    assets = [
        asset
        for asset in defs.assets
        if isinstance(asset, dg.AssetsDefinition)
        and len(asset.keys) == 1
        and (keys is None or asset.key.to_user_string() in keys)
        and asset.key.path[0] in ("shop", "web_analytics", "survey_tool", "back_office")
    ]
    return dg.materialize(assets, resources=defs.resources, partition_key=partition_key, raise_on_error=False)


def raw_rows(settings: Settings, source: str, table: str, where: str = "true") -> list[tuple]:
    """Rows of the raw store for one table, every partition."""
    pattern = settings.raw_dir / source / table / "*.parquet"
    with duckdb.connect() as connection:
        return connection.execute(
            f"select * from read_parquet('{pattern}', union_by_name = true) where {where}"
        ).fetchall()


def warehouse_query(settings: Settings, sql: str) -> list[tuple]:
    """Query the dbt-built warehouse read-only."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The error messages of the run's failed steps, joined."""
    failures = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return "\n".join(event.step_failure_data.error.message for event in failures)


def day(start: dt.date, offset: int) -> dt.date:
    return start + dt.timedelta(days=offset)


def landing_file(landing_dir: str, folder: str, partition: dt.date, extension: str = "csv") -> Path:
    return Path(landing_dir) / folder / f"{partition.isoformat()}.{extension}"
