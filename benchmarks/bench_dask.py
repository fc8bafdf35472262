"""`curate run` on a 2-worker Dask cluster against the local multi_processing runner with 2 workers.

    .venv/bin/python benchmarks/bench_dask.py --docs 5000 --runs 3   # → benchmarks/results/dask.md

The benchmark corpus (benchmarks/corpus.py, Debian documentation; `make bench-setup`), the default
config, each run a fresh `curate run` process timed from launch to exit. Dask: a fresh cluster
(`dask scheduler` + 2 `dask worker --nthreads 1 --no-nanny` on 127.0.0.1, tests/e2e/dask_cluster.py)
per run, started before the clock starts, so a run pays its workers' DoFn set-up (spaCy,
fasttext) as the local runner's fresh SDK workers do. Local: `--direct_running_mode=multi_processing
--direct_num_workers=2`. Runs alternate between the two runners.

Peak memory per worker: Dask workers' ``VmHWM`` (/proc/PID/status) read at the end of the run; the
local runner's SDK worker processes (children of the launcher) are sampled every 50 ms (they exit
with the run), their largest RSS kept. The launcher's peak RSS is sampled the same way for both.
The 1-minute load average is recorded before and after each run (the machine is shared).
Figures are medians of the runs with [min–max] ranges. Both runners must report the same summary
counts, or the benchmark fails.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.e2e.dask_cluster import DaskCluster  # noqa: E402

RESULTS_MD = ROOT / "benchmarks" / "results" / "dask.md"
RAW_JSON = ROOT / "benchmarks" / "work" / "dask.json"
LOCAL_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
COUNTS = ("records_in", "kept", "dropped", "quarantined")


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def timed_run(cmd: list[str]) -> dict:
    """Run ``cmd``; wall seconds, peak RSS (MB) of the launcher and of each child process seen."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    launcher, children, stop = 0, {}, threading.Event()

    def sample():
        nonlocal launcher
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                launcher = max(launcher, root.memory_info().rss)
                for child in root.children(recursive=True):
                    children[child.pid] = max(children.get(child.pid, 0), child.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            stop.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}… failed: {err.decode(errors='replace')[-2000:]}")
    return {"wall": wall, "launcher_mb": launcher / 2**20, "children_mb": sorted(v / 2**20 for v in children.values())}


def curate_cmd(corpus: Path, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", "--input", str(corpus), "--output", str(out), "--overwrite", "--quiet", *extra]


def summary_counts(out: Path) -> dict:
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    return {k: summary[k] for k in COUNTS}


def run_local(corpus: Path, work: Path) -> dict:
    out = work / "local"
    r = timed_run(curate_cmd(corpus, out, LOCAL_ARGS))
    # the two largest children are the SDK workers (the launcher also starts short-lived helpers)
    r["worker_mb"] = r.pop("children_mb")[-2:]
    r["counts"] = summary_counts(out)
    return r


def run_dask(corpus: Path, work: Path) -> dict:
    out = work / "dask"
    with DaskCluster(work / "cluster", workers=2) as cluster:
        r = timed_run(curate_cmd(corpus, out, ["--runner", "DaskRunner", f"--dask_client_address={cluster.address}"]))
        r["worker_mb"] = sorted(_vm_hwm_mb(pid) for pid in cluster.worker_pids)
    r.pop("children_mb")
    r["counts"] = summary_counts(out)
    return r


def _fmt(values: list[float], digits: int = 0) -> str:
    med = statistics.median(values)
    return f"{med:,.{digits}f} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"


def report(raw: dict) -> str:
    n, docs = raw["runs"], raw["docs"]
    lines = [
        "# Dask cluster vs local multi_processing (2 workers each)",
        "",
        f"Machine: 2 cores (shared with other jobs while measuring: load below), Python {sys.version.split()[0]}, "
        f"apache-beam 2.77.0, dask/distributed {raw['dask_version']}.",
        f"Run: `.venv/bin/python benchmarks/bench_dask.py --docs {docs} --runs {n}`; the benchmark corpus "
        f"({docs:,} documents, {raw['corpus_mb']:.1f} MB), default config; medians of {n} runs [min–max].",
        "Dask: a fresh `dask scheduler` + 2 `dask worker --nthreads 1 --no-nanny` on 127.0.0.1 per run, "
        "started before the clock. Local: `--direct_running_mode=multi_processing --direct_num_workers=2`.",
        "Per-worker peak: Dask workers' VmHWM; local SDK workers' RSS sampled every 50 ms. "
        "Both runners reported the same record counts in every run: " + ", ".join(f"{k} {v:,}" for k, v in raw["counts"].items()) + ".",
        "",
        "| runner | wall s | docs/s | peak RSS per worker MB (larger of 2) | peak RSS per worker MB (smaller) | launcher peak RSS MB | load avg (1 min) during runs |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, label in (("local", "DirectRunner multi_processing, 2 workers"), ("dask", "DaskRunner, 2 workers")):
        runs = raw[name]
        walls = [r["wall"] for r in runs]
        loads = [x for r in runs for x in r["load"]]
        lines.append(
            f"| {label} | {_fmt(walls, 1)} | {_fmt([docs / w for w in walls])} | {_fmt([r['worker_mb'][-1] for r in runs])} | "
            f"{_fmt([r['worker_mb'][0] for r in runs])} | {_fmt([r['launcher_mb'] for r in runs])} | {min(loads):.1f}–{max(loads):.1f} |"
        )
    peak_load = max(x for name in ("local", "dask") for r in raw[name] for x in r["load"])
    if peak_load > 2.5:  # more runnable work than the 2 cores: the runs shared them
        lines += [
            "",
            "With the machine this loaded, the wall times say more about the share of the 2 cores each run got "
            "than about the runners; the memory figures are not affected by the load.",
        ]
    return "\n".join(lines) + "\n"


def splice(md: str) -> None:
    """Put the report into benchmarks/RESULTS.md as run_all.py renders benchmarks/results/*.md."""
    results = ROOT / "benchmarks" / "RESULTS.md"
    text = results.read_text(encoding="utf-8")
    body = "\n".join(("##" + line) if line.startswith("#") else line for line in md.strip().splitlines())
    block = f"<!-- included from benchmarks/results/{RESULTS_MD.name} -->\n{body}\n"
    marker = f"<!-- included from benchmarks/results/{RESULTS_MD.name} -->"
    if marker in text:
        head, rest = text.split(marker, 1)
        nxt = rest.find("<!-- included from ", 1)
        text = head + block + ("\n" + rest[nxt:] if nxt >= 0 else "")
    else:
        anchor = "<!-- included from benchmarks/results/dedup.md -->"  # run_all includes them sorted by name
        text = text.replace(anchor, block + "\n" + anchor, 1) if anchor in text else text.rstrip() + "\n\n" + block
    results.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    import dask

    from corpus import build

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-splice", action="store_true", help="write benchmarks/results/dask.md only")
    args = ap.parse_args(argv)
    corpus = build(args.docs)
    raw = {"docs": args.docs, "runs": args.runs, "corpus_mb": corpus.stat().st_size / 2**20, "dask_version": dask.__version__, "local": [], "dask": []}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        for i in range(args.runs):
            for name, fn in (("local", run_local), ("dask", run_dask))[:: 1 if i % 2 == 0 else -1]:
                before = os.getloadavg()[0]
                r = fn(corpus, Path(tmp) / f"{name}{i}")
                r["load"] = [before, os.getloadavg()[0]]
                raw[name].append(r)
                print(f"{name} run {i + 1}: {r['wall']:.1f}s, workers {[round(x) for x in r['worker_mb']]} MB, load {r['load']}", flush=True)
    counts = {json.dumps(r["counts"], sort_keys=True) for name in ("local", "dask") for r in raw[name]}
    if len(counts) != 1:
        raise SystemExit(f"runners disagree on the summary counts: {counts}")
    raw["counts"] = json.loads(counts.pop())
    RAW_JSON.parent.mkdir(parents=True, exist_ok=True)
    RAW_JSON.write_text(json.dumps(raw, indent=1))
    md = report(raw)
    RESULTS_MD.write_text(md, encoding="utf-8")
    if not args.no_splice:
        splice(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
