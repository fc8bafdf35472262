"""CPU per process for each fused stage of one local multi-worker run: which stages run on one
worker only, and how much the runner process (shuffles) spends between them.

    .venv/bin/python benchmarks/stage_cpu.py --input F.jsonl[.gz] --workers 2 [--top 25]
    .venv/bin/python benchmarks/stage_cpu.py --project 1,2,4 --runs 3 --input F.jsonl [--input G.jsonl]   # → results/projection.md

Runs ``pipeline.run.run`` in this process (the FnApiRunner and its shuffles are this process) with
``--direct_running_mode=multi_processing``; Beam logs the start of each stage's bundle, and at each
start the CPU seconds (user + system) of this process and of every SDK worker are read (psutil).
The difference between two starts is the previous stage's CPU per process. The workers start
warm, before the graph is built, as ``curate run`` starts them (``--cold``: when the job starts). Stages are listed by
CPU, with the share done by the busiest worker (1.0 = one worker did all of it).

``--project``: the speed-up at more workers than this machine has cores, from per-stage CPU. Each
worker count runs ``--runs`` times (a fresh process each, interleaved); a run's critical path on N
idle cores is the sum over stages (the runner runs one stage at a time) of the stage's busiest
process's CPU, or its total CPU over N cores if larger, plus the same before the first bundle. At
N = 2 the critical path is checked against the run's own wall time on this 2-core machine; at
N = 4 the workers share 2 cores, so their CPU seconds (not their wall) carry the projection.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class StageClock(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.me = psutil.Process()
        self.rows: list[tuple[str, float, dict[int, float]]] = []  # (stage, time, cpu per pid)

    def snapshot(self) -> dict[int, float]:
        cpu = {}
        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            cpu[p.pid] = t.user + t.system
        return cpu

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Running bundle for stage"):
            self.rows.append((msg.split("\n")[0][len("Running bundle for stage "):], time.time(), self.snapshot()))


CORES = 2
PROJECTION_MD = ROOT / "benchmarks" / "results" / "projection.md"


def critical_cpu(runner: float, workers: list[float], cores: int = CORES) -> float:
    """A phase's wall on ``cores`` idle cores: at least its busiest process's CPU, at least its
    total CPU spread over the cores (processes run one thread of work each)."""
    return max(runner, max(workers, default=0.0), (runner + sum(workers)) / cores)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, action="append")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--cold", action="store_true", help="workers start when the job starts (not warm, as curate run starts them)")
    ap.add_argument("--json", help="also write the run's phases to this file")
    ap.add_argument("--project", help="comma-separated worker counts: run each --runs times, write results/projection.md")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cores", action="store_true",
                    help="also the CPU of each stage core (license, langid, …) per process (CURATE_STAGE_CPU)")
    args = ap.parse_args(argv)
    if args.project:
        return project(args.input, [int(x) for x in args.project.split(",")], args.runs, args.cold)
    if len(args.input) != 1:
        ap.error("one --input without --project")
    from pipeline import warm_workers
    from pipeline.config import load_config

    cfg = load_config()
    out = tempfile.mkdtemp(prefix="stage-cpu-")
    cores = Path(out, "cores")
    if args.cores:  # before the workers start: they read it from their environment
        from pipeline.verdicts import STAGE_CPU_ENV

        cores.mkdir()
        os.environ[STAGE_CPU_ENV] = str(cores)
    pool = None if args.cold else warm_workers.start(args.workers, warm_workers.warm_modules(cfg.pii.enabled))
    from pipeline.run import run

    clock = StageClock()
    log = logging.getLogger("apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle")
    log.setLevel(logging.DEBUG)
    log.addHandler(clock)
    log.propagate = False
    t0 = time.time()
    try:
        run(cfg, args.input, out + "/out",
            ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"])
    finally:
        if pool is not None:
            pool.close()
    clock.rows.append(("(end: commit)", time.time(), clock.snapshot()))
    me = os.getpid()
    stages = []
    for (name, t, cpu), (_, t2, cpu2) in zip(clock.rows, clock.rows[1:]):
        d = {pid: cpu2.get(pid, 0.0) - cpu.get(pid, 0.0) for pid in cpu2}
        runner = d.pop(me, 0.0)
        workers = sorted((v for v in d.values() if v > 0.005), reverse=True)
        stages.append((name, t - t0, t2 - t, runner, workers))
    pre = dict(clock.rows[0][2])
    before = {"name": "(before the first bundle)", "runner": pre.pop(me, 0.0), "workers": sorted(pre.values(), reverse=True)}
    phases = [before] + [{"name": name, "runner": runner, "workers": workers} for name, _, _, runner, workers in stages]
    if args.json:
        Path(args.json).write_text(json.dumps({"workers": args.workers, "wall": clock.rows[-1][1] - t0, "phases": phases}),
                                   encoding="utf-8")
    print(f"{len(stages)} stages; first bundle at {clock.rows[0][1] - t0:.1f} s (launcher: imports, graph)")
    path = critical_path(phases[:1], CORES)
    path_stages = critical_path(phases[1:], CORES)
    print(f"critical path from CPU on {CORES} idle cores: {path + path_stages:.2f} s = before the first bundle {path:.2f} "
          f"(launcher {before['runner']:.2f}, workers {' '.join(f'{w:.2f}' for w in before['workers']) or '-'}) "
          f"+ stages {path_stages:.2f}")
    print(f"{'stage':60s} {'start':>6s} {'wall':>6s} {'runner':>7s} {'workers':>7s}  busiest share")
    for name, start, wall, runner, workers in sorted(stages, key=lambda s: -(s[3] + sum(s[4])))[: args.top]:
        tot = sum(workers)
        share = workers[0] / tot if tot else 0.0
        print(f"{name[:60]:60s} {start:6.1f} {wall:6.1f} {runner:7.2f} {tot:7.2f}  {share:.2f} {' '.join(f'{w:.2f}' for w in workers)}")
    if args.cores:
        print_core_cpu(cores)
    return 0


def print_core_cpu(folder: Path) -> None:
    """Each stage core's CPU seconds (its batch calls, on the bundle's thread) per process, and in all."""
    per_process = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("stage-cpu-*.json"))]
    names = list(dict.fromkeys(k for d in per_process for k in d))
    print(f"\n{'stage core':12s} {'CPU s':>8s} {'records':>9s} {'µs/record':>10s}  per process (CPU s)")
    for name in names:
        cpu = [d[name]["cpu_s"] for d in per_process if name in d]
        records = sum(d[name]["records"] for d in per_process if name in d)
        print(f"{name:12s} {sum(cpu):8.2f} {records:9d} {1e6 * sum(cpu) / max(records, 1):10.0f}  "
              + " ".join(f"{c:.2f}" for c in cpu))


def critical_path(phases: list[dict], cores: int) -> float:
    return sum(critical_cpu(p["runner"], p["workers"], cores) for p in phases)


def project(inputs: list[str], counts: list[int], runs: int, cold: bool) -> int:
    """Each worker count ``runs`` times, interleaved, a fresh process each; → PROJECTION_MD."""
    import platform

    got: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="projection-") as tmp:
        for rep in range(runs):
            for path in inputs:
                order = counts[rep % len(counts):] + counts[: rep % len(counts)]
                for n in order:
                    out = os.path.join(tmp, f"{n}.json")
                    cmd = [sys.executable, __file__, "--input", path, "--workers", str(n), "--json", out, "--top", "0"]
                    subprocess.run(cmd + (["--cold"] if cold else []), check=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                    r = json.loads(Path(out).read_text(encoding="utf-8"))
                    got.setdefault((path, n), []).append(r)
                    print(f"{Path(path).name} workers={n} run {rep + 1}: wall {r['wall']:.1f} s, critical path on {n} "
                          f"cores {critical_path(r['phases'], n):.1f} s", flush=True)

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"

    L = ["# Speed-up at more workers, projected from per-stage CPU", "",
         f"`.venv/bin/python benchmarks/stage_cpu.py --project {','.join(map(str, counts))} --runs {runs} "
         + " ".join(f"--input {os.path.relpath(p, ROOT)}" for p in inputs) + "`",
         "", f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
         "One in-process `pipeline.run.run` per measurement (a fresh process, workers started warm as `curate run` "
         "starts them), the worker counts interleaved. Medians (min–max) of the runs, seconds.", "",
         "*critical path on N cores*: per fused stage (the runner runs one at a time), the busiest process's CPU or the "
         "stage's total CPU over N cores, whichever is larger, plus the same before the first bundle. It is the "
         "run's wall on N idle cores if nothing but CPU limits it; where N ≤ the cores here, the measured wall is "
         "beside it as the check of that model. *speed-up*: the one-worker run's measured wall over the N-worker "
         "critical path (projected) and over its measured wall (where N ≤ the cores here).", "",
         "| input | workers | measured wall (cores here) | critical path on N cores | worker CPU total | runner CPU "
         "| projected speed-up | measured speed-up |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for path in inputs:
        base = [r["wall"] for r in got.get((path, 1), [])]
        for n in counts:
            rs = got[(path, n)]
            crit = [critical_path(r["phases"], n) for r in rs]
            here = n <= (os.cpu_count() or 1)
            speed = f"{statistics.median(base) / statistics.median(crit):.2f}x" if base and n > 1 else "–"
            measured = f"{statistics.median(base) / statistics.median([r['wall'] for r in rs]):.2f}x" if base and here and n > 1 else "–"
            wall = med([r["wall"] for r in rs]) + ("" if here else " (shared)")
            L.append(f"| {Path(path).name} | {n} | {wall} | {med(crit)} | "
                     f"{med([sum(sum(p['workers']) for p in r['phases']) for r in rs])} | "
                     f"{med([sum(p['runner'] for p in r['phases']) for r in rs])} | {speed} | {measured} |")
    L += ["", "Not in these figures: the interpreter's start and imports before the launcher runs the job, and the "
          "manifest written after it (the same at every worker count; `results/startup.md`)."]
    PROJECTION_MD.write_text("\n".join(L) + "\n", encoding="utf-8")
    print(f"wrote {PROJECTION_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
