"""Per-worker fixed cost: what one local SDK worker spends before its first record, by part.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_worker_setup.py [--base 7c91781] [--runs 3] [--config FILE]
        [--inputs FILE ...] [--workers 1 2]

The graph of a default run (``--config`` for another) is built once per tree and every ParDo's DoFn
is pickled with Beam's pickler, as the runner ships it. Then, in a fresh interpreter per run (as a
``--profile local-mp`` worker starts: ``$CURATE_LOCAL_PATHS_ONLY=1``), CPU seconds (user + system of
that process, ``time.process_time``) of: the worker's own imports (``pipeline.beam_worker`` as
``python -m pipeline.beam_worker`` runs it, Beam's ``sdk_worker_main``); unpickling every DoFn (the
modules their classes live in); and each DoFn's ``setup()`` in graph order, as each bundle processor
of the worker calls it. Before (``--base``, extracted with ``git archive``) and after (this tree)
interleaved run by run; median and (range) of ``--runs`` runs. Prints a Markdown table.

With ``--inputs``, also whole runs of each input (``curate run --quiet``, the config, 1 worker in
process, N > 1 with ``--profile local-mp`` and ``CURATE_WORKERS=N``): wall seconds and CPU seconds
(user + system of the launcher and its workers, ``getrusage(RUSAGE_CHILDREN)``), before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_startup import checkout  # noqa: E402

# Run in the tree under test: build the default graph, pickle its DoFns (label → bytes) to argv[1].
PICKLE_DOFNS = r"""
import os, pickle, sys
from pipeline.beam_import import import_beam
import_beam(True)
import apache_beam as beam
from apache_beam.internal import pickler
from pipeline import graph
from pipeline.config import load_config

cfg = load_config(sys.argv[2] or None)
files = [{"path": sys.argv[3], "size": os.path.getsize(sys.argv[3])}]
p = beam.Pipeline()
graph.build(p, cfg, files, sys.argv[4], "bench-run", read_workers=2)
fns = []

class Visitor(beam.pipeline.PipelineVisitor):
    def visit_transform(self, node):
        if isinstance(node.transform, beam.ParDo):
            fns.append((node.full_label, pickler.dumps(node.transform.fn)))

p.visit(Visitor())
with open(sys.argv[1], "wb") as fh:
    pickle.dump(fns, fh)
"""

# Run in a fresh interpreter as a worker would be: prints {"part": cpu seconds} as JSON.
WORKER = r"""
import json, pickle, sys, time
t0 = time.process_time()  # the interpreter's own start-up is before this
from pipeline.beam_import import import_beam
import_beam()
import pipeline.beam_worker
from apache_beam.runners.worker import sdk_worker_main
from pipeline.beam_inspect import cache_introspection
cache_introspection()
parts = {"interpreter start": t0, "worker imports": time.process_time() - t0}
from apache_beam.internal import pickler
with open(sys.argv[1], "rb") as fh:
    pickled = pickle.load(fh)
t = time.process_time()
fns = [(label, pickler.loads(blob)) for label, blob in pickled]
parts["unpickle DoFns (their modules' imports)"] = time.process_time() - t
setups = {}
for label, fn in fns:
    t = time.process_time()
    fn.setup()
    key = label.split("/")[0]
    setups[key] = setups.get(key, 0.0) + time.process_time() - t
for key, cpu in setups.items():
    parts[f"setup: {key}"] = cpu
parts["total to first record"] = time.process_time()
print(json.dumps(parts))
"""


def pickle_dofns(tree: Path, blob: Path, config: str | None, docs: Path, tmp: Path) -> Path:
    """``blob``: the (label, Beam-pickled DoFn) pairs of the graph ``tree`` builds for ``config``
    (None: the defaults) over the input ``docs``, built in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(tree), "CURATE_LOCAL_PATHS_ONLY": "1"}
    subprocess.run([sys.executable, "-c", PICKLE_DOFNS, str(blob), config or "", str(docs.resolve()), str(tmp / "staging")],
                   env=env, check=True, cwd=tmp, capture_output=True, timeout=600)
    return blob


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="7c91781")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--config", default=None)
    ap.add_argument("--inputs", nargs="*", default=[])
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--skip-setup", action="store_true", help="only the whole runs of --inputs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-worker-setup-") as tmp:
        tmp = Path(tmp)
        docs = tmp / "one.jsonl"
        docs.write_text(json.dumps({"text": "hello world"}) + "\n", encoding="utf-8")
        trees = {"before": checkout(args.base, tmp / "base"), "after": ROOT}
        for kernel in (ROOT / "pipeline").glob("_compiled_kernels*"):  # built, not in git: as in a fresh `make install`
            shutil.copy(kernel, trees["before"] / "pipeline" / kernel.name)
        blobs = {}
        for side, tree in trees.items():
            blobs[side] = pickle_dofns(tree, tmp / f"{side}.pkl", args.config, docs, tmp)
        if args.inputs:
            whole_runs(trees, args, tmp)
        if args.skip_setup:
            return
        got: dict[str, dict[str, list[float]]] = {side: {} for side in trees}
        for _ in range(args.runs):
            for side, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree), "CURATE_LOCAL_PATHS_ONLY": "1"}
                out = subprocess.run([sys.executable, "-c", WORKER, str(blobs[side])], env=env, check=True, cwd=tmp,
                                     capture_output=True, text=True).stdout
                parts = json.loads(out.strip().splitlines()[-1])
                for key, cpu in parts.items():
                    got[side].setdefault(key, []).append(cpu)
    keys = list(dict.fromkeys([*got["before"], *got["after"]]))
    print(f"| part (CPU s, median of {args.runs} and range) | before ({args.base}) | after |")
    print("|---|---:|---:|")
    for key in keys:
        b, a = got["before"].get(key), got["after"].get(key)
        print(f"| {key} | {summary(b) if b else '—'} | {summary(a) if a else '—'} |")


def whole_runs(trees: dict, args, tmp: Path) -> None:
    """Wall and CPU of ``curate run`` on each input at each worker count, before and after."""
    from bench_startup import timed

    print(f"| run (median of {args.runs} and range) | wall s before | wall s after | CPU s before | CPU s after |")
    print("|---|---:|---:|---:|---:|")
    for path in args.inputs:
        for workers in args.workers:
            got = {side: {"wall": [], "cpu": []} for side in trees}
            for i in range(args.runs):
                for side, tree in trees.items():
                    argv = ["run", "--input", os.path.abspath(path), "--output", str(tmp / f"out-{side}"), "--quiet", "--overwrite"]
                    if args.config:
                        argv += ["--config", os.path.abspath(args.config)]
                    env = None
                    if workers > 1:
                        argv += ["--profile", "local-mp"]
                        env = {"CURATE_WORKERS": str(workers)}
                    wall, cpu, rc = timed(tree, argv, tmp, env)
                    if rc != 0:
                        raise SystemExit(f"{side}: curate run failed ({rc}) on {path}")
                    got[side]["wall"].append(wall)
                    got[side]["cpu"].append(cpu)
            print(f"| {Path(path).name}, {workers} worker(s) | {summary(got['before']['wall'])} | {summary(got['after']['wall'])} | "
                  f"{summary(got['before']['cpu'])} | {summary(got['after']['cpu'])} |", flush=True)


if __name__ == "__main__":
    main()
