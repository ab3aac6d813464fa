"""Publishing: the checked KPI tables, copied where BI tools read them.

Publishing is its own step, downstream of every blocking check: when a check fails, the
step does not run and the published tables stay exactly at their last good version. The
serving file is rebuilt beside the old one and renamed over it, so a reader opening it
read-only sees either the previous version or the next, never a half-written one, and never
holds a lock the pipeline waits on.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from loyalty_pipeline.resources import Warehouse

# The catalogue's published tables and the order that makes every publication identical.
PUBLISHED_TABLES: dict[str, tuple[str, ...]] = {
    "kpi_daily": ("date", "kpi", "segment_type", "segment_value"),
    "mrr_movements_monthly": ("month",),
    "customer_value": ("customer_id",),
    "customer_profitability_monthly": ("month", "customer_id"),
    "experience_drivers": ("driver_question",),
    "nps_due_customers": ("customer_id",),
}
SERVING_SCHEMA = "kpi"


class ServingFile(dg.ConfigurableResource):
    """The DuckDB file BI tools read: `$LOYALTY_DATA_DIR/serving/kpis.duckdb`, schema `kpi`."""

    data_dir: str

    @property
    def path(self) -> Path:
        return Path(self.data_dir) / "serving" / "kpis.duckdb"


def _quoted(identifier: str) -> str:
    """A SQL identifier in double quotes; only the fixed names above ever reach here."""
    return '"' + identifier.replace('"', '""') + '"'


def build_serving_file(warehouse_path: Path, target: Path) -> dict[str, int]:
    """Write the published tables from the warehouse into a new file at target; return row counts."""
    target.unlink(missing_ok=True)
    counts = {}
    with duckdb.connect(str(target)) as connection:
        connection.execute("attach ? as warehouse (read_only)", [str(warehouse_path)])
        connection.execute(f"create schema {SERVING_SCHEMA}")
        for table, order in PUBLISHED_TABLES.items():
            order_by = ", ".join(_quoted(column) for column in order)
            connection.execute(
                f"create table {SERVING_SCHEMA}.{_quoted(table)} as "
                f"select * from warehouse.main.{_quoted(table)} order by {order_by}"
            )
            counts[table] = connection.execute(f"select count(*) from {SERVING_SCHEMA}.{_quoted(table)}").fetchone()[0]
        connection.execute("detach warehouse")
        connection.execute("checkpoint")
    return counts


def publish_serving_file(warehouse_path: Path, serving_path: Path) -> dict[str, int]:
    """Replace the serving file atomically with the warehouse's current published tables."""
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    try:
        counts = build_serving_file(warehouse_path, temporary)
        os.replace(temporary, serving_path)
    finally:
        temporary.unlink(missing_ok=True)
    return counts


def build_publish_assets(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The published tables, one asset each, written together in one step after every check passed."""

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key=dg.AssetKey(["published", table]),
                deps=[dg.AssetKey([table])],
                group_name="published",
                kinds={"duckdb"},
                description=f"`{SERVING_SCHEMA}.{table}` in the serving file, as of the last run whose checks passed.",
            )
            for table in PUBLISHED_TABLES
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        name="publish_kpis",
    )
    def publish_kpis(
        context: dg.AssetExecutionContext, warehouse: Warehouse, serving: ServingFile
    ) -> Iterator[dg.MaterializeResult]:
        counts = publish_serving_file(warehouse.database_path, serving.path)
        context.log.info(f"published {sum(counts.values())} rows to {serving.path}")
        for table, rows in counts.items():
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["published", table]),
                metadata={
                    "dagster/row_count": rows,
                    "location": f"{serving.path} :: {SERVING_SCHEMA}.{table}",
                },
            )

    return publish_kpis
