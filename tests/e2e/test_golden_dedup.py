"""Dedup on the labelled near-duplicate set writes exactly what it wrote when
tests/golden/dedup_corpus.json was made (content hashes of kept, decisions and signatures)."""
from __future__ import annotations

import json

import pytest

from tests.golden.dedup_corpus import GOLDEN, run_and_hash


def test_dedup_outputs_equal_the_golden(tmp_path):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    current = run_and_hash(tmp_path)
    if current["input"] != golden["input"]:
        pytest.skip("this machine's gettext catalogues and /usr/share/doc give a different labelled set than the one the golden was recorded on")
    assert current == golden, (
        "dedup outputs changed; if the change is meant to change them, regenerate: "
        "PYTHONPATH=. .venv/bin/python tests/golden/dedup_corpus.py --write"
    )
