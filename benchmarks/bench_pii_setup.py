"""PII engine set-up CPU seconds, one fresh interpreter per run, trees interleaved run by run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_pii_setup.py [--runs 5] [--tree DIR ...]

Each run in a fresh process (``time.process_time``): ``import presidio_analyzer`` (spaCy
included), ``PiiEngine.from_config(load_config(None))`` after it, and then building every
language's spaCy pipeline (what a run needing all of them pays). ``--tree`` adds other checkouts
(e.g. a ``git worktree`` of the base commit) measured the same way. Prints a Markdown table of
medians and (ranges).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_PROBE = """
import json, time
from pipeline.config import load_config
config = load_config(None)
t0 = time.process_time()
import presidio_analyzer
t1 = time.process_time()
from pipeline.pii.engine import PiiEngine
engine = PiiEngine.from_config(config)
t2 = time.process_time()
pipelines = engine.analyzer.nlp_engine.nlp
for lang in list(pipelines):
    pipelines[lang]
t3 = time.process_time()
print(json.dumps({"import presidio_analyzer": t1 - t0, "engine after the import": t2 - t1,
                  "engine total": t2 - t0, "engine total + every pipeline": t3 - t0}))
"""


def _run(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tree", action="append", default=[], help="another checkout to measure")
    args = ap.parse_args(argv)
    trees = [Path(t).resolve() for t in args.tree] + [REPO]
    results: dict[Path, list[dict]] = {t: [] for t in trees}
    for _ in range(args.runs):
        for tree in trees:
            results[tree].append(_run(tree))
    parts = list(results[REPO][0])
    print("| part (CPU s, median (range)) | " + " | ".join(str(t) for t in trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for part in parts:
        cells = []
        for tree in trees:
            values = [r[part] for r in results[tree]]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"| {part} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
