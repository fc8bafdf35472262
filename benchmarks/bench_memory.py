"""Peak memory of one `curate run`: the largest process and the whole process tree.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_memory.py --repeat 3 [--json out.json] -- \
        .venv/bin/python -m pipeline.cli run --input F --output /tmp/out --overwrite --quiet

Runs the command ``--repeat`` times. For each run: the largest process's peak RSS (the kernel's
high-water mark, ``ru_maxrss`` of the waited-for children, so no sample can miss it), the peak of the
tree's summed RSS and each Beam worker's peak (sampled with psutil every ``--every`` seconds), and the
tree's CPU seconds (user + sys). Prints one line per run and the medians with their ranges.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import psutil


def _is_worker(p: psutil.Process) -> bool:
    try:
        line = " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return "sdk_worker" in line or "beam_worker" in line


def measure(cmd: list[str], every: float) -> dict:
    """One run of ``cmd`` in a fresh process group; the peaks in MB and the CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    tree_peak = 0
    worker_peaks: dict[int, int] = {}
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        total = 0
        for p in procs:
            try:
                rss = p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            if p.pid != root.pid and _is_worker(p):
                worker_peaks[p.pid] = max(worker_peaks.get(p.pid, 0), rss)
        tree_peak = max(tree_peak, total)
        time.sleep(every)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"command failed (rc {proc.returncode}): {err[-2000:]}")
    mb = 1024 * 1024
    return {
        # ru_maxrss (KB on Linux) of RUSAGE_CHILDREN: the largest peak of any waited-for descendant
        "largest_mb": round(after.ru_maxrss / 1024),
        "tree_mb": round(tree_peak / mb),
        "workers_mb": sorted(round(v / mb) for v in worker_peaks.values()),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "wall_s": round(time.time() - t0, 1),
    }


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):g} ({min(values):g}-{max(values):g})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--every", type=float, default=0.05)
    ap.add_argument("--json", help="append the runs and medians to this JSON-lines file")
    ap.add_argument("--label", default="")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given after --")
    # ru_maxrss of RUSAGE_CHILDREN never goes down: each run is measured in its own child process
    if os.environ.get("_BENCH_MEMORY_ONE") == "1":
        print(json.dumps(measure(cmd, args.every)))
        return 0
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, __file__, "--every", str(args.every), "--", *cmd],
                             env={**os.environ, "_BENCH_MEMORY_ONE": "1"}, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr.strip()[-2000:] or out.stdout)
        run = json.loads(out.stdout)
        runs.append(run)
        print(f"{args.label} run: {run}", flush=True)
    summary = {key: _median_range([r[key] for r in runs]) for key in ("largest_mb", "tree_mb", "cpu_s", "wall_s")}
    worker_max = [max(r["workers_mb"]) for r in runs if r["workers_mb"]]
    if worker_max:
        summary["largest_worker_mb"] = _median_range(worker_max)
    print(f"{args.label} median (range): {summary}", flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps({"label": args.label, "cmd": cmd, "runs": runs, "summary": summary}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
