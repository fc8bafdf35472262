"""What a run on examples/corpus reports about itself: the manifest's stage counts (and their
order), summary and config hash — the part of a run ``outputs.json`` (table contents) does not
cover. ``tests/e2e/test_golden_outputs.py`` compares the manifest of each golden run with
``run_counts.json``.

Regenerate only for a change that is meant to change these numbers (say which in the commit), the
same way as ``outputs.json``:

    PYTHONPATH=. .venv/bin/python tests/golden/run_counts.py --write
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).with_name("run_counts.json")
TIMING = {"wall_seconds", "docs_per_second"}


def counts_of(manifest: dict) -> dict:
    summary = {k: v for k, v in manifest["summary"].items() if k not in TIMING}
    return {
        "config_sha256": manifest["config_sha256"],
        "stage_counts": manifest["stage_counts"],
        "stage_counts_order": list(manifest["stage_counts"]),
        "summary": summary,
        "summary_stages_order": list(summary["stages"]),
    }


def main(argv: list[str]) -> int:
    from tests.golden.outputs import RUNS, emit, run_and_hash

    current = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in RUNS:
            run_and_hash(name, Path(tmp))
            current[name] = counts_of(json.loads((Path(tmp) / name / "manifest.json").read_text(encoding="utf-8")))
    return emit(GOLDEN, current, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
