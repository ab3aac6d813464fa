"""Deployment settings, read once from environment variables.

Every setting the pipeline has comes through here, so that a deployment is described by
its environment (see `.env.example`) and tests can build settings for a temporary folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from loyalty_pipeline.errors import SettingsError

SOURCE_SYSTEMS = ("shop", "web_analytics", "survey_tool", "back_office")

# The dbt project ships beside the package in this repository; a deployment that installs
# the package elsewhere points LOYALTY_DBT_PROJECT_DIR at its copy.
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_DBT_PROJECT_DIR = REPOSITORY_ROOT / "dbt_project"
# The Dagster instance settings `make dev` and the command line share.
INSTANCE_TEMPLATE = REPOSITORY_ROOT / "config" / "dagster.yaml"
REPOSITORY_EXPECTATIONS_DIR = REPOSITORY_ROOT / "expectations"

DEFAULT_START_DATE = dt.date(2026, 1, 1)
DEFAULT_LOOKBACK_DAYS = 35


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes, and how it reports."""

    data_dir: Path
    shop_db_url: str | None = None
    landing_dir: str | None = None
    start_date: dt.date = DEFAULT_START_DATE
    timezone: str = "UTC"
    currency: str = "EUR"
    disabled_sources: frozenset[str] = field(default_factory=frozenset)
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    dbt_project_dir: Path = REPOSITORY_DBT_PROJECT_DIR
    # Set when the shop URL came from the environment: Dagster then holds a reference to the
    # variable, not the URL, so a password in it never reaches the UI or run configuration.
    shop_db_url_env_var: str | None = None
    expectations_dir: Path = REPOSITORY_EXPECTATIONS_DIR
    # The quality gate's thresholds (docs/runbook.md explains each).
    quarantine_max_share: float = 0.01
    upsell_rate_warn_above: float = 0.9
    volume_tolerance: float = 0.4
    volume_min_median: float = 200
    validation_chunk_rows: int = 1_000_000
    # Predicted CLV (docs/clv.md): the monthly discount rate of the 12-month CLV, and the
    # |correlation| of purchase frequency and spend above which its fit check warns.
    clv_monthly_discount_rate: float = 0.01
    clv_max_spend_frequency_correlation: float = 0.3
    # Run-failure alerts: a Slack-compatible webhook (a secret, held like the shop URL) and
    # the Dagster UI address the alert links to.
    alert_webhook_url: str | None = None
    alert_webhook_url_env_var: str | None = None
    ui_url: str = "http://127.0.0.1:3000"
    # Publishing to PostgreSQL for BI (a secret URL, held like the shop URL), and the read-only role.
    serving_postgres_url: str | None = None
    serving_postgres_url_env_var: str | None = None
    serving_postgres_reader_role: str = "loyalty_bi"
    # The daily schedule (off by default: the demo's sources end in the past) and how old the
    # published tables may get before Dagster shows them as stale.
    schedule_time: str = "06:00"
    schedule_enabled: bool = False
    freshness_warn_hours: float = 26
    freshness_fail_hours: float = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        object.__setattr__(self, "dbt_project_dir", Path(self.dbt_project_dir).resolve())
        object.__setattr__(self, "expectations_dir", Path(self.expectations_dir).resolve())
        try:
            ZoneInfo(self.timezone)
        except Exception as error:
            raise SettingsError(f"LOYALTY_TIMEZONE={self.timezone!r} is not an IANA time zone") from error
        unknown = self.disabled_sources - set(SOURCE_SYSTEMS)
        if unknown:
            raise SettingsError(
                f"LOYALTY_DISABLED_SOURCES names unknown source systems {sorted(unknown)}; "
                f"known: {', '.join(SOURCE_SYSTEMS)}"
            )
        if self.lookback_days < 0:
            raise SettingsError("LOYALTY_LOOKBACK_DAYS must be >= 0")
        for name, value in (
            ("LOYALTY_QUARANTINE_MAX_SHARE", self.quarantine_max_share),
            ("LOYALTY_UPSELL_WARN_ABOVE", self.upsell_rate_warn_above),
        ):
            if not 0 <= value <= 1:
                raise SettingsError(f"{name} must be a fraction in [0, 1], not {value}")
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.schedule_time):
            raise SettingsError(f"LOYALTY_SCHEDULE_TIME must be HH:MM, not {self.schedule_time!r}")
        if not 0 < self.freshness_warn_hours <= self.freshness_fail_hours:
            raise SettingsError("LOYALTY_FRESHNESS_WARN_HOURS must be > 0 and <= LOYALTY_FRESHNESS_FAIL_HOURS")
        if not 0 < self.volume_tolerance < 1:
            raise SettingsError(f"LOYALTY_VOLUME_TOLERANCE must be in (0, 1), not {self.volume_tolerance}")
        if not 0 <= self.clv_monthly_discount_rate < 1:
            raise SettingsError(
                f"LOYALTY_CLV_MONTHLY_DISCOUNT_RATE must be in [0, 1), not {self.clv_monthly_discount_rate}"
            )
        if not 0 <= self.clv_max_spend_frequency_correlation <= 1:
            raise SettingsError(
                "LOYALTY_CLV_MAX_SPEND_FREQUENCY_CORRELATION must be in [0, 1], "
                f"not {self.clv_max_spend_frequency_correlation}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `LOYALTY_*` environment variables, with documented defaults."""
        env = os.environ if environ is None else environ
        disabled = {name.strip() for name in env.get("LOYALTY_DISABLED_SOURCES", "").split(",")}
        try:
            start_date = dt.date.fromisoformat(env.get("LOYALTY_START_DATE", DEFAULT_START_DATE.isoformat()))
        except ValueError as error:
            raise SettingsError(f"LOYALTY_START_DATE must be a date YYYY-MM-DD: {error}") from error
        return cls(
            data_dir=Path(env.get("LOYALTY_DATA_DIR", "data")),
            shop_db_url=env.get("LOYALTY_SHOP_DB_URL") or None,
            landing_dir=env.get("LOYALTY_LANDING_DIR") or None,
            start_date=start_date,
            timezone=env.get("LOYALTY_TIMEZONE", "UTC"),
            currency=env.get("LOYALTY_CURRENCY", "EUR"),
            disabled_sources=frozenset(disabled - {""}),
            lookback_days=int(env.get("LOYALTY_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS)),
            dbt_project_dir=Path(env.get("LOYALTY_DBT_PROJECT_DIR", REPOSITORY_DBT_PROJECT_DIR)),
            shop_db_url_env_var="LOYALTY_SHOP_DB_URL" if env.get("LOYALTY_SHOP_DB_URL") else None,
            expectations_dir=Path(env.get("LOYALTY_EXPECTATIONS_DIR", REPOSITORY_EXPECTATIONS_DIR)),
            quarantine_max_share=_number(env, "LOYALTY_QUARANTINE_MAX_SHARE", 0.01),
            upsell_rate_warn_above=_number(env, "LOYALTY_UPSELL_WARN_ABOVE", 0.9),
            volume_tolerance=_number(env, "LOYALTY_VOLUME_TOLERANCE", 0.4),
            volume_min_median=_number(env, "LOYALTY_VOLUME_MIN_MEDIAN", 200),
            validation_chunk_rows=int(_number(env, "LOYALTY_VALIDATION_CHUNK_ROWS", 1_000_000)),
            clv_monthly_discount_rate=_number(env, "LOYALTY_CLV_MONTHLY_DISCOUNT_RATE", 0.01),
            clv_max_spend_frequency_correlation=_number(env, "LOYALTY_CLV_MAX_SPEND_FREQUENCY_CORRELATION", 0.3),
            alert_webhook_url=env.get("LOYALTY_ALERT_WEBHOOK_URL") or None,
            alert_webhook_url_env_var="LOYALTY_ALERT_WEBHOOK_URL" if env.get("LOYALTY_ALERT_WEBHOOK_URL") else None,
            ui_url=env.get("LOYALTY_UI_URL", "http://127.0.0.1:3000"),
            serving_postgres_url=env.get("LOYALTY_SERVING_POSTGRES_URL") or None,
            serving_postgres_url_env_var=(
                "LOYALTY_SERVING_POSTGRES_URL" if env.get("LOYALTY_SERVING_POSTGRES_URL") else None
            ),
            serving_postgres_reader_role=env.get("LOYALTY_SERVING_POSTGRES_READER_ROLE", "loyalty_bi"),
            schedule_time=env.get("LOYALTY_SCHEDULE_TIME", "06:00"),
            schedule_enabled=env.get("LOYALTY_SCHEDULE_ENABLED", "false").strip().lower() in ("1", "true", "yes"),
            freshness_warn_hours=_number(env, "LOYALTY_FRESHNESS_WARN_HOURS", 26),
            freshness_fail_hours=_number(env, "LOYALTY_FRESHNESS_FAIL_HOURS", 30),
        )

    @property
    def demo_sources_dir(self) -> Path:
        """Where `loyalty-pipeline demo` writes the generated source systems."""
        return self.data_dir / "sources"

    @property
    def resolved_shop_db_url(self) -> str:
        return self.shop_db_url or f"sqlite:///{self.demo_sources_dir / 'shop.sqlite'}"

    @property
    def resolved_landing_dir(self) -> str:
        return self.landing_dir or str(self.demo_sources_dir / "landing")

    @property
    def raw_dir(self) -> Path:
        """Extracted raw data: one Parquet file per source table and partition day."""
        return self.data_dir / "raw"

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file dbt builds; only the dbt step writes it."""
        return self.data_dir / "warehouse" / "loyalty.duckdb"

    @property
    def quarantine_dir(self) -> Path:
        """Rows that broke a row-level rule, per source table and partition, with the rules."""
        return self.data_dir / "quarantine"

    @property
    def clv_dir(self) -> Path:
        """The predicted-CLV step's files: `daily/<day>.parquet` and `customers/<day>.parquet`."""
        return self.data_dir / "clv"

    @property
    def serving_path(self) -> Path:
        """The published KPI tables BI tools read (schema `kpi`), replaced atomically by each publish."""
        return self.data_dir / "serving" / "kpis.duckdb"

    @property
    def report_path(self) -> Path:
        """The KPI report page, rewritten after each publish."""
        return self.data_dir / "reports" / "kpi-report.html"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    def is_enabled(self, source_system: str) -> bool:
        return source_system not in self.disabled_sources


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError as error:
        raise SettingsError(f"{name} must be a number, not {env[name]!r}") from error
