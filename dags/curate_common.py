"""Shared building blocks of the curation DAGs (not a DAG itself).

Every curation DAG is three tasks::

    curate_run  (BeamRunPythonPipelineOperator: ``python -m pipeline.entrypoint --input=... --output=...``)
        >> curate_verify   (``python -m pipeline verify OUT``; fails the DAG run on any mismatch)
        >> curate_publish  (pushes OUT and the manifest's summary to XCom; outlet: the DAG's release Asset)

OUT is ``{output_root}/{run dir}``, the run dir being the DAG run's id made safe for a path
(:func:`run_dir`): one partition per DAG run, so two triggers on the same day never share an OUT,
while a retry or a cleared task of the same run reruns into its own partition with ``--overwrite``
(``manifest.json`` is written last and is the commit marker; a failed attempt never leaves one).

The Python that runs ``curate`` is ``$CURATE_PYTHON`` on the Airflow worker (default ``python3``):
an environment where ``curation-pipeline`` is installed (``pip install 'curation-pipeline[gcp]'`` for
Dataflow and gs:// outputs). Airflow itself never imports the pipeline; parsing a DAG checks once per
process that ``$CURATE_PYTHON`` can find it (:func:`check_launcher`) and fails the DAG import with
the fix otherwise (``CURATE_PYTHON_CHECK=0`` skips the check on a DAG processor without that venv).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.sdk import Asset, Param, get_current_context, task

CURATE_PYTHON = os.environ.get("CURATE_PYTHON", "python3")
REPO = Path(__file__).resolve().parent.parent
RUN_TASK, VERIFY_TASK, PUBLISH_TASK = "curate_run", "curate_verify", "curate_publish"
OUT = "{{ params.output_root.rstrip('/') }}/{{ run_id | curate_run_dir }}"
LAUNCHER_FIX = ("set CURATE_PYTHON (on the DAG processor and every worker) to the python of a venv with "
                "curation-pipeline installed, e.g. `make install; export CURATE_PYTHON=$PWD/.venv/bin/python`")
LAUNCHER_PROBE_TIMEOUT_S = 30

# Looks the packages up without importing them (a parse must stay fast); prints what is missing.
_LAUNCHER_PROBE = """\
import importlib.util, os
pipeline = importlib.util.find_spec("pipeline")
dirs = (pipeline.submodule_search_locations or []) if pipeline else []
missing = [] if any(os.path.isfile(os.path.join(d, "entrypoint.py")) for d in dirs) else ["pipeline"]
missing += [] if importlib.util.find_spec("apache_beam") else ["apache_beam"]
print(" ".join(missing))
"""
# Beam's filesystems read the manifest wherever OUT is (local, gs://, s3://), as the launcher wrote it.
_READ_SUMMARY = """\
import json, sys
from apache_beam.io.filesystems import FileSystems
with FileSystems.open(FileSystems.join(sys.argv[1], "manifest.json")) as f:
    manifest = json.load(f)
json.dump({"manifest_run_id": manifest["run_id"], "summary": manifest["summary"]}, sys.stdout)
"""


class LauncherMissing(RuntimeError):
    """``$CURATE_PYTHON`` cannot launch ``curate``; the message is one line ending with the fix."""


@functools.lru_cache(maxsize=None)
def check_launcher(python: str) -> str:
    """The launcher's path once it is an executable Python that finds the pipeline and Beam; else LauncherMissing."""
    resolved = python if os.sep in python else shutil.which(python)
    if not resolved or not os.path.isfile(resolved):
        problem = "is not a file" if os.sep in python else "is not on PATH"
    elif not os.access(resolved, os.X_OK):
        problem = "is not executable"
    else:
        try:
            proc = subprocess.run([resolved, "-c", _LAUNCHER_PROBE], capture_output=True, text=True,
                                  timeout=LAUNCHER_PROBE_TIMEOUT_S)
            missing = proc.stdout.split()
            problem = (f"failed to start (exit {proc.returncode})" if proc.returncode
                       else f"cannot import {' or '.join(missing)}" if missing else None)
        except subprocess.TimeoutExpired:
            problem = f"did not answer within {LAUNCHER_PROBE_TIMEOUT_S} s"
        except OSError as exc:
            problem = f"cannot be run ({type(exc).__name__})"
    if problem:
        raise LauncherMissing(f"CURATE_PYTHON={python} {problem}: {LAUNCHER_FIX}")
    return resolved


def run_dir(run_id: str) -> str:
    """The DAG run's directory name under output_root: its run id, made safe for any filesystem path.

    Characters other than letters, digits, ``_ . -`` become ``_`` and leading dots go (no ``..``, no
    hidden directory); when that changed anything, a hash of the exact run id is appended, so two
    different run ids (``a:b``, ``a+b``) never map to the same directory.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id).lstrip(".")
    if safe == run_id:
        return safe
    return f"{safe[:150]}-{hashlib.sha256(run_id.encode()).hexdigest()[:10]}"


# Every curation DAG passes these to DAG(...): the OUT template needs the run-dir filter.
DAG_TEMPLATING = {"render_template_as_native_obj": True, "user_defined_filters": {"curate_run_dir": run_dir}}


def release_asset(dag_id: str) -> Asset:
    """The Asset a verified run of ``dag_id`` updates; downstream DAGs schedule on it."""
    return Asset(name=f"{dag_id}.release", uri=f"curation://{dag_id}/release", group="curation")


def curation_params(*, inputs: list[str], output_root: str, beam_options: dict, **extra: Param) -> dict:
    """The DAG params every curation DAG takes (trigger with a conf to override any of them)."""
    return {
        "inputs": Param(inputs, type="array", minItems=1, items={"type": "string"},
                        description="Input URIs: files, folders, globs, gs:// or s3:// (read by the workers)"),
        "output_root": Param(output_root, type="string", minLength=1,
                             description="OUT is {output_root}/{run id, made safe for a path}"),
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


def _launch(args: list[str], what: str) -> str:
    """Run ``$CURATE_PYTHON args``; its stdout, or RuntimeError carrying its stderr."""
    proc = subprocess.run([CURATE_PYTHON, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        problems = proc.stderr.strip() or proc.stdout.strip()
        raise RuntimeError(f"{what} (exit {proc.returncode}):\n{problems}")
    return proc.stdout


@task(task_id=VERIFY_TASK)
def verify(out: str) -> dict:
    """``curate verify OUT``: every listed file present with its sha256 and row count, no extra file."""
    _launch(["-m", "pipeline", "verify", out], f"curate verify failed for {out}")
    return {"output": out, "verified": True}


def release_summary(out: str) -> dict:
    """OUT, the manifest's run id and the ``curate run`` summary (counts by stage, reason, language)."""
    return {"output": out, **json.loads(_launch(["-c", _READ_SUMMARY, out], f"reading {out}/manifest.json failed"))}


def publish(out: str, asset: Asset):
    """The task that announces a verified release: XCom return value and the Asset event's extra."""

    @task(task_id=PUBLISH_TASK, outlets=[asset])
    def curate_publish(out: str) -> dict:
        release = release_summary(out)
        get_current_context()["outlet_events"][asset].extra = release
        return release

    return curate_publish(out)


def curation_tasks(dag, runner: str, **run_kwargs):
    """Wire ``curate_run >> curate_verify >> curate_publish`` inside ``dag``; returns the three tasks.

    Fails the DAG import (LauncherMissing, one line with the fix) when ``$CURATE_PYTHON`` cannot run curate.
    """
    if os.environ.get("CURATE_PYTHON_CHECK", "1") != "0":
        check_launcher(CURATE_PYTHON)
    run = run_task(runner, **run_kwargs)
    check = verify(OUT)
    release = publish(OUT, release_asset(dag.dag_id))
    run >> check >> release
    return run, check, release
