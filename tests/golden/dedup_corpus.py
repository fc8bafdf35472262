"""Order-independent content hashes of the dedup stage's outputs on tests/e2e/dedup_corpus.py's
labelled near-duplicate set: the refactoring guard for pipeline/stages/dedup and pipeline/minhash
(examples/corpus, guarded by tests/golden/outputs.py, has few near duplicates).

The labelled set is built from text on the machine (gettext catalogues, /usr/share/doc), so the
golden records a fingerprint of its input too; a machine whose catalogues differ cannot compare and
the test says so. Regenerate only for a change meant to change dedup's outputs:

    PYTHONPATH=. .venv/bin/python tests/golden/dedup_corpus.py --write
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from tests.golden.outputs import emit

GOLDEN = Path(__file__).with_name("dedup_corpus.json")
E2E = Path(__file__).resolve().parents[1] / "e2e"


def _digest(rows) -> dict:
    lines = sorted(hashlib.sha256(json.dumps(r, sort_keys=True, ensure_ascii=False).encode()).hexdigest() for r in rows)
    return {"rows": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def run_and_hash(workdir: Path) -> dict:
    sys.path.insert(0, str(E2E))
    from dedup_corpus import labelled_set
    from test_dedup_beam import _cfg, _records, run_dedup

    docs, _en, _ko = labelled_set()
    records = _records([(text, lang) for text, lang, _ in docs])
    kept, decisions, signatures = run_dedup(workdir, records, _cfg(threshold=0.8))
    varying = {"run_id"}
    return {
        "input": _digest([[r["doc_id"], r["lang"], r["text"]] for r in records]),
        "kept": _digest(kept),
        "decisions": _digest([{k: v for k, v in d.items() if k not in varying} for d in decisions]),
        "signatures": _digest([{k: v for k, v in s.items() if k not in varying} for s in signatures]),
    }


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        current = run_and_hash(Path(tmp))
    return emit(GOLDEN, current, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
