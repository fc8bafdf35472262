"""Run the DAG tests (tests/dags/test_dags.py) under the Airflow venv that `make airflow` builds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO / ".venv-airflow" / "bin" / "python"


def test_dag_suite_passes_under_the_airflow_venv(tmp_path):
    assert AIRFLOW_PYTHON.exists(), "the Airflow venv is missing: run `make airflow` (make test does)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env.update(CURATE_PYTHON=sys.executable, CURATE_TEST_AIRFLOW_HOME=str(tmp_path / "airflow-home"))
    (tmp_path / "airflow-home").mkdir()
    proc = subprocess.run(
        [str(AIRFLOW_PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--confcutdir", str(REPO / "tests" / "dags"),
         "--rootdir", str(REPO / "tests" / "dags"), str(REPO / "tests" / "dags")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540,
    )
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
