"""Daily curation on Apache Spark through Beam's Spark runner, then ``curate verify``.

The Airflow worker launches the job with the Spark job server jar (pre-fetched: this DAG never
downloads it) against ``spark_master_url``; SDK workers run the custom container on every executor
host (``environment_type=DOCKER``) — or point ``environment_type=EXTERNAL`` at worker-pool sidecars.
Use ``runner=PortableRunner`` with ``job_endpoint`` for an already running Spark job server.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from curate_common import DAG_TEMPLATING, curation_params, curation_tasks

with DAG(
    dag_id="curate_spark",
    description="curate run on Spark (Beam portable runner), then curate verify",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    **DAG_TEMPLATING,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
    tags=["curation", "spark"],
    params=curation_params(
        inputs=["s3://CHANGE-ME-raw/crawl/*.warc.gz"],
        output_root="s3://CHANGE-ME-curated/curated",
        beam_options={
            "spark_master_url": "spark://spark-master:7077",
            "spark_job_server_jar": "/opt/beam/beam-runners-spark-3-job-server-2.77.0.jar",
            "environment_type": "DOCKER",
            "environment_config": "registry.example.com/curation/curate:0.1.0",
        },
        runner=Param("SparkRunner", type="string", enum=["SparkRunner", "PortableRunner"],
                     description="SparkRunner (starts the job server from the jar) or PortableRunner (job_endpoint)"),
    ),
) as dag:
    curation_tasks(dag, "{{ params.runner }}")
