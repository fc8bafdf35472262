"""dags/ under real Airflow 3: DagBag imports, tasks, params, dependencies, and the local DAG end to end.

Runs under .venv-airflow (see conftest.py). The local DAG runs with ``dag.test()`` on the sample
corpus (examples/corpus) against a SQLite metadata DB made by ``airflow db migrate``; its run task
launches the real ``curate run`` (DirectRunner) through the Beam provider's operator, its verify
task runs the real ``curate verify`` — which must fail the DAG run once a shard is tampered with — and
its publish task pushes the manifest's summary to XCom and updates the DAG's release Asset.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import types
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


@pytest.fixture(scope="session")
def curate_common(dagbag):
    """dags/curate_common.py as the DAG files import it (the DagBag puts the bundle root on sys.path)."""
    import importlib

    return importlib.import_module("curate_common")


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
    from airflow.sdk import Asset

    assert {t.task_id for t in dag.tasks} == {"curate_run", "curate_verify", "curate_publish"}
    run, check, publish = (dag.get_task(t) for t in ("curate_run", "curate_verify", "curate_publish"))
    assert run.downstream_task_ids == {"curate_verify"} and check.upstream_task_ids == {"curate_run"}
    assert check.downstream_task_ids == {"curate_publish"}
    # Downstream DAGs schedule on this Asset by its documented name.
    assert publish.outlets == [Asset(name=f"{dag_id}.release", uri=f"curation://{dag_id}/release", group="curation")]
    assert run.outlets == [] and check.outlets == []
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


def _rendered_out(dag, run_id: str, output_root: str) -> str:
    """The OUT the run task would get in a DAG run with this run id (Airflow's own template rendering)."""
    run = dag.get_task("curate_run")
    same_day = types.SimpleNamespace(run_after=dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc), run_id=run_id)
    context = {"run_id": run_id, "dag_run": same_day, "params": {"output_root": output_root}}
    return run.render_template(run.pipeline_options["output"], context, jinja_env=dag.get_template_env())


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_two_runs_on_the_same_day_get_different_outs(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    first = _rendered_out(dag, "manual__2026-03-01T09:00:00.120000+00:00", "gs://bucket/curated/")
    second = _rendered_out(dag, "manual__2026-03-01T09:00:00.340000+00:00", "gs://bucket/curated/")
    scheduled = _rendered_out(dag, "scheduled__2026-03-01T00:00:00+00:00", "gs://bucket/curated/")
    assert len({first, second, scheduled}) == 3
    for out in (first, second, scheduled):
        assert out.startswith("gs://bucket/curated/") and "/" not in out[len("gs://bucket/curated/"):]
        assert ":" not in out[len("gs://"):] and "+" not in out
    # The same run id (a retry, a cleared task) keeps its OUT.
    assert first == _rendered_out(dag, "manual__2026-03-01T09:00:00.120000+00:00", "gs://bucket/curated")


@pytest.mark.parametrize("run_id, other", [
    ("..", "_."),  # a run id that would climb out of output_root
    ("a:b", "a+b"),  # different run ids that read alike once made safe
    ("x/../../etc", "x_.._.._etc"),
])
def test_run_dir_is_one_safe_component_and_never_shared(curate_common, run_id, other):
    run_dir = curate_common.run_dir
    made = run_dir(run_id)
    assert made != run_dir(other)
    assert made and "/" not in made and not made.startswith(".")
    assert run_dir("manual_2026-03-01") == "manual_2026-03-01"  # already safe: kept as is


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
    outs = [p for p in root.iterdir() if p.is_dir()]
    assert len(outs) == 1, outs
    return dagrun, outs[0]


def test_local_dag_curates_the_sample_corpus_and_verifies(local_run):
    dagrun, out = local_run
    assert str(dagrun.state) == "success", _task_states(dagrun)
    assert _task_states(dagrun) == {"curate_run": "success", "curate_verify": "success", "curate_publish": "success"}
    assert out.name.startswith("manual__2026-03-01T01_00_00")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runner"] == "DirectRunner"
    sample = sorted(p.name for p in (REPO / "examples" / "corpus").rglob("*") if p.is_file())
    assert sorted(Path(i["uri"]).name for i in manifest["inputs"]) == sample
    assert manifest["summary"]["records_in"] > 0 and manifest["summary"]["kept"] > 0
    assert any(o["path"].startswith("documents/") for o in manifest["outputs"])


def _pushed_release(dagrun) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dagrun.run_id, dag_ids=dagrun.dag_id,
                                                 task_ids="curate_publish", key="return_value")).one()
        return XComModel.deserialize_value(row)


def test_publish_task_pushes_the_manifest_summary_and_updates_the_asset(local_run):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dagrun, out = local_run
    manifest = json.loads((out / "manifest.json").read_text())
    expected = {"output": str(out), "manifest_run_id": manifest["run_id"], "summary": manifest["summary"]}
    assert _pushed_release(dagrun) == expected
    with create_session() as session:
        events = session.scalars(select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                                 .where(AssetModel.name == "curate_local.release")).all()
        assert [e.extra for e in events if e.source_run_id == dagrun.run_id] == [expected]


def test_release_summary_reads_a_real_out(curate_common, local_run):
    release_summary = curate_common.release_summary

    _, out = local_run
    manifest = json.loads((out / "manifest.json").read_text())
    release = release_summary(str(out))
    assert release["summary"] == manifest["summary"] and release["summary"]["kept"] > 0
    with pytest.raises(RuntimeError, match="manifest.json failed"):
        release_summary(str(out.parent / "no-such-run"))


@pytest.fixture()
def fresh_check(curate_common, monkeypatch, tmp_path):
    """check_launcher without its per-process cache, run away from any ``pipeline`` folder on the path."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)
    curate_common.check_launcher.cache_clear()
    yield curate_common.check_launcher
    curate_common.check_launcher.cache_clear()


def test_launcher_check_accepts_the_pipeline_venv(fresh_check):
    assert fresh_check(os.environ["CURATE_PYTHON"]) == os.environ["CURATE_PYTHON"]


def test_launcher_check_names_the_problem_and_the_fix(curate_common, fresh_check, tmp_path):
    LAUNCHER_FIX, LauncherMissing = curate_common.LAUNCHER_FIX, curate_common.LauncherMissing

    not_executable = tmp_path / "python-not-executable"
    not_executable.write_text("")
    not_python = tmp_path / "not-python"
    not_python.write_text("#!/bin/sh\nexit 7\n")
    not_python.chmod(0o755)
    cases = {
        str(tmp_path / "no-such-venv" / "bin" / "python"): "is not a file",
        "no-such-python-on-path": "is not on PATH",
        str(not_executable): "is not executable",
        str(not_python): "failed to start (exit 7)",
        sys.executable: "cannot import pipeline",  # Airflow's own venv: Beam yes, the pipeline no
    }
    for python, problem in cases.items():
        with pytest.raises(LauncherMissing) as caught:
            fresh_check(python)
        message = str(caught.value)
        assert message.startswith(f"CURATE_PYTHON={python} {problem}"), message
        assert message.endswith(LAUNCHER_FIX) and "make install" in message and "\n" not in message


def test_dag_import_fails_with_the_fix_when_curate_python_is_missing(metadata_db, monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import BundleDagBag

    missing = str(tmp_path / "venv" / "bin" / "python")
    monkeypatch.setenv("CURATE_PYTHON", missing)
    monkeypatch.delitem(sys.modules, "curate_common")  # re-read CURATE_PYTHON, as a fresh DAG processor would
    try:
        bag = BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags")
    finally:
        sys.modules.pop("curate_common", None)
    assert bag.dag_ids == [] and len(bag.import_errors) == 3
    for error in bag.import_errors.values():
        last = error.strip().splitlines()[-1]
        assert last == (f"curate_common.LauncherMissing: CURATE_PYTHON={missing} is not a file: set CURATE_PYTHON "
                        "(on the DAG processor and every worker) to the python of a venv with curation-pipeline "
                        "installed, e.g. `make install; export CURATE_PYTHON=$PWD/.venv/bin/python`"), error


def test_verify_task_fails_the_dag_run_on_a_tampered_output(local_run, dagbag):
    dagrun, out = local_run
    assert str(dagrun.state) == "success"
    shard = sorted((out / "documents").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    # The same run again (same run id, so the same OUT), the run task marked done: only curate_verify
    # runs, on the tampered OUT, and nothing is published.
    second = _run_local(dagbag, out.parent, hour=1, mark_success_pattern="curate_run")
    assert _task_states(second) == {"curate_run": "success", "curate_verify": "failed",
                                    "curate_publish": "upstream_failed"}
    assert str(second.state) == "failed"
