"""The quality gate end to end: bad inputs injected into generated sources, real Dagster runs.

Each scenario starts from a copy of a data folder whose whole period was published cleanly,
breaks the last day's input, re-runs that day, and asserts that the right check failed with
the right metadata, that publishing was blocked (the serving file unchanged to the byte) or
the rows quarantined, and that once the input is fixed a re-run publishes again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import http.server
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import pandas as pd
import pytest

from loyalty_pipeline.contract import load_contract
from loyalty_pipeline.errors import RunFailedError
from loyalty_pipeline.publish import PUBLISHED_TABLES
from loyalty_pipeline.quality.raw import extracted_rows, parquet_rows
from loyalty_pipeline.quality.suites import load_suite, raw_suite_name, suite_path, with_contract_expectations
from loyalty_pipeline.runner import dagster_instance, run_range
from loyalty_pipeline.sensors import AlertWebhook, alert_on_run_failure
from loyalty_pipeline.settings import Settings
from tests.helpers import SMALL, day, landing_file, source_settings

LAST = day(SMALL.start, SMALL.days - 1)


def _quiet(_: str) -> None:
    pass


def _settings(root: Path, **overrides: object) -> Settings:
    sources = root / "sources"
    return source_settings(root / "data", sources, SMALL.start, **overrides)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, small_sources: Path) -> Path:
    """Sources and a data folder after a clean run over the whole period, published."""
    root = tmp_path_factory.mktemp("baseline")
    shutil.copytree(small_sources, root / "sources")
    run_range(_settings(root), SMALL.start, LAST, chunk_days=SMALL.days, echo=_quiet)
    return root


@pytest.fixture
def workspace(baseline: Path, tmp_path: Path) -> Path:
    """A private copy of the baseline's sources and data folder, free to break."""
    root = tmp_path / "workspace"
    shutil.copytree(baseline, root)
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _published(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return {
            table: connection.execute(f"select * from kpi.{table} order by all").fetchall()
            for table in PUBLISHED_TABLES
        }


def _failed_run(settings: Settings) -> tuple[str, str]:
    """Re-run the last day, which must fail; return its run id and the error message."""
    with pytest.raises(RunFailedError) as failure:
        run_range(settings, LAST, LAST, echo=_quiet)
    run = dagster_instance(settings).get_runs(limit=1)[0]
    return run.run_id, str(failure.value)


def _check_evaluations(settings: Settings, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    records = (
        dagster_instance(settings)
        .get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        .records
    )
    evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    return {evaluation.asset_check_key.name: evaluation for evaluation in evaluations}


def _published_in_run(settings: Settings, run_id: str) -> bool:
    records = (
        dagster_instance(settings)
        .get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        .records
    )
    return any(record.event_log_entry.dagster_event.asset_key.path[0] == "published" for record in records)


def _metadata(evaluation: dg.AssetCheckEvaluation) -> dict[str, object]:
    return {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}


def _sessions_on(settings: Settings, when: dt.date) -> float:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return connection.execute(
            "select value from kpi.kpi_daily where date = ? and kpi = 'sessions' and segment_type = 'all'", [when]
        ).fetchone()[0]


# --- schema faults: the partition cannot be read; extraction fails, nothing downstream runs ---


# A fingerprint of the published kpi_daily: its row count and an order-independent hash sum.
VERSION_QUERY = "select count(*), sum(hash(date, kpi, segment_type, segment_value, value)) from kpi.kpi_daily"
READER = """
import duckdb, json, sys, time
from pathlib import Path
serving, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
held = duckdb.connect(str(serving), read_only=True)  # a BI tool holding its connection open
query = sys.argv[4]
reads, errors = [], []
while not stop.exists():
    try:
        with duckdb.connect(str(serving), read_only=True) as connection:  # a BI tool reconnecting
            reads.append(list(connection.execute(query).fetchone()))
        reads.append(list(held.execute(query).fetchone()))
    except Exception as error:
        errors.append(repr(error))
    time.sleep(0.05)
out.write_text(json.dumps({"reads": reads, "errors": errors}))
"""


@contextlib.contextmanager
def _reader(settings: Settings, tmp_path: Path) -> Iterator[dict]:
    """A separate process reading the serving file in a loop; yields its findings when stopped."""
    stop, out = tmp_path / "stop-reader", tmp_path / "reader.json"
    arguments = [str(settings.serving_path), str(stop), str(out), VERSION_QUERY]
    process = subprocess.Popen([sys.executable, "-c", READER, *arguments])
    findings: dict = {}
    try:
        yield findings
    finally:
        stop.touch()
        process.wait(timeout=60)
        findings.update(json.loads(out.read_text()))


def test_schema_faults_block_publishing_until_fixed_while_readers_hold_the_serving_file(
    workspace: Path, tmp_path: Path
) -> None:
    settings = _settings(workspace)
    with _reader(settings, tmp_path) as reader:
        _schema_faults_then_fix(settings)
    # The reader never failed, never blocked a run, and only ever saw the one complete version
    # (the fixed re-run publishes the same tables as the baseline).
    assert reader["errors"] == []
    assert len(reader["reads"]) > 10
    assert len({tuple(read) for read in reader["reads"]}) == 1


def _schema_faults_then_fix(settings: Settings) -> None:
    landing = settings.resolved_landing_dir
    sessions_file = landing_file(landing, "sessions", LAST, "parquet")
    tickets_file = landing_file(landing, "support_tickets", LAST)
    surveys_file = landing_file(landing, "surveys", LAST)
    originals = {path: path.read_bytes() for path in (sessions_file, tickets_file, surveys_file)}
    pd.read_parquet(sessions_file).drop(columns=["device"]).to_parquet(sessions_file)
    tickets = pd.read_csv(tickets_file, dtype=str)
    tickets.loc[0, "handling_cost"] = "three euros"
    tickets.to_csv(tickets_file, index=False)
    surveys_file.unlink()
    published_before = _digest(settings.serving_path)

    run_id, message = _failed_run(settings)

    assert "source web_analytics.sessions, partition 2026-01-21, column 'device': required column is missing" in message
    assert "source back_office.support_tickets, partition 2026-01-21, column 'handling_cost'" in message
    assert "'three euros'" in message
    assert "survey_tool.survey_responses, partition 2026-01-21" in message
    assert "surveys/2026-01-21" in message
    assert not _published_in_run(settings, run_id)
    assert _digest(settings.serving_path) == published_before

    for path, content in originals.items():
        path.write_bytes(content)
    expected = _published(settings)
    run_range(settings, LAST, LAST, echo=_quiet)
    assert _published(settings) == expected


# --- row faults: offending rows are quarantined with their rule; too many block the partition ---


def _break_rows(settings: Settings) -> None:
    """One bad row of each class in the last day's deliveries."""
    landing = settings.resolved_landing_dir
    sessions_file = landing_file(landing, "sessions", LAST, "parquet")
    sessions = pd.read_parquet(sessions_file)
    pd.concat([sessions, sessions.head(3)]).to_parquet(sessions_file)  # duplicate keys (3 of ~400: over 1 %)

    surveys_file = landing_file(landing, "surveys", LAST)
    earlier = pd.concat(pd.read_csv(path, dtype=str) for path in sorted(surveys_file.parent.glob("*.csv")))
    answer = (
        earlier[earlier["question"] == "satisfaction"]
        .head(1)
        .assign(response_id="r-bad-scale", score="9", responded_at=f"{LAST}T10:00:00Z")
    )
    pd.concat([pd.read_csv(surveys_file, dtype=str), answer]).to_csv(surveys_file, index=False)  # 9 on a 1-5 scale

    spend_file = landing_file(landing, "marketing_spend", LAST)
    spend = pd.read_csv(spend_file, dtype=str)
    spend.loc[0, "amount"] = "-50.00"  # a negative amount
    spend.to_csv(spend_file, index=False)

    tickets_file = landing_file(landing, "support_tickets", LAST)
    tickets = pd.read_csv(tickets_file, dtype=str)
    tickets.loc[0, "opened_at"] = "2099-01-01T00:00:00Z"  # a timestamp in the future
    tickets.to_csv(tickets_file, index=False)

    with sqlite3.connect(settings.resolved_shop_db_url.removeprefix("sqlite:///")) as shop:
        shop.execute(
            "update orders set status = 'lost', updated_at = ? where order_id = (select min(order_id) from orders)",
            (f"{LAST} 12:00:00.000000",),
        )  # an unknown status


BROKEN = {
    "web_analytics__sessions": ("web_analytics", "sessions", "is delivered once per partition", 6),
    "survey_tool__survey_responses": ("survey_tool", "survey_responses", "satisfaction (CSAT) scores", 1),
    "back_office__marketing_spend": ("back_office", "marketing_spend", "amount >= 0", 1),
    "back_office__support_tickets": ("back_office", "support_tickets", "opened_at is not in the future", 1),
    "shop__orders": ("shop", "orders", "status is one of completed, refunded, cancelled", 1),
}


def _version(settings: Settings) -> list:
    with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
        return list(connection.execute(VERSION_QUERY).fetchone())


def test_bad_rows_are_quarantined_and_too_many_block_publishing(workspace: Path, tmp_path: Path) -> None:
    settings = _settings(workspace)
    before = _version(settings)
    with _reader(settings, tmp_path) as reader:
        _bad_rows_scenario(settings)
    # Readers saw the old publication, then the new one, each whole: never a mix, never an error.
    assert reader["errors"] == []
    assert len(reader["reads"]) > 10
    assert {tuple(read) for read in reader["reads"]} <= {tuple(before), tuple(_version(settings))}
    assert before != _version(settings)


def _bad_rows_scenario(settings: Settings) -> None:
    _break_rows(settings)
    published_before = _digest(settings.serving_path)

    run_id, _ = _failed_run(settings)

    evaluations = _check_evaluations(settings, run_id)
    for check, (source, table, rule, rows) in BROKEN.items():
        evaluation = evaluations[check]
        metadata = _metadata(evaluation)
        assert not evaluation.passed, check
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert metadata["rule"].startswith("quarantined rows stay within the configured share"), check
        assert metadata["failed_partitions"] == LAST.isoformat()
        assert metadata["samples"][0]["partition"] == LAST.isoformat()

        quarantine = pd.read_parquet(settings.data_dir / "quarantine" / source / table / f"{LAST}.parquet")
        assert len(quarantine) == rows, check
        assert quarantine["_quarantine_rules"].str.contains(rule, regex=False).all(), check
        raw = settings.raw_dir / source / table / f"{LAST}.parquet"
        assert extracted_rows(raw) == parquet_rows(raw) + len(quarantine)  # nothing lost
    assert not _published_in_run(settings, run_id)
    assert _digest(settings.serving_path) == published_before

    # Under a looser threshold the same partition publishes, without the quarantined rows; a
    # soft rule that fails (upsell rate above a threshold set to 0 here) warns and does not block.
    sessions_before = _sessions_on(settings, LAST)
    tolerant = dataclasses.replace(settings, quarantine_max_share=1.0, upsell_rate_warn_above=0.0)
    run_range(tolerant, LAST, LAST, echo=_quiet)
    assert _sessions_on(tolerant, LAST) == sessions_before - 3  # both copies of each duplicate
    run_id = dagster_instance(tolerant).get_runs(limit=1)[0].run_id
    upsell = _check_evaluations(tolerant, run_id)["kpi_daily"]
    assert not upsell.passed
    assert upsell.severity == dg.AssetCheckSeverity.WARN
    assert _metadata(upsell)["rule"] == "an upsell rate close to 100 % means no new customers are coming"
    assert _published_in_run(tolerant, run_id)


# --- volume: a day with half its usual sessions is an incident; publishing stops, on-call is told ---


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Webhook.received = []
    yield f"http://127.0.0.1:{server.server_port}/hooks/loyalty"
    server.shutdown()


def test_half_the_sessions_fails_the_volume_check_and_alerts(workspace: Path, webhook: str) -> None:
    settings = _settings(workspace)
    sessions_file = landing_file(settings.resolved_landing_dir, "sessions", LAST, "parquet")
    usual = pd.Series([_sessions_on(settings, day(LAST, -offset)) for offset in range(1, 8)]).median()
    pd.read_parquet(sessions_file).iloc[: int(usual // 2)].to_parquet(sessions_file)  # half the usual day
    published_before = _digest(settings.serving_path)

    run_id, message = _failed_run(settings)

    evaluation = _check_evaluations(settings, run_id)["kpi_daily_volume"]
    metadata = _metadata(evaluation)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert metadata["column"] == "ratio_to_trailing_median"
    assert metadata["failed_partitions"] == LAST.isoformat()
    assert metadata["samples"][0]["measure"] == "sessions"
    assert metadata["unexpected_count"] >= 1
    assert Path(metadata["data_docs"]).is_file()
    assert "kpi_daily_volume" in message
    assert not _published_in_run(settings, run_id)
    assert _digest(settings.serving_path) == published_before

    instance = dagster_instance(settings)
    run = instance.get_run_by_id(run_id)
    failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure.event_log_entry.dagster_event,
        resources={"alert_webhook": AlertWebhook(url=webhook, ui_url="http://dagster.internal:3000")},
    ).for_run_failure()
    alert_on_run_failure(context)

    (alert,) = _Webhook.received
    assert "loyalty_daily" in alert["text"]
    assert f"partitions {LAST}" in alert["text"]
    assert "kpi_daily:kpi_daily_volume (ERROR)" in alert["text"]
    assert f"http://dagster.internal:3000/runs/{run_id}" in alert["text"]


# --- the suites themselves ---


def test_raw_suites_follow_the_source_contract(settings: Settings) -> None:
    for table in load_contract(settings.dbt_project_dir):
        path = suite_path(settings.expectations_dir, "raw", raw_suite_name(table))
        document = json.loads(path.read_text())
        assert with_contract_expectations(document, table) == document, f"{path}: run `loyalty-pipeline suites`"


def test_every_published_table_has_a_suite(settings: Settings) -> None:
    tables = {load_suite(path).meta["table"] for path in (settings.expectations_dir / "published").glob("*.json")}
    assert tables == set(PUBLISHED_TABLES)
