"""CPU per process for each fused stage of one local multi-worker run: which stages run on one
worker only, and how much the runner process (shuffles) spends between them.

    .venv/bin/python benchmarks/stage_cpu.py --input F.jsonl[.gz] --workers 2 [--top 25]

Runs ``pipeline.run.run`` in this process (the FnApiRunner and its shuffles are this process) with
``--direct_running_mode=multi_processing``; Beam logs the start of each stage's bundle, and at each
start the CPU seconds (user + system) of this process and of every SDK worker are read (psutil).
The difference between two starts is the previous stage's CPU per process. The workers start
warm, before the graph is built, as ``curate run`` starts them (``--cold``: when the job starts). Stages are listed by
CPU, with the share done by the busiest worker (1.0 = one worker did all of it).
"""
from __future__ import annotations

import argparse
import logging
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


def critical_cpu(runner: float, workers: list[float]) -> float:
    """A phase's wall on CORES idle cores: at least its busiest process's CPU, at least its total
    CPU spread over the cores (processes run one thread of work each)."""
    return max(runner, max(workers, default=0.0), (runner + sum(workers)) / CORES)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--cold", action="store_true", help="workers start when the job starts (not warm, as curate run starts them)")
    args = ap.parse_args(argv)
    from pipeline import warm_workers
    from pipeline.config import load_config

    cfg = load_config()
    pool = None if args.cold else warm_workers.start(args.workers, warm_workers.warm_modules(cfg.pii.enabled))
    from pipeline.run import run

    clock = StageClock()
    log = logging.getLogger("apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle")
    log.setLevel(logging.DEBUG)
    log.addHandler(clock)
    log.propagate = False
    out = tempfile.mkdtemp(prefix="stage-cpu-")
    t0 = time.time()
    try:
        run(cfg, [args.input], out + "/out",
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
    print(f"{len(stages)} stages; first bundle at {clock.rows[0][1] - t0:.1f} s (launcher: imports, graph)")
    pre = dict(clock.rows[0][2])
    pre_runner = pre.pop(me, 0.0)
    path = critical_cpu(pre_runner, sorted(pre.values(), reverse=True))
    path_stages = sum(critical_cpu(runner, workers) for _, _, _, runner, workers in stages)
    print(f"critical path from CPU on {CORES} idle cores: {path + path_stages:.2f} s = before the first bundle {path:.2f} "
          f"(launcher {pre_runner:.2f}, workers {' '.join(f'{w:.2f}' for w in sorted(pre.values(), reverse=True)) or '-'}) "
          f"+ stages {path_stages:.2f}")
    print(f"{'stage':60s} {'start':>6s} {'wall':>6s} {'runner':>7s} {'workers':>7s}  busiest share")
    for name, start, wall, runner, workers in sorted(stages, key=lambda s: -(s[3] + sum(s[4])))[: args.top]:
        tot = sum(workers)
        share = workers[0] / tot if tot else 0.0
        print(f"{name[:60]:60s} {start:6.1f} {wall:6.1f} {runner:7.2f} {tot:7.2f}  {share:.2f} {' '.join(f'{w:.2f}' for w in workers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
