"""Shared building blocks of the curation DAGs (not a DAG itself).

Every curation DAG is two tasks::

    curate_run  (BeamRunPythonPipelineOperator: ``python -m pipeline.entrypoint --input=... --output=...``)
        >> curate_verify  (``python -m pipeline verify OUT``; fails the DAG run on any mismatch)

OUT is ``{output_root}/{run date}``: one partition per DAG run, so a retry or a cleared task reruns
into its own partition with ``--overwrite`` (``manifest.json`` is written last and is the commit
marker; a failed attempt never leaves one).

The Python that runs ``curate`` is ``$CURATE_PYTHON`` on the Airflow worker (default ``python3``):
an environment where ``curation-pipeline`` is installed (``pip install 'curation-pipeline[gcp]'`` for
Dataflow and gs:// outputs). Airflow itself never imports the pipeline.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.sdk import Param, task

CURATE_PYTHON = os.environ.get("CURATE_PYTHON", "python3")
REPO = Path(__file__).resolve().parent.parent
OUT = "{{ params.output_root.rstrip('/') }}/{{ dag_run.run_after | ds_nodash }}"
RUN_TASK, VERIFY_TASK = "curate_run", "curate_verify"


def curation_params(*, inputs: list[str], output_root: str, beam_options: dict, **extra: Param) -> dict:
    """The DAG params every curation DAG takes (trigger with a conf to override any of them)."""
    return {
        "inputs": Param(inputs, type="array", minItems=1, items={"type": "string"},
                        description="Input URIs: files, folders, globs, gs:// or s3:// (read by the workers)"),
        "output_root": Param(output_root, type="string", minLength=1,
                             description="OUT is {output_root}/{run date}"),
        "config": Param(None, type=["null", "string"],
                        description="curate config YAML, read on the launching machine (null: embedded defaults)"),
        "profile": Param(None, type=["null", "string"],
                         description="runner profile name (pipeline/profiles); beam_options win over it"),
        "overwrite": Param(True, type="boolean", description="replace this run's partition on a rerun"),
        "beam_options": Param(beam_options, type="object",
                              description="extra Beam/runner options, e.g. {\"max_num_workers\": 50}"),
        **extra,
    }


def pipeline_options() -> dict:
    """Templated ``curate run`` options; rendered natively (lists stay lists, None is dropped)."""
    return {
        "input": "{{ params.inputs }}",
        "output": OUT,
        "config": "{{ params.config }}",
        "profile": "{{ params.profile }}",
        "overwrite": "{{ params.overwrite }}",
    }


def run_task(runner: str, **kwargs) -> BeamRunPythonPipelineOperator:
    """``curate run`` through the Beam provider: ``python -m pipeline.entrypoint --runner=... ...``."""
    return BeamRunPythonPipelineOperator(
        task_id=RUN_TASK,
        runner=runner,
        py_interpreter=CURATE_PYTHON,
        py_options=["-m"],
        py_file="pipeline.entrypoint",
        default_pipeline_options="{{ params.beam_options }}",
        pipeline_options=pipeline_options(),
        deferrable=False,  # the launcher commits shards and writes the manifest after the job ends
        **kwargs,
    )


@task(task_id=VERIFY_TASK)
def verify(out: str) -> dict:
    """``curate verify OUT``: every listed file present with its sha256 and row count, no extra file."""
    proc = subprocess.run([CURATE_PYTHON, "-m", "pipeline", "verify", out], capture_output=True, text=True)
    if proc.returncode != 0:
        problems = proc.stderr.strip() or proc.stdout.strip()
        raise RuntimeError(f"curate verify failed for {out} (exit {proc.returncode}):\n{problems}")
    return {"output": out, "verified": True}


def curation_tasks(runner: str, **run_kwargs):
    """Wire ``curate_run >> curate_verify`` inside the current DAG; returns both tasks."""
    run = run_task(runner, **run_kwargs)
    check = verify(OUT)
    run >> check
    return run, check
