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

from loyalty_pipeline.names import quote_identifier
from loyalty_pipeline.report import write_report
from loyalty_pipeline.resources import WAREHOUSE_POOL, Warehouse, redact_url
from loyalty_pipeline.serving_postgres import SCHEMA, ServingPostgres, publish_to_postgres

# The catalogue's published tables and the order that makes every publication identical.
PUBLISHED_TABLES: dict[str, tuple[str, ...]] = {
    "kpi_daily": ("date", "kpi", "segment_type", "segment_value"),
    "mrr_movements_monthly": ("month",),
    "customer_value": ("customer_id",),
    "customer_profitability_monthly": ("month", "customer_id"),
    "experience_drivers": ("driver_question",),
    "nps_due_customers": ("customer_id",),
}
SERVING_SCHEMA = SCHEMA  # the same schema name in the serving file and in PostgreSQL


class ServingFile(dg.ConfigurableResource):
    """What readers get: the DuckDB file BI tools read (`serving/kpis.duckdb`, schema `kpi`)
    and the HTML report (`reports/kpi-report.html`), both under the data folder."""

    data_dir: str
    currency: str = "EUR"

    @property
    def path(self) -> Path:
        return Path(self.data_dir) / "serving" / "kpis.duckdb"

    @property
    def report_path(self) -> Path:
        return Path(self.data_dir) / "reports" / "kpi-report.html"


def build_serving_file(warehouse_path: Path, target: Path) -> dict[str, int]:
    """Write the published tables from the warehouse into a new file at target; return row counts."""
    target.unlink(missing_ok=True)
    counts = {}
    with duckdb.connect(str(target)) as connection:
        connection.execute("attach ? as warehouse (read_only)", [str(warehouse_path)])
        connection.execute(f"create schema {SERVING_SCHEMA}")
        for table, order in PUBLISHED_TABLES.items():
            order_by = ", ".join(quote_identifier(column) for column in order)
            connection.execute(
                f"create table {SERVING_SCHEMA}.{quote_identifier(table)} as "
                f"select * from warehouse.main.{quote_identifier(table)} order by {order_by}"
            )
            counts[table] = connection.execute(
                f"select count(*) from {SERVING_SCHEMA}.{quote_identifier(table)}"
            ).fetchone()[0]
        connection.execute("detach warehouse")
        connection.execute("checkpoint")
    return counts


def publish_serving_file(warehouse_path: Path, serving_path: Path) -> dict[str, int]:
    """Replace the serving file atomically with the warehouse's current published tables."""
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    # A publish killed midway leaves its half-written file (and DuckDB's .wal of it). Two
    # publishes never overlap (the warehouse pool, the run lock), so any such file is stale.
    for stale in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    temporary = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    try:
        counts = build_serving_file(warehouse_path, temporary)
        os.replace(temporary, serving_path)
    finally:
        temporary.unlink(missing_ok=True)
    return counts


def build_publish_assets(freshness: dg.FreshnessPolicy) -> dg.AssetsDefinition:
    """The published tables, one asset each, written together in one step after every check passed.

    They are not partitioned: a publication is of whole tables, once per run whatever its
    partition range (one event per table, not one per table and day). The freshness policy
    makes a table that has not been published for too long (a failed check, a stopped
    schedule) show as stale in Dagster.
    """

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key=dg.AssetKey(["published", table]),
                deps=[dg.AssetKey([table])],
                group_name="published",
                kinds={"duckdb"},
                freshness_policy=freshness,
                description=f"`{SERVING_SCHEMA}.{table}` in the serving file, as of the last run whose checks passed.",
            )
            for table in PUBLISHED_TABLES
        ],
        name="publish_kpis",
        pool=WAREHOUSE_POOL,
    )
    def publish_kpis(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        serving: ServingFile,
        serving_postgres: ServingPostgres,
    ) -> Iterator[dg.MaterializeResult]:
        counts = publish_serving_file(warehouse.database_path, serving.path)
        context.log.info(f"published {sum(counts.values())} rows to {serving.path}")
        locations = {table: [f"{serving.path} :: {SERVING_SCHEMA}.{table}"] for table in counts}
        if serving_postgres.url:
            target = redact_url(serving_postgres.url)
            _, granted = publish_to_postgres(
                str(serving.path), serving_postgres.url, PUBLISHED_TABLES, serving_postgres.reader_role
            )
            context.log.info(f"published to PostgreSQL {target}")
            if not granted:
                context.log.warning(
                    f"PostgreSQL role {serving_postgres.reader_role!r} does not exist: BI cannot read the "
                    "tables until it is created (docs/bi.md)"
                )
            for table in counts:
                locations[table].append(f"{target} :: {SERVING_SCHEMA}.{table}")
        for table, rows in counts.items():
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["published", table]),
                metadata={"dagster/row_count": rows, "locations": dg.MetadataValue.json(locations[table])},
            )

    return publish_kpis


def build_report_asset() -> dg.AssetsDefinition:
    """The KPI report: one static HTML page, drawn from the published tables after each publish."""

    @dg.asset(
        key=dg.AssetKey(["reports", "kpi_report"]),
        deps=[dg.AssetKey(["published", table]) for table in PUBLISHED_TABLES],
        group_name="published",
        kinds={"html"},
        description="A page of charts (MRR and movements, subscribers and churn, NPS, CSAT/CES, funnel, revenue "
        "and CPS, LTV, cohort retention) that opens without internet: `reports/kpi-report.html`.",
    )
    def kpi_report(context: dg.AssetExecutionContext, serving: ServingFile) -> dg.MaterializeResult:
        # Read the published copy, not the warehouse: the report shows what BI sees.
        with duckdb.connect(str(serving.path), read_only=True) as connection:
            path = write_report(connection, SERVING_SCHEMA, serving.report_path, currency=serving.currency)
        context.log.info(f"report written to {path}")
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size})

    return kpi_report
