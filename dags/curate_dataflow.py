"""Daily curation on Google Cloud Dataflow, then ``curate verify`` of the committed output.

Workers run the custom SDK container (docker/Dockerfile: package, rules and models baked in), so
nothing is installed at worker start-up. The Airflow worker needs ``$CURATE_PYTHON`` with
``curation-pipeline[gcp]`` installed and a ``google_cloud_default`` connection (or ADC).
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from curate_common import DAG_TEMPLATING, curation_params, curation_tasks

with DAG(
    dag_id="curate_dataflow",
    description="curate run on Dataflow, then curate verify",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    **DAG_TEMPLATING,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
    tags=["curation", "dataflow"],
    params=curation_params(
        inputs=["gs://CHANGE-ME-raw/crawl/*.jsonl.zst"],
        output_root="gs://CHANGE-ME-curated/curated",
        beam_options={
            "temp_location": "gs://CHANGE-ME-tmp/dataflow/temp",
            "staging_location": "gs://CHANGE-ME-tmp/dataflow/staging",
            "machine_type": "n2-standard-4",
            "max_num_workers": 20,
            "disk_size_gb": 50,
            "sdk_container_image": "us-docker.pkg.dev/CHANGE-ME/curation/curate:0.1.0",
            "sdk_location": "container",
        },
        gcp_project=Param("CHANGE-ME", type="string", description="Google Cloud project of the Dataflow job"),
        region=Param("us-central1", type="string", description="Dataflow region"),
    ),
) as dag:
    curation_tasks(
        dag,
        "DataflowRunner",
        dataflow_config={
            "job_name": "curate-{{ dag_run.run_after | ds_nodash }}",
            "project_id": "{{ params.gcp_project }}",
            "location": "{{ params.region }}",
            "wait_until_finished": True,
        },
    )
