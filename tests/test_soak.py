"""Soak: 60 simulated days of daily runs, with late records and bad files, equal a rebuild from scratch.

The shop database is replayed: before each day's run it holds what the live shop held at the
end of that day (`generator.shop_as_of`: records appear when created and change when
updated). The landing zone holds each day's export. Late records: sessions re-delivered,
changed, up to 10 days after their day (as well as the generator's own refunds, up to two
weeks after the order, and accounts and subscriptions changed later). Bad files: on some
days an export is missing a column, delivers keys twice, or has not arrived; the
run fails, nothing is published, then the file is fixed (as on-call would) and the day
re-run. At the end, every published table equals that of one run over the whole period on
the final sources, in a fresh data folder. Along the way, open files, the data folder and
the Dagster instance's storage must not grow faster than the data does.
"""

import datetime as dt
import hashlib
import math
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from loyalty_pipeline.errors import RunFailedError
from loyalty_pipeline.generator import GeneratorConfig, generate_sources, write_shop_as_of, write_sources
from loyalty_pipeline.publish import PUBLISHED_TABLES
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.settings import Settings
from tests.helpers import landing_file, source_settings

pytestmark = pytest.mark.slow

# LOYALTY_SOAK_DAYS shortens the soak for a quick local try; CI runs the 60 days.
DAYS = int(os.environ.get("LOYALTY_SOAK_DAYS", "60"))
CONFIG = GeneratorConfig(customers=150, days=DAYS, seed=5, start=dt.date(2026, 1, 1))
LAST = CONFIG.start + dt.timedelta(days=DAYS - 1)
REDELIVERED_SESSIONS = 12
MAX_SESSION_DELAY_DAYS = 10


def _quiet(_: str) -> None:
    pass


def _settings(root: Path) -> Settings:
    return source_settings(root / "data", root / "sources", CONFIG.start)


def _redeliver_sessions(landing: Path, rng: random.Random) -> None:
    """Copy sessions of random days into a later day's export, changed (one more page view).

    Each is a different session, and never one the later export already holds: a key
    delivered twice in one export is a fault the quality gate quarantines, not a late record.
    """
    redelivered: set[str] = set()
    while len(redelivered) < REDELIVERED_SESSIONS:
        day = CONFIG.start + dt.timedelta(days=rng.randrange(DAYS - 1))
        later = min(day + dt.timedelta(days=rng.randint(1, MAX_SESSION_DELAY_DAYS)), LAST)
        source = landing_file(str(landing), "sessions", day, "parquet")
        target = landing_file(str(landing), "sessions", later, "parquet")
        delivered = pd.read_parquet(target)
        candidates = pd.read_parquet(source)
        candidates = candidates[~candidates["session_id"].isin([*delivered["session_id"], *redelivered])]
        if candidates.empty:
            continue
        changed = candidates.sample(1, random_state=rng.randrange(2**32))
        changed = changed.assign(pageviews=changed["pageviews"] + 1)
        pd.concat([delivered, changed], ignore_index=True).to_parquet(target, index=False)
        redelivered.add(changed["session_id"].iloc[0])


def _drop_column(path: Path) -> None:
    pd.read_parquet(path).drop(columns=["visitor_id"]).to_parquet(path, index=False)


def _duplicate_keys(path: Path) -> None:
    """One session in twenty delivered twice: quarantined, and far beyond the allowed share."""
    sessions = pd.read_parquet(path)
    twice = sessions.head(max(1, len(sessions) // 20))
    pd.concat([sessions, twice], ignore_index=True).to_parquet(path, index=False)


def _not_arrived(path: Path) -> None:
    path.unlink()


# Day number -> (landing folder, extension, how the export is broken).
BAD_FILES: dict[int, tuple[str, str, Callable[[Path], None]]] = {
    DAYS // 3: ("sessions", "parquet", _drop_column),
    DAYS // 2: ("sessions", "parquet", _duplicate_keys),
    (4 * DAYS) // 5: ("support_tickets", "csv", _not_arrived),
}


def _published(settings: Settings) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return {table: connection.execute(f"select * from kpi.{table} order by all").df() for table in PUBLISHED_TABLES}


def _tree_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_equal(daily: pd.DataFrame, rebuilt: pd.DataFrame, table: str) -> None:
    assert list(daily.columns) == list(rebuilt.columns), table
    assert len(daily) == len(rebuilt), table
    for column in daily.columns:
        for row, (left, right) in enumerate(zip(daily[column], rebuilt[column], strict=True)):
            if isinstance(left, float) and isinstance(right, float):
                same = (math.isnan(left) and math.isnan(right)) or math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
            else:
                same = (pd.isna(left) and pd.isna(right)) or left == right
            assert same, f"{table}.{column} row {row}: daily {left!r} != rebuilt {right!r}"


def test_sixty_daily_runs_with_late_records_and_bad_files_equal_a_rebuild(tmp_path: Path) -> None:
    data = generate_sources(CONFIG)
    live = tmp_path / "live"
    write_sources(data, live / "sources")
    _redeliver_sessions(live / "sources" / "landing", random.Random(CONFIG.seed))
    settings = _settings(live)
    shop_url = settings.resolved_shop_db_url

    open_files, data_bytes, instance_bytes = [], [], []
    for number in range(DAYS):
        day = CONFIG.start + dt.timedelta(days=number)
        write_shop_as_of(data, shop_url, dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
        if number in BAD_FILES:
            folder, extension, breaks = BAD_FILES[number]
            path = landing_file(settings.resolved_landing_dir, folder, day, extension)
            original = path.read_bytes()
            published = _digest(settings.serving_path)
            breaks(path)
            with pytest.raises(RunFailedError):
                run_range(settings, day, day, echo=_quiet)
            assert _digest(settings.serving_path) == published  # nothing published from a bad day
            path.write_bytes(original)  # on-call fixes the export and re-runs the day
        run_range(settings, day, day, echo=_quiet)
        open_files.append(_open_files())
        data_bytes.append(_tree_bytes(settings.data_dir) - _tree_bytes(settings.dagster_home))
        instance_bytes.append(_tree_bytes(settings.dagster_home))

    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(live / "sources", rebuilt / "sources")  # the live shop now holds every final version
    rebuilt_settings = _settings(rebuilt)
    run_range(rebuilt_settings, CONFIG.start, LAST, chunk_days=DAYS, echo=_quiet)
    daily_tables, rebuilt_tables = _published(settings), _published(rebuilt_settings)
    for table in PUBLISHED_TABLES:
        _assert_equal(daily_tables[table], rebuilt_tables[table], table)

    # Bounded: no file handle leaks across runs; the data folder and the instance grow by
    # about the same each day (a day's data, a run's events), not by more as days pass.
    assert open_files[-1] <= open_files[4] + 5, open_files
    third = DAYS // 3
    for name, sizes in (("data folder", data_bytes), ("Dagster instance", instance_bytes)):
        early = (sizes[third] - sizes[0]) / third
        late = (sizes[-1] - sizes[-1 - third]) / third
        assert late <= 1.5 * early + 256 * 1024, f"{name} grows {late:.0f} B/day late vs {early:.0f} early: {sizes}"
    leftovers = [path for path in settings.data_dir.rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == []
