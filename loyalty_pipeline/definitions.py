"""The Dagster code location: assembles the assets of each concern and binds resources."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
from dagster_dbt import DbtCliResource

from loyalty_pipeline.contract import load_contract
from loyalty_pipeline.jobs import loyalty_daily_job
from loyalty_pipeline.partitions import daily_partitions
from loyalty_pipeline.predicted_clv import build_clv_assets
from loyalty_pipeline.publish import ServingFile, build_publish_assets, build_report_asset
from loyalty_pipeline.quality.checks import published_checks, raw_check
from loyalty_pipeline.resources import ClvModel, DataQuality, LandingZone, RawStore, ShopDatabase, Warehouse
from loyalty_pipeline.schedules import daily_schedule
from loyalty_pipeline.sensors import AlertWebhook, alert_on_run_failure, close_runs_of_killed_commands_sensor
from loyalty_pipeline.serving_postgres import ServingPostgres
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.sources.landing import landing_assets
from loyalty_pipeline.sources.shop import shop_assets
from loyalty_pipeline.transform import build_dbt_assets, dbt_executable, dbt_project

# Single-run backfills of partition ranges are what keeps a 180-day backfill to a few runs,
# and partitioned checks are what lets a check judge exactly the run's partition range.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every asset, job and resource of the pipeline for these settings."""
    partitions_def = daily_partitions(settings.start_date, settings.timezone)
    tables = [table for table in load_contract(settings.dbt_project_dir) if settings.is_enabled(table.source)]
    project = dbt_project(settings.dbt_project_dir)
    assets = [
        *shop_assets([table for table in tables if table.source == "shop"], partitions_def),
        *landing_assets([table for table in tables if table.source != "shop"], partitions_def),
        *build_dbt_assets(project, partitions_def),
        build_clv_assets(partitions_def),
        build_publish_assets(
            dg.FreshnessPolicy.time_window(
                fail_window=dt.timedelta(hours=settings.freshness_fail_hours),
                warn_window=dt.timedelta(hours=settings.freshness_warn_hours),
            ),
        ),
        build_report_asset(),
    ]
    job = loyalty_daily_job(partitions_def)
    asset_checks = [
        *(raw_check(table, partitions_def, settings.expectations_dir) for table in tables),
        *published_checks(partitions_def, settings.expectations_dir),
    ]
    data_dir = str(settings.data_dir)
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks,
        jobs=[job],
        schedules=[daily_schedule(job, settings.schedule_time, settings.schedule_enabled)],
        sensors=[alert_on_run_failure, close_runs_of_killed_commands_sensor],
        resources={
            "shop_db": ShopDatabase(
                url=dg.EnvVar(settings.shop_db_url_env_var)
                if settings.shop_db_url_env_var
                else settings.resolved_shop_db_url
            ),
            "landing_zone": LandingZone(base_url=settings.resolved_landing_dir),
            "raw_store": RawStore(data_dir=data_dir),
            "warehouse": Warehouse(
                data_dir=data_dir,
                start_date=settings.start_date.isoformat(),
                lookback_days=settings.lookback_days,
                timezone=settings.timezone,
                disabled_sources=sorted(settings.disabled_sources),
            ),
            "data_quality": DataQuality(
                expectations_dir=str(settings.expectations_dir),
                data_dir=data_dir,
                quarantine_max_share=settings.quarantine_max_share,
                upsell_rate_warn_above=settings.upsell_rate_warn_above,
                volume_tolerance=settings.volume_tolerance,
                volume_min_median=settings.volume_min_median,
                chunk_rows=settings.validation_chunk_rows,
            ),
            "clv_model": ClvModel(
                data_dir=data_dir,
                monthly_discount_rate=settings.clv_monthly_discount_rate,
                max_spend_frequency_correlation=settings.clv_max_spend_frequency_correlation,
            ),
            "serving": ServingFile(data_dir=data_dir, currency=settings.currency),
            "serving_postgres": ServingPostgres(
                url=dg.EnvVar(settings.serving_postgres_url_env_var)
                if settings.serving_postgres_url_env_var
                else settings.serving_postgres_url,
                reader_role=settings.serving_postgres_reader_role,
            ),
            "alert_webhook": AlertWebhook(
                url=dg.EnvVar(settings.alert_webhook_url_env_var)
                if settings.alert_webhook_url_env_var
                else settings.alert_webhook_url,
                ui_url=settings.ui_url,
            ),
            "dbt": DbtCliResource(project_dir=project, dbt_executable=dbt_executable()),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev -w workspace.yaml`: settings come from the environment."""
    return build_definitions(Settings.from_env())
