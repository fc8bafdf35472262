"""Ingest yields exactly what it yielded when tests/golden/readers.json was made, for every file of a
mixed, partly hostile corpus read whole and in splits: the guard for refactors of pipeline/io."""
from __future__ import annotations

import json

from tests.golden.readers import GOLDEN, reader_hashes


def test_reader_outputs_equal_the_golden():
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    current = reader_hashes()
    assert sorted(current) == sorted(golden)
    changed = [name for name in golden if current[name] != golden[name]]
    assert not changed, (
        f"ingest outputs changed for {changed}; if that is meant, regenerate: "
        "PYTHONPATH=. .venv/bin/python tests/golden/readers.py --write"
    )
