"""A run on examples/corpus writes exactly what it wrote when tests/golden/outputs.json was made:
the guard for refactors that must not change behaviour (content hashes of every table)."""
from __future__ import annotations

import json

import pytest

from tests.golden.outputs import GOLDEN, RUNS, run_and_hash


@pytest.mark.parametrize("name", sorted(RUNS))
def test_outputs_equal_the_golden(tmp_path, name):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    assert run_and_hash(name, tmp_path) == golden, (
        "outputs changed; if the change is meant to change outputs, regenerate: "
        "PYTHONPATH=. .venv/bin/python tests/golden/outputs.py --write"
    )
