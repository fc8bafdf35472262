"""A local worker's fixed cost before its first record: what its set-up imports and builds.

The worker test builds the graph of a run, ships every DoFn through Beam's pickler as the runner does,
and sets them up in a fresh interpreter started as ``python -m pipeline.beam_worker`` starts
(:func:`pipeline.beam_import.import_beam` first), then lists what it imported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import ruleyaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_worker_setup import pickle_dofns  # noqa: E402 - the graph's DoFns as the runner ships them

# A worker: Beam as beam_worker imports it, every DoFn unpickled and set up; prints sys.modules.
SET_UP_LIKE_A_WORKER = r"""
import json, pickle, sys
from pipeline.beam_import import import_beam
import_beam()
import pipeline.beam_worker
from apache_beam.internal import pickler
with open(sys.argv[1], "rb") as fh:
    fns = [pickler.loads(blob) for _label, blob in pickle.load(fh)]
for fn in fns:
    fn.setup()
print(json.dumps({"dofns": len(fns), "modules": sorted(sys.modules)}))
"""

# Packages in the environment that no default stage uses: a worker importing one pays for it on
# every run. (pandas: Beam's optional batch converters; pymongo: its MongoDB connector; google.api_core: gs:// support, hidden
# for a run whose paths are all local.)
NEVER_IMPORTED = ("pandas", "pymongo", "torch", "transformers", "stanza", "scipy", "sklearn", "duckdb", "matplotlib",
                  "google.api_core", "datatrove")
# What only the PII stage needs.
PII_ONLY = ("presidio_analyzer", "presidio_anonymizer", "spacy")


def modules_of_a_worker(tmp_path: Path, config_text: str | None) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CURATE_LOCAL_PATHS_ONLY": "1"}
    docs = tmp_path / "one.jsonl"
    docs.write_text(json.dumps({"text": "hello world"}) + "\n", encoding="utf-8")
    config = None
    if config_text is not None:
        config = str(tmp_path / "config.yaml")
        Path(config).write_text(config_text, encoding="utf-8")
    blob = pickle_dofns(ROOT, tmp_path / "dofns.pkl", config, docs, tmp_path)
    out = subprocess.run([sys.executable, "-c", SET_UP_LIKE_A_WORKER, str(blob)], env=env, check=True,
                         capture_output=True, text=True, timeout=300, cwd=tmp_path).stdout
    got = json.loads(out.strip().splitlines()[-1])
    return got["dofns"], set(got["modules"])


def imported(modules: set[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


def test_a_worker_with_the_default_stages_imports_nothing_heavy_it_does_not_use(tmp_path):
    dofns, modules = modules_of_a_worker(tmp_path, None)
    assert dofns > 10  # the whole default graph was set up, not an empty one
    assert imported(modules, "presidio_analyzer") and imported(modules, "fasttext")  # the stages' own libraries
    assert [p for p in NEVER_IMPORTED if imported(modules, p)] == []


def test_a_worker_without_the_pii_stage_imports_neither_presidio_nor_spacy(tmp_path):
    dofns, modules = modules_of_a_worker(tmp_path, "pii: {enabled: false}\ntrajectories: {enabled: false}\n")
    assert dofns > 10
    assert [p for p in PII_ONLY + NEVER_IMPORTED if imported(modules, p)] == []


RULES_YAML = sorted(p for p in (ROOT / "rules").rglob("*.yaml"))


@pytest.mark.parametrize("path", RULES_YAML, ids=lambda p: str(p.relative_to(ROOT / "rules")))
def test_the_rules_loader_reads_every_shipped_rules_file_as_pyyaml_safe_load_does(path):
    text = path.read_text(encoding="utf-8")
    assert ruleyaml.safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader)  # the pure-Python loader


def test_the_rules_loader_refuses_what_safe_load_refuses():
    with pytest.raises(yaml.YAMLError):
        ruleyaml.safe_load("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(yaml.YAMLError):
        ruleyaml.safe_load("a: [1, 2\nb: 3\n")


WARM_IMPORTS = r"""
import json, sys
from pipeline.beam_import import import_beam
import_beam()
from pipeline.warm_workers import warm_modules
import importlib
for name in warm_modules(pii_enabled=True):
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_a_warm_process_imports_every_pii_module_a_default_worker_sets_up_with(tmp_path):
    # What a warm process imported before it is claimed is what the worker it becomes needs no more:
    # a module of ours missing from warm_modules is imported after the claim, on the run's time.
    _dofns, needed = modules_of_a_worker(tmp_path, None)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", WARM_IMPORTS], env=env, check=True, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path).stdout
    warm = set(json.loads(out.strip().splitlines()[-1]))
    # (spaCy's language modules are the run's languages, known only after the claim)
    ours = {m for m in needed if m.startswith(("pipeline.pii", "presidio_analyzer", "presidio_anonymizer"))}
    assert "pipeline.pii.engine" in ours and sorted(ours - warm) == []
