"""Typed resources: how the code reaches source systems, the raw store and the warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import make_url

from loyalty_pipeline.names import checked_identifier, checked_partition_key


def redact_url(url: str) -> str:
    """A database URL with its password masked, fit for logs, metadata and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class ShopDatabase(dg.ConfigurableResource):
    """The shop's SQL database, reached through any SQLAlchemy URL."""

    url: str

    def create_engine(self) -> sa.Engine:
        return sa.create_engine(self.url)

    @property
    def display_url(self) -> str:
        return redact_url(self.url)


class LandingZone(dg.ConfigurableResource):
    """Where exported files land: a local folder or any fsspec URL (s3://, gcs://, ...)."""

    base_url: str


class RawStore(dg.ConfigurableResource):
    """Extracted raw data: one Parquet file per source table and partition day."""

    data_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir) / "raw"

    def table_dir(self, source: str, table: str) -> Path:
        return self.root / checked_identifier(source, "source") / checked_identifier(table, "table")

    def partition_path(self, source: str, table: str, partition_key: str) -> Path:
        return self.table_dir(source, table) / f"{checked_partition_key(partition_key)}.parquet"


# The Dagster concurrency pool of every step that opens the warehouse DuckDB file, which one
# process may write while no other has it open: config/dagster.yaml limits each pool to one
# step at a time across all runs of the instance, so two runs never open the file at once.
WAREHOUSE_POOL = "loyalty_warehouse"


class Warehouse(dg.ConfigurableResource):
    """The dbt-built warehouse and the variables every dbt invocation receives."""

    data_dir: str
    start_date: str = "2026-01-01"
    lookback_days: int = 35
    timezone: str = "UTC"
    disabled_sources: list[str] = Field(default_factory=list)

    @property
    def database_path(self) -> Path:
        """The DuckDB file dbt builds; only the dbt step writes it."""
        return Path(self.data_dir) / "warehouse" / "loyalty.duckdb"

    def dbt_vars(self) -> dict[str, object]:
        """dbt `--vars` every run gets; a run's partition window goes in `dbt_window` instead.

        The values are pasted into the models' SQL by dbt's templating, so they are checked here.
        """
        return {
            "start_date": checked_partition_key(self.start_date),
            "lookback_days": self.lookback_days,
            "reporting_timezone": self.timezone,
            "disabled_sources": sorted(self.disabled_sources),
        }

    @staticmethod
    def dbt_window(min_date: str, max_date: str) -> dict[str, str]:
        """The environment variables naming a run's first and last partition day (inclusive).

        Environment, not `--vars`: dbt re-parses the whole project when a var changes, as the
        window does every run, but only the files using an environment variable when it changes
        (macros/reporting_time.sql). Pasted into SQL too, so checked.
        """
        return {
            "LOYALTY_RUN_MIN_DATE": checked_partition_key(min_date),
            "LOYALTY_RUN_MAX_DATE": checked_partition_key(max_date),
        }

    @contextmanager
    def dbt_environment(self, min_date: str, max_date: str) -> Iterator[None]:
        """Expose the data folder and the run's window to the dbt subprocess.

        dagster-dbt hands its own environment to dbt, so these are set for the duration of
        the invocation. The data folder is made absolute: a relative path would resolve
        against the dbt project folder instead of the user's.
        """
        Path(self.data_dir, "warehouse").mkdir(parents=True, exist_ok=True)
        variables = {"LOYALTY_DATA_DIR": str(Path(self.data_dir).resolve()), **self.dbt_window(min_date, max_date)}
        previous = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class ClvModel(dg.ConfigurableResource):
    """The predicted-CLV step: where its files go, its discount rate and its check's threshold."""

    data_dir: str
    monthly_discount_rate: float = 0.01
    max_spend_frequency_correlation: float = 0.3

    @property
    def root(self) -> Path:
        return Path(self.data_dir) / "clv"

    def daily_path(self, day: str) -> Path:
        """The day's fit and mean predicted CLV (one row)."""
        return self.root / "daily" / f"{checked_partition_key(day)}.parquet"

    def customers_path(self, day: str) -> Path:
        """Every customer's summary and predictions as of the day (written for a run's last day)."""
        return self.root / "customers" / f"{checked_partition_key(day)}.parquet"


class DataQuality(dg.ConfigurableResource):
    """The quality gate: where suites, quarantine and Data Docs live, and its thresholds."""

    expectations_dir: str
    data_dir: str
    quarantine_max_share: float = 0.01
    upsell_rate_warn_above: float = 0.9
    volume_tolerance: float = 0.4
    volume_min_median: float = 200
    chunk_rows: int = 1_000_000

    @property
    def expectations_dir_path(self) -> Path:
        return Path(self.expectations_dir)

    def quarantine_path(self, source: str, table: str, partition_key: str) -> Path:
        return (
            Path(self.data_dir)
            / "quarantine"
            / checked_identifier(source, "source")
            / checked_identifier(table, "table")
            / f"{checked_partition_key(partition_key)}.parquet"
        )

    @property
    def docs_dir(self) -> Path:
        """Great Expectations Data Docs, built for every failed validation."""
        return Path(self.data_dir) / "quality" / "data_docs"

    @property
    def parameters(self) -> dict[str, float]:
        """Thresholds the suites refer to as `{"$PARAMETER": name}` (and their SQL as `$name`)."""
        return {
            "quarantine_max_share": self.quarantine_max_share,
            "upsell_rate_warn_above": self.upsell_rate_warn_above,
            # A day below (1 - tolerance) x its trailing median is an incident; above the
            # inverse, symmetric on a log scale, it is worth a warning.
            "volume_min_ratio": 1 - self.volume_tolerance,
            "volume_max_ratio": 1 / (1 - self.volume_tolerance),
            "volume_min_median": self.volume_min_median,
        }
