"""A run on examples/corpus writes exactly what it wrote when tests/golden/outputs.json was made:
the guard for refactors that must not change behaviour (content hashes of every table), and
reports the same counts about itself (tests/golden/run_counts.json: the manifest's stage counts
in their order, summary and config hash)."""
from __future__ import annotations

import json

import pytest

from tests.golden import run_counts
from tests.golden.outputs import GOLDEN, RUNS, run_and_hash


@pytest.mark.parametrize("name", sorted(RUNS))
def test_outputs_equal_the_golden(tmp_path, name):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    assert run_and_hash(name, tmp_path) == golden, (
        "outputs changed; if the change is meant to change outputs, regenerate: "
        "PYTHONPATH=. .venv/bin/python tests/golden/outputs.py --write"
    )
    manifest = json.loads((tmp_path / name / "manifest.json").read_text(encoding="utf-8"))
    assert run_counts.counts_of(manifest) == json.loads(run_counts.GOLDEN.read_text(encoding="utf-8"))[name], (
        "the manifest's counts changed; if meant to, regenerate: PYTHONPATH=. .venv/bin/python tests/golden/run_counts.py --write"
    )
