"""Security: secrets never leak, the UI listens on localhost, hostile names never reach SQL.

See docs/reliability.md, section "Security", for what each test proves.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.server
import io
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import psycopg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_shared.serdes import serialize_value
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from loyalty_pipeline import cli
from loyalty_pipeline.contract import load_contract
from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.errors import UnsafeNameError
from loyalty_pipeline.generator import generate
from loyalty_pipeline.jobs import LOYALTY_DAILY_JOB
from loyalty_pipeline.names import checked_partition_key
from loyalty_pipeline.resources import ClvModel, DataQuality, RawStore, Warehouse
from loyalty_pipeline.runner import dagster_instance, run_range
from loyalty_pipeline.sensors import alert_on_run_failure
from loyalty_pipeline.serving_postgres import conninfo, publish_to_postgres
from loyalty_pipeline.settings import REPOSITORY_ROOT, Settings
from tests.helpers import SMALL, day

HOSTILE_PARTITION_KEYS = ["2026-01-01'; drop table kpi_daily; --", "../../etc/passwd", "2026-02-30", "2026-1-1"]


# --- hostile names and partition keys never reach SQL or a path ----------------------------------


def _contract_copy(tmp_path: Path, old: str, new: str) -> Path:
    """A dbt project folder whose shop source file has `old` replaced by `new`."""
    project = tmp_path / "dbt_project"
    shutil.copytree(Settings.from_env({}).dbt_project_dir / "models" / "staging", project / "models" / "staging")
    sources = project / "models" / "staging" / "shop" / "_shop__sources.yml"
    text = sources.read_text()
    assert old in text
    sources.write_text(text.replace(old, new, 1))
    return project


@pytest.mark.parametrize(
    ("old", "new", "rejected"),
    [
        ("- name: orders\n", '- name: "orders; drop table customers --"\n', "orders; drop table customers --"),
        ("- name: customer_id\n", "- name: 'customer_id\"\"; drop table x'\n", 'customer_id""; drop table x'),
        ("parent: orders", 'parent: "orders where 1=1"', "orders where 1=1"),
    ],
)
def test_a_contract_with_a_hostile_name_is_rejected_with_the_file_named(
    tmp_path: Path, old: str, new: str, rejected: str
) -> None:
    project = _contract_copy(tmp_path, old, new)

    with pytest.raises(UnsafeNameError) as error:
        load_contract(project)

    assert "_shop__sources.yml" in str(error.value)
    assert repr(rejected) in str(error.value)


def test_a_hostile_table_name_never_runs_against_the_shop_database(settings: Settings) -> None:
    """A contract table renamed to SQL fails before any query: the shop database keeps every table."""
    (orders,) = [table for table in load_contract(settings.dbt_project_dir) if table.name == "orders"]
    shop = make_url(settings.resolved_shop_db_url).database
    before = _sqlite_tables(shop)

    with pytest.raises(UnsafeNameError, match="not a plain identifier"):
        dataclasses.replace(orders, name="orders; drop table customers --")
    with pytest.raises(UnsafeNameError, match="landing_path"):
        dataclasses.replace(orders, delivery="file_day", landing_path="../../etc")

    assert "customers" in before
    assert _sqlite_tables(shop) == before


def _sqlite_tables(path: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return {name for (name,) in connection.execute("select name from sqlite_master where type = 'table'")}


@pytest.mark.parametrize("key", HOSTILE_PARTITION_KEYS)
def test_a_hostile_partition_key_is_rejected_where_it_would_enter_a_path_or_sql(tmp_path: Path, key: str) -> None:
    with pytest.raises(UnsafeNameError, match="not a day YYYY-MM-DD"):
        checked_partition_key(key)
    with pytest.raises(UnsafeNameError):
        RawStore(data_dir=str(tmp_path)).partition_path("shop", "orders", key)
    with pytest.raises(UnsafeNameError):
        DataQuality(expectations_dir=str(tmp_path), data_dir=str(tmp_path)).quarantine_path("shop", "orders", key)
    with pytest.raises(UnsafeNameError):
        ClvModel(data_dir=str(tmp_path)).daily_path(key)
    with pytest.raises(UnsafeNameError):  # dbt pastes these into the models' SQL
        Warehouse.dbt_window("2026-01-01", key)
    with pytest.raises(UnsafeNameError):
        Warehouse(data_dir=str(tmp_path), start_date=key).dbt_vars()
    with pytest.raises(UnsafeNameError):
        RawStore(data_dir=str(tmp_path)).partition_path("shop", "../orders", "2026-01-01")
    assert list(tmp_path.iterdir()) == []


def _digests(folder: Path) -> dict[str, str]:
    """Every file's content hash, except the Dagster instance's own storage."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "dagster_home" not in path.parts
    }


def test_a_run_for_a_hostile_partition_key_does_not_start(settings: Settings) -> None:
    """Through the real job: a hostile key or range is refused before any step, so nothing changes."""
    run_range(settings, SMALL.start, day(SMALL.start, 1), echo=lambda _: None)
    files, instance = _digests(settings.data_dir), dagster_instance(settings)
    runs = len(instance.get_runs())
    job = build_definitions(settings).resolve_job_def(LOYALTY_DAILY_JOB)

    for key in HOSTILE_PARTITION_KEYS[:2]:
        with pytest.raises(dg.DagsterUnknownPartitionError):
            job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
        range_tags = {ASSET_PARTITION_RANGE_START_TAG: SMALL.start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: key}
        with pytest.raises(ValueError, match="does not match format"):
            job.execute_in_process(instance=instance, tags=range_tags, raise_on_error=False)

    assert len(instance.get_runs()) == runs
    assert _digests(settings.data_dir) == files
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        (rows,) = connection.execute("select count(*) from kpi_daily").fetchone()
    assert rows > 0


@pytest.mark.postgres
@pytest.mark.parametrize(
    "hostile", ['kpi_daily"; drop table kpi.sentinel; --', "kpi_daily; drop table kpi.sentinel", "Kpi_Daily"]
)
def test_a_hostile_published_table_name_is_rejected_before_postgres_runs_anything(
    tmp_path: Path, serving_database: tuple[str, str, str], hostile: str
) -> None:
    url, _, role = serving_database
    serving = str(tmp_path / "kpis.duckdb")
    with duckdb.connect(serving) as connection:
        connection.execute("create schema kpi")
        connection.execute("create table kpi.kpi_daily as select 1 as x")
    publish_to_postgres(serving, url, ["kpi_daily"], role)  # the same call with a plain name publishes
    with psycopg.connect(conninfo(url), autocommit=True) as pg:
        pg.execute("create table kpi.sentinel as select 1 as x")
        pg.execute("insert into kpi.kpi_daily values (2)")

    with pytest.raises(UnsafeNameError, match="published table"):
        publish_to_postgres(serving, url, ["kpi_daily", hostile], role)

    with psycopg.connect(conninfo(url)) as pg:
        tables = pg.execute("select table_name from information_schema.tables where table_schema = 'kpi'").fetchall()
        rows = pg.execute("select x from kpi.kpi_daily order by x").fetchall()
    assert sorted(tables) == [("kpi_daily",), ("sentinel",)]
    assert rows == [(1,), (2,)], "kpi_daily was not even replaced: nothing ran"


# --- secrets: run the pipeline with secrets set, then search every output -------------------------


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        _Webhook.received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.send_response(_Webhook.status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@dataclasses.dataclass
class SecretRun:
    """What a pipeline run with secrets set left behind, and the secrets to look for."""

    root: Path
    settings: Settings
    secrets: dict[str, str]
    environment: dict[str, str]  # the variables of the good run
    outputs: dict[str, str]  # captured console output, log records, raised errors, alert bodies
    started: float


def _pg_url(admin_url: str, user: str, password: str, database: str) -> str:
    base = make_url(admin_url)
    return URL.create(
        "postgresql+psycopg", username=user, password=password, host=base.host, port=base.port, database=database
    ).render_as_string(hide_password=False)


@contextlib.contextmanager
def _captured(path: Path) -> Iterator[logging.Handler]:
    """Everything written to stdout and stderr, by Python or by child processes, and every log record."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("dagster")]
    saved = [os.dup(1), os.dup(2)]
    with path.open("w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield handler
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
            sink.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _alert(settings: Settings, errors: list[str]) -> None:
    """Evaluate the failure sensor on the latest run, with the webhook resource the project binds."""
    instance = dagster_instance(settings)
    run = instance.get_runs(limit=1)[0]
    failure = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[0]
    resources = build_definitions(Settings.from_env()).resources
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure.event_log_entry.dagster_event,
        resources={"alert_webhook": resources["alert_webhook"]},
    ).for_run_failure()
    try:
        alert_on_run_failure(context)
    except Exception:
        errors.append(traceback.format_exc())


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[SecretRun]:
    """The pipeline run with every secret set: a PostgreSQL shop, PostgreSQL serving and warehouse, a webhook.

    Three runs (one good, one whose shop database is missing, one whose serving database is
    missing), the alert sensor on both failures (the webhook answering 200, then 500), and
    `load-postgres` (once good, once failing). Each PostgreSQL role has its own password.
    """
    root = tmp_path_factory.mktemp("secrets")
    suffix = secrets.token_hex(4)
    database = f"loyalty_secrets_{suffix}"
    passwords = {role: f"pw:{secrets.token_hex(10)}@/%#?" for role in ("shop", "publisher", "warehouse")}
    roles = {role: f"loyalty_{role}_{suffix}" for role in passwords}
    with psycopg.connect(conninfo(postgres_url), autocommit=True) as admin:
        for role, name in roles.items():
            admin.execute(
                sql.SQL("create role {} login password {}").format(sql.Identifier(name), sql.Literal(passwords[role]))
            )
        admin.execute(
            sql.SQL("create database {} owner {}").format(sql.Identifier(database), sql.Identifier(roles["shop"]))
        )
        for role in ("publisher", "warehouse"):
            admin.execute(
                sql.SQL("grant create on database {} to {}").format(
                    sql.Identifier(database), sql.Identifier(roles[role])
                )
            )
    urls = {role: _pg_url(postgres_url, roles[role], passwords[role], database) for role in roles}
    missing = {role: _pg_url(postgres_url, roles[role], passwords[role], f"{database}_missing") for role in roles}
    token = secrets.token_urlsafe(24)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received, _Webhook.status = [], 200
    webhook_url = f"http://127.0.0.1:{server.server_port}/services/{token}"
    pg = make_url(urls["warehouse"])
    environment = {
        "LOYALTY_DATA_DIR": str(root / "data"),
        "LOYALTY_LANDING_DIR": str(root / "sources" / "landing"),
        "LOYALTY_START_DATE": SMALL.start.isoformat(),
        "LOYALTY_SHOP_DB_URL": urls["shop"],
        "LOYALTY_SERVING_POSTGRES_URL": urls["publisher"],
        "LOYALTY_SERVING_POSTGRES_READER_ROLE": roles["warehouse"],
        "LOYALTY_ALERT_WEBHOOK_URL": webhook_url,
        "LOYALTY_PG_HOST": pg.host,
        "LOYALTY_PG_PORT": str(pg.port),
        "LOYALTY_PG_USER": pg.username,
        "LOYALTY_PG_PASSWORD": passwords["warehouse"],
        "LOYALTY_PG_DATABASE": database,
    }
    started = time.time()
    errors: list[str] = []
    generate(SMALL, root / "sources", shop_db_url=urls["shop"])
    with pytest.MonkeyPatch.context() as patch, _captured(root / "console.txt") as logs:
        patch.delenv("DAGSTER_HOME", raising=False)  # a real instance with SQLite storage in the data folder
        for name, value in environment.items():
            patch.setenv(name, value)
        settings = Settings.from_env()
        first, last = SMALL.start, day(SMALL.start, 2)
        codes = [cli.main(["run", "--start", first.isoformat(), "--end", last.isoformat()])]
        codes.append(cli.main(["load-postgres"]))
        failing = day(SMALL.start, 3).isoformat()
        patch.setenv("LOYALTY_SHOP_DB_URL", missing["shop"])
        codes.append(cli.main(["run", "--start", failing, "--end", failing]))
        _alert(settings, errors)
        patch.setenv("LOYALTY_SHOP_DB_URL", urls["shop"])
        patch.setenv("LOYALTY_SERVING_POSTGRES_URL", missing["publisher"])
        codes.append(cli.main(["run", "--start", failing, "--end", failing]))
        _Webhook.status = 500
        _alert(settings, errors)
        patch.setenv("LOYALTY_PG_DATABASE", f"{database}_missing")
        try:
            cli.main(["load-postgres"])
        except psycopg.OperationalError:
            errors.append(traceback.format_exc())
        log_text = logs.stream.getvalue()
    server.shutdown()
    assert codes == [0, 0, 1, 1], (root / "console.txt").read_text()[-3000:]
    secret_values = {
        "shop password": passwords["shop"],
        "serving password": passwords["publisher"],
        "LOYALTY_PG_PASSWORD": passwords["warehouse"],
        "webhook token": token,
    }
    yield SecretRun(
        root=root,
        settings=settings,
        secrets=secret_values,
        environment=environment,
        outputs={
            "console": (root / "console.txt").read_text(),
            "log records": log_text,
            "errors raised": "\n".join(errors),
            "alerts posted": "\n".join(_Webhook.received),
        },
        started=started,
    )
    with psycopg.connect(conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(database)))
        for name in roles.values():
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _forms(secret: str) -> set[str]:
    """The ways a secret could be written: as is, URL-encoded (both styles), base64."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
    }


def _leaks(secrets_: dict[str, str], where: str, data: bytes) -> list[str]:
    return [
        f"{name} ({form!r}) in {where}"
        for name, secret in secrets_.items()
        for form in _forms(secret)
        if form.encode() in data
    ]


def _written_files(run: SecretRun) -> list[Path]:
    """Every file the runs wrote: the data folder (Dagster storage, compute logs, dbt console logs,
    Data Docs, report, quarantine, serving file, warehouse, dbt's logs and kept target folders),
    and what dbt wrote in the project since the runs began (its manifest, should it re-parse)."""
    dbt_dir = run.settings.dbt_project_dir
    files = [path for path in run.root.rglob("*") if path.is_file()]
    for folder in (dbt_dir / "logs", dbt_dir / "target"):
        files += [path for path in folder.rglob("*") if path.is_file() and path.stat().st_mtime >= run.started]
    return files


@pytest.mark.postgres
@pytest.mark.slow
def test_no_secret_appears_in_any_output_of_runs_with_secrets_set(secret_run: SecretRun) -> None:
    files = _written_files(secret_run)
    instance = dagster_instance(secret_run.settings)
    runs = instance.get_runs()
    events = [entry for run in runs for entry in instance.all_logs(run.run_id)]
    # The searches below must cover what a leak would touch: the runs, their failures and the
    # metadata that names the databases (with the password masked).
    assert len(runs) == 3
    assert any(path.parent.name == "compute_logs" for path in files), "the runs' captured stdout/stderr"
    assert (secret_run.root / "data" / "reports" / "kpi-report.html").is_file()
    storage = b"".join(serialize_value(entry).encode() for entry in events)
    assert b"***@127.0.0.1" in storage, "the redacted shop URL is in the asset metadata"
    assert b"_missing" in storage, "the failures naming the missing databases are in the event log"
    assert "_missing" in secret_run.outputs["console"]
    assert len(_Webhook.received) == 2
    assert "HTTP Error 500" in secret_run.outputs["errors raised"]
    assert "_missing" in secret_run.outputs["errors raised"], "load-postgres's connection error"

    leaks = []
    for path in files:
        leaks += _leaks(secret_run.secrets, str(path), path.read_bytes())
    records = b"".join(serialize_value(run).encode() for run in runs)
    leaks += _leaks(secret_run.secrets, "the runs' records, config and tags", records)
    leaks += _leaks(secret_run.secrets, "the event log", storage)
    for name, text in secret_run.outputs.items():
        leaks += _leaks(secret_run.secrets, name, text.encode())
    assert leaks == []


@pytest.mark.postgres
@pytest.mark.slow
def test_the_ui_snapshot_holds_environment_variable_references_not_secrets(secret_run: SecretRun) -> None:
    """What the webserver shows of the code location (resources, jobs, config) comes from this snapshot."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in secret_run.environment.items():
            patch.setenv(name, value)
        definitions = build_definitions(Settings.from_env())
    snapshot = RepositorySnap.from_def(definitions.get_repository_def())

    assert _leaks(secret_run.secrets, "the repository snapshot", serialize_value(snapshot).encode()) == []
    resources = {resource.name: resource for resource in snapshot.resources}
    for resource, variable in (
        ("shop_db", "LOYALTY_SHOP_DB_URL"),
        ("serving_postgres", "LOYALTY_SERVING_POSTGRES_URL"),
        ("alert_webhook", "LOYALTY_ALERT_WEBHOOK_URL"),
    ):
        value = resources[resource].configured_values["url"]
        assert getattr(value, "name", None) == variable, f"{resource}.url is {value!r}"


# --- the Dagster UI listens on localhost -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(pids: set[int]) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket these processes listen on, from /proc."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    sockets = set()
    for table, width in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order.
                ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
                family = socket.AF_INET if width == 4 else socket.AF_INET6
                sockets.add((socket.inet_ntop(family, ordered), int(port, 16)))
    return sockets


def _process_group(pgid: int) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                if os.getpgid(int(entry.name)) == pgid:
                    pids.add(int(entry.name))
    return pids


_RESOURCES_QUERY = """
query {
  allTopLevelResourceDetailsOrError(
    repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "loyalty_pipeline"}
  ) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
}
"""


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_make_dev_listens_on_localhost_only_and_shows_env_var_references(tmp_path: Path) -> None:
    """The documented command (`make dev`), started with secrets set: every socket it listens on is
    loopback, and the UI's resource page shows the variables' names, never their values."""
    port = _free_port()
    password, token = f"pw:{secrets.token_hex(10)}@/", secrets.token_urlsafe(24)
    secret_url = _pg_url("postgresql://x@127.0.0.1:9/x", "shop_reader", password, "shop")
    environment = {
        **os.environ,
        "LOYALTY_DATA_DIR": str(tmp_path / "data"),
        "LOYALTY_UI_PORT": str(port),
        "LOYALTY_SHOP_DB_URL": secret_url,
        "LOYALTY_SERVING_POSTGRES_URL": secret_url,
        "LOYALTY_ALERT_WEBHOOK_URL": f"http://127.0.0.1:9/services/{token}",
    }
    for name in ("LOYALTY_UI_HOST", "DAGSTER_HOME", "MAKEFLAGS", "MAKELEVEL"):
        environment.pop(name, None)
    log = tmp_path / "make-dev.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "dev"],
            cwd=REPOSITORY_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )
    try:
        answer = None
        deadline = time.monotonic() + 240
        while answer is None and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                result = _graphql(port, _RESOURCES_QUERY)["data"]["allTopLevelResourceDetailsOrError"]
                if result["__typename"] == "ResourceDetailsList":
                    answer = result
            time.sleep(2)
        assert answer is not None, log.read_text()[-3000:]
        listening = _listening(_process_group(process.pid))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert ("127.0.0.1", port) in listening
    assert {address for address, _ in listening} <= {"127.0.0.1", "::1"}, listening
    values = {
        (resource["name"], value["key"]): (value["type"], value["value"])
        for resource in answer["results"]
        for value in resource["configuredValues"]
    }
    assert values[("shop_db", "url")] == ("ENV_VAR", "LOYALTY_SHOP_DB_URL")
    assert values[("serving_postgres", "url")] == ("ENV_VAR", "LOYALTY_SERVING_POSTGRES_URL")
    assert values[("alert_webhook", "url")] == ("ENV_VAR", "LOYALTY_ALERT_WEBHOOK_URL")
    page = json.dumps(answer).encode() + log.read_bytes()
    assert _leaks({"password": password, "webhook token": token}, "the UI's resources or its console", page) == []
