"""Curate on this machine: the DirectRunner path (offline, in-process; multi_processing via beam_options).

Triggered by hand (no schedule). Defaults curate the sample corpus in examples/ into /tmp/curate.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from curate_common import DAG_TEMPLATING, REPO, curation_params, curation_tasks

with DAG(
    dag_id="curate_local",
    description="curate run on the local DirectRunner, then curate verify",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    **DAG_TEMPLATING,
    tags=["curation", "local"],
    params=curation_params(
        inputs=[str(REPO / "examples" / "corpus")],
        output_root="/tmp/curate/local",
        beam_options={"direct_running_mode": "in_memory"},  # or multi_processing + direct_num_workers
    ),
) as dag:
    curation_tasks(dag, "DirectRunner")
