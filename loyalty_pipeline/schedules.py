"""Schedules: the daily run of yesterday's partition."""

from __future__ import annotations

import dagster as dg

DAILY_SCHEDULE = "loyalty_daily_schedule"


def daily_schedule(job: dg.UnresolvedAssetJobDefinition, time_of_day: str, enabled: bool) -> dg.ScheduleDefinition:
    """Materialise the partition of the day that just ended, at time_of_day (HH:MM) in the reporting time zone.

    Each run restates the lookback window before its partition in dbt, so late records of
    the previous weeks are picked up without re-running those partitions.
    """
    hour, minute = (int(part) for part in time_of_day.split(":"))
    return dg.build_schedule_from_partitioned_job(
        job,
        name=DAILY_SCHEDULE,
        hour_of_day=hour,
        minute_of_hour=minute,
        default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED,
        description=f"Yesterday's partition every day at {time_of_day} (LOYALTY_SCHEDULE_TIME), reporting time zone.",
    )
