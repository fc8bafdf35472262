"""dags/ under real Airflow 3: DagBag imports, tasks, params, dependencies, and the local DAG end to end.

Runs under .venv-airflow (see conftest.py). The local DAG runs with ``dag.test()`` on the sample
corpus (examples/corpus) against a SQLite metadata DB made by ``airflow db migrate``; its run task
launches the real ``curate run`` (DirectRunner) through the Beam provider's operator, and its
verify task runs the real ``curate verify`` — which must fail the DAG run once a shard is tampered with.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_IDS = {"curate_local", "curate_dataflow", "curate_spark"}
COMMON_PARAMS = {"inputs", "output_root", "config", "profile", "overwrite", "beam_options"}


@pytest.fixture(scope="session")
def metadata_db():
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


@pytest.fixture(scope="session")
def dagbag(metadata_db):
    from airflow.dag_processing.dagbag import BundleDagBag

    # As Airflow's DAG processor loads the dags-folder bundle (bundle root on sys.path for curate_common).
    return BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags")


def test_dagbag_imports_every_dag_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS


@pytest.mark.parametrize("dag_id, runner, schedule", [
    ("curate_local", "DirectRunner", None),
    ("curate_dataflow", "DataflowRunner", "@daily"),
    ("curate_spark", "{{ params.runner }}", "@daily"),
])
def test_tasks_params_and_dependencies(dagbag, dag_id, runner, schedule):
    from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

    dag = dagbag.get_dag(dag_id)
    assert {t.task_id for t in dag.tasks} == {"curate_run", "curate_verify"}
    run, check = dag.get_task("curate_run"), dag.get_task("curate_verify")
    assert run.downstream_task_ids == {"curate_verify"} and check.upstream_task_ids == {"curate_run"}
    assert isinstance(run, BeamRunPythonPipelineOperator)
    assert run.runner == runner
    assert (run.py_options, run.py_file) == (["-m"], "pipeline.entrypoint")
    assert run.py_interpreter == os.environ["CURATE_PYTHON"]
    assert set(run.pipeline_options) == {"input", "output", "config", "profile", "overwrite"}
    assert COMMON_PARAMS <= set(dag.params.keys())
    assert dag.render_template_as_native_obj and dag.schedule == schedule
    if dag_id == "curate_dataflow":
        assert {"gcp_project", "region"} <= set(dag.params.keys())
        assert run.dataflow_config["project_id"] == "{{ params.gcp_project }}"
        assert dag.params["beam_options"]["sdk_container_image"].endswith("/curate:0.1.0")
    if dag_id == "curate_spark":
        assert dag.params["runner"] == "SparkRunner" and "spark_master_url" in dag.params["beam_options"]


def _run_local(dagbag, output_root: Path, hour: int, **kwargs):
    dag = dagbag.get_dag("curate_local")
    when = dt.datetime(2026, 3, 1, hour, tzinfo=dt.timezone.utc)
    return dag.test(run_after=when, logical_date=when, run_conf={"output_root": str(output_root)}, **kwargs)


def _task_states(dagrun) -> dict:
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


@pytest.fixture(scope="module")
def local_run(dagbag, tmp_path_factory):
    root = tmp_path_factory.mktemp("curated")
    dagrun = _run_local(dagbag, root, hour=1)
    return dagrun, root / "20260301"


def test_local_dag_curates_the_sample_corpus_and_verifies(local_run):
    dagrun, out = local_run
    assert str(dagrun.state) == "success", _task_states(dagrun)
    assert _task_states(dagrun) == {"curate_run": "success", "curate_verify": "success"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runner"] == "DirectRunner"
    sample = sorted(p.name for p in (REPO / "examples" / "corpus").rglob("*") if p.is_file())
    assert sorted(Path(i["uri"]).name for i in manifest["inputs"]) == sample
    assert manifest["summary"]["records_in"] > 0 and manifest["summary"]["kept"] > 0
    assert any(o["path"].startswith("documents/") for o in manifest["outputs"])


def test_verify_task_fails_the_dag_run_on_a_tampered_output(local_run, dagbag):
    dagrun, out = local_run
    assert str(dagrun.state) == "success"
    shard = sorted((out / "documents").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    # Same date partition, the run task marked done: only curate_verify runs, on the tampered OUT.
    second = _run_local(dagbag, out.parent, hour=2, mark_success_pattern="curate_run")
    assert _task_states(second) == {"curate_run": "success", "curate_verify": "failed"}
    assert str(second.state) == "failed"
