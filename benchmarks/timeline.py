"""CPU per process over time for one command: which processes are busy in each phase of a run.

    .venv/bin/python benchmarks/timeline.py [--every 0.5] -- .venv/bin/python -m pipeline.cli run ...

Every ``--every`` seconds, one line: seconds since launch, then ``<role><pid % 1000>:<cores busy>``
for each process of the tree (R = launcher/runner, W = Beam SDK worker). A phase where only R or
only one W is busy is a serial section of the run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import psutil


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    last: dict[int, float] = {}
    while proc.poll() is None:
        time.sleep(args.every)
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        cells = []
        for p in procs:
            try:
                times = p.cpu_times()
                line = " ".join(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            cpu = times.user + times.system
            busy = (cpu - last.get(p.pid, 0.0)) / args.every
            last[p.pid] = cpu
            role = "W" if ("sdk_worker" in line or "beam_worker" in line) else "R"
            cells.append(f"{role}{p.pid % 1000}:{busy:.2f}")
        print(f"{time.time() - t0:6.1f} " + " ".join(cells), flush=True)
    err = proc.stderr.read().decode("utf-8", "replace")
    print(f"rc {proc.returncode} wall {time.time() - t0:.1f} s")
    if proc.returncode:
        print(err[-2000:])
    return proc.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
