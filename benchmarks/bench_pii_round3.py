"""PII stage CPU seconds: the stage alone on the records a real run gives it, and whole runs.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_pii_round3.py --corpus benchmarks/work/corpus-v2-10000-s7.jsonl \\
        --tree /tmp/base [--runs 3] [--whole]

``--tree`` adds another checkout (e.g. ``git worktree add /tmp/base f94038b``) measured the same
way, runs interleaved tree by tree. Steps:

1. **capture** (once per corpus, cached next to ``--work``): a default run (trajectories off) of
   this tree with the PII stage's ``process_batch`` and ``scrub_decision_rows`` inputs recorded;
2. **stage**: per run, a fresh interpreter (``time.process_time``): importing the stage module and
   presidio (``import``), ``PiiScrubber.setup`` (``setup``), every captured batch (``records``:
   the lazily built spaCy tokenizers and phone patterns included), every captured row batch
   (``rows``); the outputs are hashed, and the hashes of all trees must be equal;
3. ``--whole``: ``curate run`` (default runner: 1 worker; trajectories off) in a child process, its user+sys CPU
   from ``resource.getrusage``, with all stages and with PII only.

Prints Markdown tables of medians and (ranges).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CAPTURE = r"""
import copy, pickle, sys
from pipeline import cli
import pipeline.stages.pii as P
import pipeline.stages.transforms as T
batches, rows = [], []
process_batch, scrub_rows = P.PiiScrubber.process_batch, T.scrub_decision_rows
def recording_process_batch(self, records):
    batches.append(copy.deepcopy(records))
    return process_batch(self, records)
def recording_scrub_rows(fields, held):
    rows.append(copy.deepcopy(held))
    return scrub_rows(fields, held)
P.PiiScrubber.process_batch, T.scrub_decision_rows = recording_process_batch, recording_scrub_rows
try:
    cli.main(sys.argv[2:])
except SystemExit:
    pass
with open(sys.argv[1], "wb") as f:
    pickle.dump((batches, rows), f)
"""

_STAGE = r"""
import copy, hashlib, json, pickle, sys, time
with open(sys.argv[1], "rb") as f:
    batches, rows = pickle.load(f)
batches = [copy.deepcopy(b) for b in batches]
from pipeline.config import load_config
config = load_config(None)
t0 = time.process_time()
from pipeline.stages.pii import PiiScrubber, scrub_decision_rows
import pipeline.pii.engine  # what PiiScrubber.setup imports first
import presidio_analyzer, presidio_anonymizer
t1 = time.process_time()
scrubber = PiiScrubber(config)
scrubber.setup()
t2 = time.process_time()
digest = hashlib.sha256()
for batch in batches:
    verdicts = scrubber.process_batch(batch)
    digest.update(json.dumps([batch, [repr(v) for v in verdicts]], sort_keys=True, default=str).encode())
t3 = time.process_time()
for held in rows:
    digest.update(json.dumps(scrub_decision_rows(scrubber._fields, held), sort_keys=True, default=str).encode())
t4 = time.process_time()
print(json.dumps({"import": t1 - t0, "setup": t2 - t1, "records": t3 - t2, "rows": t4 - t3, "total": t4 - t0,
                  "hash": digest.hexdigest()}))
"""


def _env(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")


def capture(corpus: Path, work: Path) -> Path:
    out = work / f"pii-inputs-{corpus.name.split('.')[0]}.pkl"
    if out.exists():
        return out
    cfg = work / "trajectories-off.yaml"
    cfg.write_text("trajectories: {enabled: false}\n")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", _CAPTURE, str(out), "run", "--input", str(corpus), "--output",
                        f"{tmp}/out", "--config", str(cfg), "--overwrite", "--quiet"],
                       cwd=REPO, env=_env(REPO), check=True, capture_output=True)
    return out


def stage_run(tree: Path, inputs: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _STAGE, str(inputs)], cwd=tree, env=_env(tree), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def whole_run(tree: Path, corpus: Path, cfg: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--input", str(corpus), "--output",
                        f"{tmp}/out", "--config", str(cfg), "--overwrite", "--quiet"],
                       cwd=tree, env=_env(tree), check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--tree", action="append", default=[], help="another checkout to measure (the base)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work")
    ap.add_argument("--whole", action="store_true", help="also time whole curate runs (all stages; PII only)")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    trees = [Path(t).resolve() for t in args.tree] + [REPO]
    inputs = capture(args.corpus.resolve(), args.work)
    stage: dict[Path, list[dict]] = {t: [] for t in trees}
    for _ in range(args.runs):
        for tree in trees:
            stage[tree].append(stage_run(tree, inputs))
    hashes = {r["hash"] for runs in stage.values() for r in runs}
    print(f"PII stage on the captured inputs of {args.corpus.name}; outputs identical across trees: {len(hashes) == 1}")
    print("| part (CPU s) | " + " | ".join(str(t) for t in trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for part in ("import", "setup", "records", "rows", "total"):
        print(f"| {part} | " + " | ".join(_cell([r[part] for r in stage[t]]) for t in trees) + " |")
    if args.whole:
        configs = {"all stages": "trajectories: {enabled: false}\n",
                   "PII only": "trajectories: {enabled: false}\nlicense: {enabled: false}\nlangid: {enabled: false}\n"
                               "quality: {enabled: false}\ndedup: {enabled: false}\n"}
        print(f"\nWhole `curate run` CPU s (1 worker), {args.corpus.name}")
        print("| config | " + " | ".join(str(t) for t in trees) + " |")
        print("|---|" + "---:|" * len(trees))
        for name, text in configs.items():
            cfg = args.work / f"bench-pii-{name.replace(' ', '-')}.yaml"
            cfg.write_text(text)
            times: dict[Path, list[float]] = {t: [] for t in trees}
            for _ in range(args.runs):
                for tree in trees:
                    times[tree].append(whole_run(tree, args.corpus.resolve(), cfg))
            print(f"| {name} | " + " | ".join(_cell(times[t]) for t in trees) + " |")
    return 0 if len(hashes) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
