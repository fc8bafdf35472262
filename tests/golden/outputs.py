"""Order-independent content hashes of every output table of a run: the refactoring guard.

A refactor must not change what a run writes. ``table_hashes(OUT)`` hashes each table's rows
(canonical JSON per row, ``run_id`` left out, rows sorted) so shard names, shard boundaries and row
order do not matter, only content. ``tests/e2e/test_golden_outputs.py`` compares a fresh run on
examples/corpus with ``tests/golden/outputs.json``.

Regenerate the golden only for a change that is meant to change outputs (say which in the commit):

    PYTHONPATH=. .venv/bin/python tests/golden/outputs.py --write
"""
from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("outputs.json")
TABLES = ("documents", "decisions", "quarantine", "signatures", "trajectories")
VARYING = {"run_id"}
# name → config overrides (the embedded defaults, and the demo's trajectory config)
RUNS = {
    "defaults": None,
    "trajectories": REPO / "examples" / "trajectories.yaml",
}


# doc_ids derive from the input's absolute path, so every checkout reads the corpus from one place.
CORPUS = Path("/tmp") / "curation-pipeline-golden" / "corpus"  # not $TMPDIR: it would change them


def _corpus() -> Path:
    import shutil

    shutil.copytree(REPO / "examples" / "corpus", CORPUS, dirs_exist_ok=True)
    return CORPUS


def _plain(value):
    if isinstance(value, bytes):
        return "b64:" + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def table_hashes(out: Path) -> dict:
    result = {}
    for table in TABLES:
        rows = []
        for path in sorted((Path(out) / table).glob("*.parquet")):
            for row in pq.read_table(path).to_pylist():
                row = {k: _plain(v) for k, v in row.items() if k not in VARYING}
                rows.append(hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest())
        rows.sort()
        result[table] = {"rows": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}
    return result


def run_and_hash(name: str, workdir: Path) -> dict:
    from pipeline.config import load_config
    from pipeline.run import run

    cfg_path = RUNS[name]
    cfg = load_config(str(cfg_path) if cfg_path else None)
    out = workdir / name
    run(cfg, [str(_corpus())], str(out), [])
    return table_hashes(out)


def emit(golden: Path, current: dict, argv: list[str]) -> int:
    """Write ``current`` to ``golden`` with ``--write``; otherwise print it."""
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if "--write" in argv:
        golden.write_text(text, encoding="utf-8")
        print(f"wrote {golden}")
    else:
        print(text)
    return 0


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        current = {name: run_and_hash(name, Path(tmp)) for name in RUNS}
    return emit(GOLDEN, current, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
