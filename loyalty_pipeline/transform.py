"""The dbt project as Dagster assets: staging, intermediate and mart models, with dbt tests as checks."""

import datetime as dt
import fcntl
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from loyalty_pipeline.resources import WAREHOUSE_POOL, Warehouse


class LoyaltyDbtTranslator(DagsterDbtTranslator):
    """Group dbt models by layer (staging, intermediate, marts); sources keep their own keys."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["fqn"][1]
        return super().get_group_name(dbt_resource_props)


def dbt_executable() -> str:
    """The dbt installed beside this interpreter, so an unactivated virtualenv still works."""
    return shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))


def manifest_is_current(project_dir: Path) -> bool:
    """The prepared manifest is newer than every file of the dbt project."""
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return False
    sources = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        # Folders too: deleting or renaming a file changes only its folder's mtime.
        sources.append(project_dir / folder)
        sources.extend((project_dir / folder).rglob("*"))
    return all(path.stat().st_mtime <= manifest.stat().st_mtime for path in sources if path.exists())


def prepare_dbt_manifest(project_dir: Path) -> None:
    """`dbt parse` into the project's target folder, where Dagster reads the dbt graph from."""
    (project_dir / "target").mkdir(exist_ok=True)
    # Processes starting together (`dagster dev` and a run, test workers) would otherwise parse
    # at once, and one could read the manifest while the other rewrites it (dbt writes it in
    # place, already newer than the project): the check too is made holding the lock.
    with open(project_dir / "target" / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_current(project_dir):
            return
        dbt = DbtCliResource(
            project_dir=str(project_dir), profiles_dir=str(project_dir), dbt_executable=dbt_executable()
        )
        dbt.cli(["parse", "--quiet"], target_path=Path("target")).wait()


def dbt_project(project_dir: Path) -> DbtProject:
    """The dbt project, its manifest re-parsed first when any project file is newer.

    dagster-dbt's own `prepare_if_dev` would look for `dbt` on PATH, which an unactivated
    virtualenv (`make dev`) does not have; this uses the dbt beside the interpreter.
    """
    prepare_dbt_manifest(project_dir)
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def window_vars(window: dg.TimeWindow) -> tuple[str, str]:
    """The inclusive first and last reporting day of a partition window."""
    last = window.end.date() - dt.timedelta(days=1)
    return window.start.date().isoformat(), last.isoformat()


# Each dbt step starts from the parse state the step before it left (dbt checks that it still
# matches the project, vars and environment, else parses anew): with the run's window in the
# environment (Warehouse.dbt_window), only the files that read it are parsed again. The state
# is kept in the data folder (dbt_work_dir), because the profile (the data folder) is part of
# what dbt checks: data folders sharing one state would each find it changed and parse everything.
PARSE_STATE = "partial_parse.msgpack"

# dbt unit tests check the models' logic against fixed inputs: they belong in CI
# (tests/test_dbt_unit_tests.py), not in every scheduled run, as dbt's docs advise.
DBT_BUILD = ["build", "--exclude-resource-type", "unit_test"]


def _copy_if_exists(source: Path, target: Path) -> None:
    """Copy a file, replacing the target atomically; nothing when the source is missing."""
    if not source.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def dbt_work_dir(data_dir: str | Path) -> Path:
    """A data folder's dbt working files: each invocation's artifacts, dbt's log, the parse state.

    In the data folder, not the project's `target/` and `logs/`: runs of several data folders
    (two environments, or tests in parallel) share one project, and each must find only its own.
    """
    return Path(data_dir).resolve() / "dbt"


def dbt_target_path(data_dir: str | Path, name: str, run_id: str) -> Path:
    """A dbt invocation's own target folder, named after its step and run."""
    return dbt_work_dir(data_dir) / "runs" / f"{name}-{run_id[:8]}-{uuid.uuid4().hex[:8]}"


def dbt_target_paths(data_dir: str | Path, run_id: str) -> list[Path]:
    """The target folders the dbt invocations of a run left behind."""
    return sorted((dbt_work_dir(data_dir) / "runs").glob(f"*-{run_id[:8]}-*"))


# The models that read the predicted-CLV files (kpi_daily, customer_value) must run after the
# predicted-CLV asset, which itself reads a dbt table (int_customer_purchase_days). So the dbt
# graph is two multi-assets over the same manifest, split at the `clv` source: Dagster orders
# them through that source's asset key, ["clv", "daily_predictions"], the asset's own key.
AFTER_PREDICTED_CLV = "source:clv+"


def build_dbt_assets(project: DbtProject, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The dbt models as two multi-assets, each run over a partition range at once: every model
    but those downstream of the predicted-CLV files, then those."""
    return [
        _dbt_models(project, partitions_def, name="loyalty_dbt_models", exclude=AFTER_PREDICTED_CLV),
        _dbt_models(project, partitions_def, name="loyalty_dbt_models_after_clv", select=AFTER_PREDICTED_CLV),
    ]


def _dbt_models(
    project: DbtProject,
    partitions_def: dg.PartitionsDefinition,
    *,
    name: str,
    select: str = "fqn:*",
    exclude: str | None = None,
) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=select,
        exclude=exclude,
        name=name,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=LoyaltyDbtTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse) -> Iterator[Any]:
        min_date, max_date = window_vars(context.partition_time_window)
        target_path = dbt_target_path(warehouse.data_dir, name, context.run.run_id)
        shared_parse_state = dbt_work_dir(warehouse.data_dir) / PARSE_STATE
        _copy_if_exists(shared_parse_state, target_path / PARSE_STATE)
        log_path = str(dbt_work_dir(warehouse.data_dir) / "logs")
        with warehouse.dbt_environment(min_date, max_date):
            dbt_vars = json.dumps(warehouse.dbt_vars())
            invocation = dbt.cli(
                [*DBT_BUILD, "--vars", dbt_vars, "--log-path", log_path], context=context, target_path=target_path
            )
        yield from invocation.stream()
        _copy_if_exists(invocation.target_path / PARSE_STATE, shared_parse_state)
        # Every invocation writes megabytes of artifacts to its own target folder: a nightly
        # pipeline would fill the disk. They are kept only when dbt failed (stream raises).
        shutil.rmtree(invocation.target_path, ignore_errors=True)

    return _models
