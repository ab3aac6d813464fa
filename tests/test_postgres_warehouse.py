"""PostgreSQL as the warehouse: the same dbt project on the same raw data publishes the same tables.

The DuckDB pipeline runs through Dagster on generated sources; its raw store is loaded into
a fresh PostgreSQL database with the loader, and `dbt build --target postgres` runs with the
vars the Dagster run passed. Every published table must then hold the same rows on both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_dbt import DbtCliResource
from psycopg import sql

from loyalty_pipeline.contract import load_contract, load_pipeline_outputs
from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.generator import GeneratorConfig, generate
from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.publish import PUBLISHED_TABLES
from loyalty_pipeline.settings import REPOSITORY_DBT_PROJECT_DIR, SOURCE_SYSTEMS, Settings
from loyalty_pipeline.sources.raw_store import write_partition
from loyalty_pipeline.transform import dbt_executable
from loyalty_pipeline.warehouse_postgres import (
    connect,
    dbt_profile_environment,
    load_outputs_to_postgres,
    load_raw_to_postgres,
)
from tests.helpers import failure_message, source_settings

pytestmark = pytest.mark.postgres

# The small sources' size, over a period that ends a month and makes accounts 30 days old,
# so that mrr_movements_monthly and nps_due_customers have rows to compare too.
CONFIG = GeneratorConfig(customers=300, days=40, seed=7, start=dt.date(2026, 1, 1))
LAST_DAY = CONFIG.start + dt.timedelta(days=CONFIG.days - 1)


@pytest.fixture(scope="module")
def make_database(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """Creates fresh databases (dropped first, should a killed run have left them) and drops them at the end."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make(name: str) -> str:
        database = f"loyalty_{name}_{os.getpid()}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'drop database if exists "{database}" with (force)'))
            connection.execute(sa.text(f'create database "{database}"'))
        created.append(database)
        return sa.make_url(postgres_url).set(database=database).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for database in created:
            connection.execute(sa.text(f'drop database if exists "{database}" with (force)'))
    admin.dispose()


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The DuckDB pipeline (extraction, dbt models, predicted CLV) through Dagster, the whole period in one run.

    A run of the daily job as `loyalty-pipeline run` makes it, without the steps that do not
    write the warehouse (quality checks, publishing, the report): they would double the time.
    """
    root = tmp_path_factory.mktemp("postgres_warehouse")
    generate(CONFIG, root / "sources")
    settings = source_settings(root / "data", root / "sources", CONFIG.start)
    defs = build_definitions(settings)
    selection = [
        key
        for asset in defs.assets
        if isinstance(asset, dg.AssetsDefinition)
        and (
            asset.node_def.name in ("loyalty_dbt_models", "predicted_clv", "loyalty_dbt_models_after_clv")
            or (len(asset.keys) == 1 and asset.key.path[0] in SOURCE_SYSTEMS)
        )
        for key in asset.keys
    ]
    # The predicted-CLV step's own check (clv_fit_quality) is part of its asset: not subsettable.
    clv_checks = {key for asset in defs.assets if asset.node_def.name == "predicted_clv" for key in asset.check_keys}
    job = defs.resolve_job_def(LOYALTY_DAILY_JOB).get_subset(
        asset_selection=set(selection), asset_check_selection=clv_checks
    )
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: CONFIG.start.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: LAST_DAY.isoformat(),
        },
    )
    assert result.success, failure_message(result)
    return settings


def _dbt_postgres(settings: Settings, url: str, args: list[str], target_path: Path) -> dict:
    """dbt against the postgres target the way Dagster invokes it (dagster-dbt); returns run_results."""
    dbt = DbtCliResource(
        project_dir=str(settings.dbt_project_dir),
        profiles_dir=str(settings.dbt_project_dir),
        target="postgres",
        dbt_executable=dbt_executable(),
    )
    with dbt_profile_environment(url):
        invocation = dbt.cli(args, target_path=target_path, raise_on_error=False)
        messages = [event.raw_event["info"]["msg"] for event in invocation.stream_raw_events()]
    assert invocation.is_successful(), "\n".join(messages[-40:])
    return invocation.get_artifact("run_results.json")


@pytest.fixture(scope="module")
def postgres_build(
    duckdb_build: Settings, make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """The raw store loaded into PostgreSQL and the dbt project built there with the same vars."""
    url = make_database("warehouse")
    load_raw_to_postgres(duckdb_build.raw_dir, url, load_contract(duckdb_build.dbt_project_dir))
    load_outputs_to_postgres(duckdb_build.data_dir, url, load_pipeline_outputs(duckdb_build.dbt_project_dir))
    warehouse = build_definitions(duckdb_build).resources["warehouse"]
    # The window as vars, the way docs/warehouse-postgres.md runs dbt by hand (Dagster sets
    # the same days as environment variables, which take precedence: Warehouse.dbt_window).
    window = {"min_date": CONFIG.start.isoformat(), "max_date": LAST_DAY.isoformat()}
    dbt_vars = json.dumps({**warehouse.dbt_vars(), **window})
    target = tmp_path_factory.mktemp("dbt_postgres")
    build = _dbt_postgres(duckdb_build, url, ["build", "--vars", dbt_vars], target)
    # Again: kpi_daily now exists, so this is its incremental path (schema check, delete+insert).
    # The same vars and target folder let dbt reuse the parse of the build.
    rerun = _dbt_postgres(duckdb_build, url, ["run", "--select", "kpi_daily", "--vars", dbt_vars], target)
    assert [result["status"] for result in rerun["results"]] == ["success"]
    return {"url": url, "build_results": build}


def _duckdb_rows(settings: Settings, table: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        result = connection.execute(f"select * from {table}")
        return [column[0] for column in result.description], result.fetchall()


def _postgres_rows(url: str, table: str) -> tuple[list[str], list[tuple]]:
    with connect(url) as connection:
        cursor = connection.execute(sql.SQL("select * from {}").format(sql.Identifier("public", table)))
        return [column.name for column in cursor.description], cursor.fetchall()


def _key(row: tuple) -> list:
    """Order-independent comparison: sort by every exact value (floats may differ in the last bits)."""
    key = []
    for value in row:
        if isinstance(value, float):
            continue
        key.append((value is None, str(value.normalize() if isinstance(value, Decimal) else value)))
    return key


def _differences(duck_rows: list[tuple], postgres_rows: list[tuple]) -> list[str]:
    """Cells that differ: floats beyond 1e-9 relative, anything else not exactly equal (type included)."""
    differences = []
    for duck_row, postgres_row in zip(sorted(duck_rows, key=_key), sorted(postgres_rows, key=_key), strict=True):
        for duck_value, postgres_value in zip(duck_row, postgres_row, strict=True):
            if isinstance(duck_value, float) and isinstance(postgres_value, float):
                same = math.isclose(duck_value, postgres_value, rel_tol=1e-9, abs_tol=1e-12)
            else:
                same = type(duck_value) is type(postgres_value) and duck_value == postgres_value
            if not same:
                differences.append(f"{duck_row} != {postgres_row}")
                break
    return differences


@pytest.mark.parametrize("table", PUBLISHED_TABLES)
def test_published_table_equals_duckdb(duckdb_build: Settings, postgres_build: dict, table: str) -> None:
    duck_columns, duck_rows = _duckdb_rows(duckdb_build, table)
    postgres_columns, postgres_rows = _postgres_rows(postgres_build["url"], table)
    assert postgres_columns == duck_columns
    assert duck_rows, f"{table} is empty: the comparison would prove nothing"
    assert len(postgres_rows) == len(duck_rows)
    differences = _differences(duck_rows, postgres_rows)
    assert not differences, f"{len(differences)} rows differ, e.g.\n" + "\n".join(differences[:5])


def test_every_dbt_test_and_unit_test_passes_on_postgres(postgres_build: dict) -> None:
    results = postgres_build["build_results"]["results"]
    by_kind: dict[str, set[str]] = {}
    for result in results:
        by_kind.setdefault(result["unique_id"].split(".")[0], set()).add(result["status"])
    assert by_kind["unit_test"] == {"pass"}
    assert by_kind["test"] == {"pass"}
    assert by_kind["model"] == {"success"}


def test_loading_replaces_exactly_the_partitions_that_changed(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    """Per partition: unchanged days are skipped, a re-extracted day replaces its rows, a removed day goes.

    Text and column names that would break SQL pasted together travel intact.
    """
    url = make_database("loader")
    (spend,) = [table for table in load_contract(REPOSITORY_DBT_PROJECT_DIR) if table.name == "marketing_spend"]
    folder = tmp_path / "raw" / "back_office" / "marketing_spend"
    odd = 'it\'s a "test";\t\\N\nnew line -- drop table x'
    days = [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]

    def deliver(day: dt.date, channels: list[str], extracted_at: dt.datetime) -> None:
        frame = pd.DataFrame(
            {
                "spend_date": [day] * len(channels),
                "program": ["retention"] * len(channels),
                "channel": channels,
                "amount": [10.005] * len(channels),
                'note "; drop': [odd] * len(channels),
            }
        )
        write_partition(folder / f"{day.isoformat()}.parquet", frame, spend, day, extracted_at, len(channels))

    first_extraction = dt.datetime(2026, 1, 3, 1, 0)
    for day in days:
        deliver(day, ["email", odd], first_extraction)

    def load() -> tuple:
        result = load_raw_to_postgres(tmp_path / "raw", url, [spend])["back_office.marketing_spend"]
        return (result.rows_loaded, result.partitions_loaded, result.partitions_skipped, result.partitions_removed)

    def rows() -> list[tuple]:
        with connect(url) as connection:
            return connection.execute(
                'select spend_date, channel, amount, "note ""; drop", _extracted_at'
                " from raw_back_office.marketing_spend order by 1, 2"
            ).fetchall()

    assert load() == (4, 2, 0, 0)
    assert rows() == [
        (days[0], "email", Decimal("10.0050"), odd, first_extraction),
        (days[0], odd, Decimal("10.0050"), odd, first_extraction),
        (days[1], "email", Decimal("10.0050"), odd, first_extraction),
        (days[1], odd, Decimal("10.0050"), odd, first_extraction),
    ]
    assert load() == (0, 0, 2, 0)

    second_extraction = first_extraction + dt.timedelta(hours=5)
    deliver(days[1], ["chat"], second_extraction)
    assert load() == (1, 1, 1, 0)
    assert [row[:2] for row in rows()] == [(days[0], "email"), (days[0], odd), (days[1], "chat")]

    (folder / f"{days[0].isoformat()}.parquet").unlink()
    assert load() == (0, 0, 1, 1)
    assert [row[:2] for row in rows()] == [(days[1], "chat")]
