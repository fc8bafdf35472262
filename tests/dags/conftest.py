"""The DAG tests run under the Airflow venv (.venv-airflow), never in the package's venv.

Under the package's venv only ``test_in_airflow_venv.py`` is collected: it runs this folder's tests
in a subprocess of ``.venv-airflow/bin/python -m pytest``. Under the Airflow venv, that wrapper is
skipped from collection and the real tests run against a fresh SQLite metadata DB made by
``airflow db migrate`` in a temporary AIRFLOW_HOME.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

if importlib.util.find_spec("airflow") is None:
    collect_ignore = ["test_dags.py"]
else:
    collect_ignore = ["test_in_airflow_venv.py"]
    # Before anything imports airflow: a private home, SQLite DB, our dags/ folder, no examples.
    _home = Path(os.environ.get("CURATE_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="curate-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(_home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "120"
    os.environ.setdefault("CURATE_PYTHON", str(REPO / ".venv" / "bin" / "python"))
