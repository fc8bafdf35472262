"""One worker against two on ONE input file: wall, CPU per process, peak RSS per worker, the share of
the run both workers are busy, and a 4-worker projection from the measured serial and parallel CPU.

    .venv/bin/python benchmarks/bench_scaling.py                          # 10k docs, 3 runs (~10 min loaded)
    .venv/bin/python benchmarks/bench_scaling.py --docs 100000 --runs 3   # the issue's 100k figure (~1 h loaded)
    .venv/bin/python benchmarks/bench_scaling.py --docs 2000 --runs 1 --formats plain   # smoke test

Each run is ``curate run --profile local-mp`` (CURATE_WORKERS=1 or 2) on the multilingual corpus
(benchmarks/corpus.py) as one plain JSONL file and as one .jsonl.gz file, default config; runs are
interleaved (run r: plain 1w, plain 2w, gz 1w, gz 2w) so load drift hits both sides alike. The
process tree is sampled every ``--every`` seconds (psutil): per process its CPU seconds (user +
system) and peak RSS. Each sampling interval is "parallel" when two or more processes each used at
least ``BUSY_SHARE`` of the busiest one's CPU in it (and at least ``BUSY_MIN`` cores), otherwise
"serial"; the CPU spent in each kind of interval gives S (serial) and P (parallel) CPU seconds.

Projection (Amdahl, on an idle machine where every busy process gets a core): with C1 the total CPU
of the 1-worker run, and S2, P2 and C2 = S2 + P2 those of the 2-worker run, adding a worker adds
d = C2 - C1 CPU seconds (set-up repeated per worker, data plane), so with N workers

    T(N) = S2 + (P2 + (N - 2) * d) / N        speed-up(N) = C1 / T(N)

speed-up(2) is the upper bound the measured CPU allows for 2 workers; speed-up(4) the projection.
The documents and decisions tables of every run are compared (content, sorted by doc_id) with the
first 1-worker run's. Written to benchmarks/results/scaling.md (and scaling.json next to it).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import corpus  # noqa: E402

OUT_MD = ROOT / "benchmarks" / "results" / "scaling.md"
BUSY_SHARE = 0.25
BUSY_MIN = 0.05
CORES = 2  # the machine the idle-wall estimate is for (the issue's: 2 cores)


def gz_copy(path: Path) -> Path:
    dest = path.with_name(path.name + ".gz")
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".tmp")
        with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.rename(dest)
    return dest


def role(cmdline: str, root: bool) -> str:
    if root:
        return "runner"
    if "beam_worker" in cmdline or "sdk_worker" in cmdline:
        return "worker"
    return "other"


def sample_run(cmd: list[str], env: dict, every: float) -> dict:
    """Run ``cmd``; per process: role, CPU seconds, peak RSS; per interval: CPU per process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    procs: dict[int, dict] = {}
    intervals: list[dict[int, float]] = []
    stop = threading.Event()

    def sample():
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        seen: dict[int, psutil.Process] = {}  # a forked warm worker outlives (and leaves) its parent's tree
        while not stop.is_set():
            try:
                for p in (root, *root.children(recursive=True)):
                    seen.setdefault(p.pid, p)
            except psutil.NoSuchProcess:
                break
            tree = list(seen.values())
            deltas: dict[int, float] = {}
            for p in tree:
                try:
                    with p.oneshot():
                        ct = p.cpu_times()
                        rss = p.memory_info().rss
                        info = procs.get(p.pid)
                        if info is None:
                            info = procs[p.pid] = {"role": role(" ".join(p.cmdline()), p.pid == proc.pid), "cpu": 0.0, "rss": 0}
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                cpu = ct.user + ct.system
                deltas[p.pid] = cpu - info["cpu"]
                info["cpu"] = cpu
                info["rss"] = max(info["rss"], rss)
            intervals.append(deltas)
            stop.wait(every)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    err = proc.communicate()[1]
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode:
        raise SystemExit(f"bench_scaling: run failed (rc {proc.returncode}): {err.decode('utf-8', 'replace')[-1500:]}")
    return {"wall": wall, "procs": list(procs.values()), "intervals": intervals, "every": every, "pid_roles": {pid: i["role"] for pid, i in procs.items()}}


def phases(run: dict) -> dict:
    """Serial and parallel CPU seconds, and the share of sampled intervals with both workers busy."""
    serial = parallel = 0.0
    both = 0
    roles = run["pid_roles"]
    for deltas in run["intervals"]:
        top = max(deltas.values(), default=0.0)
        busy = [pid for pid, d in deltas.items() if d >= max(BUSY_SHARE * top, BUSY_MIN * run["every"])]
        cpu = sum(deltas.values())
        if len(busy) >= 2:
            parallel += cpu
        else:
            serial += cpu
        both += sum(1 for pid in busy if roles.get(pid) == "worker") >= 2
    n = max(len(run["intervals"]), 1)
    # Each interval's work on an idle machine with CORES cores: at least its busiest process's CPU
    # (one thread each) and at least its total CPU spread over the cores.
    idle = sum(max(max(d.values(), default=0.0), sum(d.values()) / CORES) for d in run["intervals"])
    return {"serial": serial, "parallel": parallel, "both_busy": both / n, "idle_wall": idle}


def table_digest(out: Path, table: str) -> str:
    """Content hash of one output table, rows sorted by doc_id (shard layout does not matter)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((out / table).glob("*.parquet"))
    t = pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})
    if t.num_rows:
        keys = [(c, "ascending") for c in ("doc_id", "stage", "action", "reason") if c in t.column_names]
        t = t.drop_columns([c for c in ("run_id",) if c in t.column_names]).sort_by(keys)
    t = t.replace_schema_metadata(None)  # shard metadata names the run
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as writer:
        writer.write_table(t.combine_chunks())
    return f"{t.num_rows}:{hashlib.sha256(sink.getvalue()).hexdigest()[:16]}"


def one(path: Path, workers: int, work: Path, every: float, config: Path | None) -> dict:
    out = work / f"out-{workers}w"
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", str(path), "--output", str(out), "--overwrite", "--quiet",
           "--profile", "local-mp"]
    if config:
        cmd += ["--config", str(config)]
    env = {**os.environ, "CURATE_WORKERS": str(workers), "PYTHONPATH": str(ROOT)}
    r = sample_run(cmd, env, every)
    cpu = sum(p["cpu"] for p in r["procs"])
    workers_seen = [p for p in r["procs"] if p["role"] == "worker" and p["cpu"] > 0.5]
    runner = [p for p in r["procs"] if p["role"] == "runner"]
    res = {
        "workers": workers,
        "wall": r["wall"],
        "cpu": cpu,
        "runner_cpu": sum(p["cpu"] for p in runner),
        "worker_cpu": sorted((p["cpu"] for p in workers_seen), reverse=True),
        "worker_rss_mb": sorted((p["rss"] / 2**20 for p in workers_seen), reverse=True),
        "runner_rss_mb": max((p["rss"] for p in runner), default=0) / 2**20,
        "load1": os.getloadavg()[0],
        **phases(r),
        "documents": table_digest(out, "documents"),
        "decisions": table_digest(out, "decisions"),
    }
    shutil.rmtree(out, ignore_errors=True)
    return res


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def project(c1: float, s2: float, p2: float, c2: float, n: int) -> float:
    d = c2 - c1
    return c1 / (s2 + (p2 + (n - 2) * d) / n)


def report(results: dict, args) -> str:
    L = [f"# One worker against two on one input file ({args.docs:,} documents)\n",
         f"Written by `benchmarks/bench_scaling.py --docs {args.docs} --runs {args.runs}`: `curate run --profile local-mp` "
         f"with CURATE_WORKERS=1 and 2, default config, {args.corpus} corpus, runs interleaved. Figures are medians "
         f"of {args.runs} with (min-max). The machine was shared (1-minute load {min(r['load1'] for rs in results.values() for r in rs):.1f}"
         f"-{max(r['load1'] for rs in results.values() for r in rs):.1f} at the ends of runs): wall times are noise, CPU is the measure. "
         "'both busy' = share of sampled intervals where both SDK workers were busy; S/P = CPU spent in serial/parallel intervals "
         "(see the script's docstring). Upper bound and projection: speed-up(N) = C1 / (S2 + (P2 + (N-2)(C2-C1)) / N).\n"]
    for fmt in args.formats:
        one_w = results[f"{fmt}-1"]
        two_w = results[f"{fmt}-2"]
        L += [f"## {fmt} ({'one .jsonl.gz file' if fmt == 'gz' else 'one plain JSONL file'})\n",
              "| workers | wall s | CPU s (all) | runner CPU s | CPU s per worker | peak RSS MB per worker | runner RSS MB | serial CPU s | parallel CPU s | both busy | idle-wall estimate s |",
              "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]
        for w, rs in ((1, one_w), (2, two_w)):
            per_worker = " / ".join(med([r["worker_cpu"][i] for r in rs if len(r["worker_cpu"]) > i]) for i in range(w))
            rss = " / ".join(med([r["worker_rss_mb"][i] for r in rs if len(r["worker_rss_mb"]) > i]) for i in range(w))
            L.append(f"| {w} | {med([r['wall'] for r in rs])} | {med([r['cpu'] for r in rs])} | {med([r['runner_cpu'] for r in rs])} | "
                     f"{per_worker} | {rss} | {med([r['runner_rss_mb'] for r in rs])} | {med([r['serial'] for r in rs])} | "
                     f"{med([r['parallel'] for r in rs])} | {med([100 * r['both_busy'] for r in rs])} % | {med([r['idle_wall'] for r in rs])} |")
        c1 = statistics.median(r["cpu"] for r in one_w)
        c2 = statistics.median(r["cpu"] for r in two_w)
        s2 = statistics.median(r["serial"] for r in two_w)
        p2 = c2 - s2
        wall = statistics.median(r["wall"] for r in one_w) / statistics.median(r["wall"] for r in two_w)
        same = all(r["documents"] == one_w[0]["documents"] and r["decisions"] == one_w[0]["decisions"] for r in one_w + two_w)
        L += ["",
              f"- C1 = {c1:.1f} CPU s, C2 = {c2:.1f} CPU s (+{100 * (c2 / c1 - 1):.0f} %), S2 = {s2:.1f}, P2 = {p2:.1f}, d = C2 - C1 = {c2 - c1:.1f}.",
              f"- Speed-up 2 workers: upper bound from CPU **{project(c1, s2, p2, c2, 2):.2f}x**; wall (loaded machine, medians) {wall:.2f}x.",
              f"- Projected 4 workers: **{project(c1, s2, p2, c2, 4):.2f}x**.",
              f"- Idle-wall estimate (per sampled interval: max(busiest process's CPU, total CPU / {CORES}), summed): "
              f"1 worker {statistics.median(r['idle_wall'] for r in one_w):.1f} s, 2 workers "
              f"{statistics.median(r['idle_wall'] for r in two_w):.1f} s.",
              f"- Documents and decisions tables identical across all runs: **{'yes' if same else 'NO'}** "
              f"(documents {one_w[0]['documents']}, decisions {one_w[0]['decisions']}).\n"]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--formats", type=lambda s: s.split(","), default=["plain", "gz"])
    ap.add_argument("--every", type=float, default=0.25, help="sampling interval, seconds")
    ap.add_argument("--config", type=Path, help="a config file for every run (default: the defaults)")
    ap.add_argument("--out", type=Path, default=OUT_MD)
    ap.add_argument("--corpus", choices=["multilingual", "english"], default="multilingual")
    args = ap.parse_args(argv)
    plain = corpus.build(args.docs, corpus=args.corpus)
    inputs = {"plain": plain, "gz": gz_copy(plain) if "gz" in args.formats else None}
    work = corpus.WORK / f"scaling-{args.docs}"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {f"{fmt}-{w}": [] for fmt in args.formats for w in (1, 2)}
    for run in range(args.runs):
        for fmt in args.formats:
            for w in (1, 2):
                r = one(inputs[fmt], w, work, args.every, args.config)
                results[f"{fmt}-{w}"].append(r)
                print(f"run {run + 1} {fmt} {w}w: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s (runner {r['runner_cpu']:.1f}, "
                      f"workers {', '.join(f'{c:.1f}' for c in r['worker_cpu'])}), serial {r['serial']:.1f}, both busy "
                      f"{100 * r['both_busy']:.0f} %, load {r['load1']:.1f}", flush=True)
    text = report(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
