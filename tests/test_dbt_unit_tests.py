"""dbt unit tests: the models' logic on fixed inputs, run here because scheduled runs skip them."""

import json
import shutil
from pathlib import Path

import pytest
from dagster_dbt import DbtCliResource

from loyalty_pipeline.resources import Warehouse
from loyalty_pipeline.settings import Settings
from loyalty_pipeline.transform import dbt_executable


def test_every_dbt_unit_test_passes(generated_run: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Unit tests read their parents' columns from the warehouse: a copy of a built one, so the
    # session's shared warehouse is never opened for writing.
    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    shutil.copyfile(generated_run.warehouse_path, data / "warehouse" / generated_run.warehouse_path.name)
    for folder in ("raw", "clv"):
        (data / folder).symlink_to(generated_run.data_dir / folder)
    project = generated_run.dbt_project_dir
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(data))  # dagster-dbt hands this environment to dbt
    for window in Warehouse.dbt_window("2026-01-01", "2026-01-01"):
        monkeypatch.delenv(window, raising=False)  # it would override the unit tests' own window vars
    dbt = DbtCliResource(project_dir=str(project), profiles_dir=str(project), dbt_executable=dbt_executable())
    invocation = dbt.cli(["test", "--select", "test_type:unit"], target_path=tmp_path / "target", raise_on_error=False)
    messages = [event.raw_event["info"]["msg"] for event in invocation.stream_raw_events()]
    assert invocation.is_successful(), "\n".join(messages[-40:])

    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    results = invocation.get_artifact("run_results.json")["results"]
    assert len(results) == len(manifest["unit_tests"]) > 0
    assert {result["status"] for result in results} == {"pass"}
