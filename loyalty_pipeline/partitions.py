"""The daily partitions every asset shares, and conversions of their windows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import dagster as dg


def daily_partitions(start_date: dt.date, timezone: str) -> dg.DailyPartitionsDefinition:
    """One partition per reporting day, from the configured start date up to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone=timezone)


def partition_days(window: dg.TimeWindow) -> list[dt.date]:
    """The reporting days a partition time window covers, in order."""
    first = window.start.date()
    count = (window.end.date() - first).days
    return [first + dt.timedelta(days=offset) for offset in range(count)]


def utc_bounds(window: dg.TimeWindow) -> tuple[dt.datetime, dt.datetime]:
    """The window as naive UTC datetimes, the form the source systems store."""
    utc = ZoneInfo("UTC")
    return (
        window.start.astimezone(utc).replace(tzinfo=None),
        window.end.astimezone(utc).replace(tzinfo=None),
    )


def chunks(start: dt.date, end: dt.date, days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive inclusive ranges of at most `days` days covering start..end."""
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=days - 1), end)
        yield first, last
        first = last + dt.timedelta(days=1)
