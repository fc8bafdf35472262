"""A wheel built from the repo runs with no checkout present.

The default config, rules/, manifests/ (audit views, manifest schema) and runner profiles are package
data: the wheel is installed into an empty directory, the checkout is kept off the import path, and
`python -m pipeline run` / `verify` / `audit` work from a directory that holds nothing but the input.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO), "-w", str(out)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (whl,) = out.glob("curation_pipeline-*.whl")
    return whl


def test_wheel_carries_every_rules_file_and_the_audit_views(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {f"pipeline/rules/{p.relative_to(REPO / 'rules').as_posix()}" for p in (REPO / "rules").rglob("*") if p.is_file()}
    assert rules and rules <= names, sorted(rules - names)
    manifests = {f"pipeline/manifests/{p.relative_to(REPO / 'manifests').as_posix()}" for p in (REPO / "manifests").rglob("*") if p.is_file()}
    assert manifests <= names, sorted(manifests - names)
    assert {"pipeline/profiles/dataflow.yaml", "pipeline/cli.py", "pipeline/__main__.py"} <= names


def test_installed_wheel_runs_without_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "work"
    (work / "in").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "corpus" / "web.jsonl", work / "in" / "web.jsonl")
    # The wheel's copy comes first on the path; the editable install's finder only answers after it.
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}

    def py(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    where = py("-c", "import pipeline, pipeline.resources as r; print(pipeline.__file__); print(r.rules_dir())")
    assert where.returncode == 0, where.stderr
    module_file, rules_path = where.stdout.split()
    assert module_file.startswith(str(site)) and rules_path.startswith(str(site)), where.stdout
    assert not Path(rules_path).resolve().is_relative_to(REPO)  # not a symlink back into the checkout

    run = py("-m", "pipeline", "run", "--input", "in", "--output", "out")
    assert run.returncode == 0, run.stderr[-3000:]
    manifest = json.loads((work / "out" / "manifest.json").read_text(encoding="utf-8"))
    # The rules the run used are the wheel's, byte for byte the repo's.
    assert manifest["rules"], "manifest lists no rules files"
    for name, digest in manifest["rules"].items():
        assert digest == hashlib.sha256((REPO / "rules" / name).read_bytes()).hexdigest(), name
    assert py("-m", "pipeline", "verify", "out").returncode == 0
    audit = py("-m", "pipeline", "audit", "out", "SELECT count(*) AS n FROM decisions")
    assert audit.returncode == 0, audit.stderr[-2000:]
    n_lines = sum(1 for line in (work / "in" / "web.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    assert str(n_lines) in audit.stdout
