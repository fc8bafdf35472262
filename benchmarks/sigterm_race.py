"""How often a `curate run` terminated (SIGTERM) right after it starts writing leaves its staging
folder and lock behind (docs/security.md, "A failed run"). It did in 2 to 5 of 50 runs until a
SIGTERM was held across the hand-off of a row group to the shard writer's helper thread; a run that
leaves anything behind now is a regression.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/sigterm_race.py [--runs 100] [--max-delay 0.05] [--burners 3]

A small release is published into a scratch OUT (default config); then, ``--runs`` times, a run of 20,000 short
documents (all stages off, shards of 200 rows: it writes into its staging folder early and often)
is started with ``--overwrite``, sent SIGTERM a random 0–``--max-delay`` s after
``OUT/_staging`` appears, and OUT is compared with the release before it. ``--burners`` busy
processes load the cores meanwhile (the failure showed under load). Each run that changed OUT is
printed with its exit code (``-11``: the process crashed; ``PYTHONFAULTHANDLER`` is on, so its
stderr holds every thread's stack) and OUT is tidied for the next one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES_OFF = ("license: {enabled: false}\nlangid: {enabled: false}\nquality: {enabled: false}\n"
              "pii: {enabled: false}\ndedup: {enabled: false}\n")


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def curate(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--max-delay", type=float, default=0.05)
    ap.add_argument("--burners", type=int, default=3)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sigterm-race-"))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)]
    try:
        config = base / "slow.yaml"
        config.write_text(STAGES_OFF + "run: {shard_max_rows: 200, batch_size: 100}\n", encoding="utf-8")
        small, big, out = base / "small.jsonl", base / "big.jsonl", base / "out"
        small.write_text("".join(json.dumps({"id": f"s{i}", "text": f"A short note number {i}."}) + "\n" for i in range(20)))
        big.write_text("".join(json.dumps({"id": f"b{i}", "text": f"Bulk line {i} about rivers, bridges and ferries. " * 3}) + "\n"
                               for i in range(20000)))
        proc = curate("run", "--input", str(small), "--output", str(out), "--quiet")
        proc.communicate()
        assert proc.returncode == 0
        before = tree(out)
        left = 0
        for i in range(args.runs):
            proc = curate("run", "--input", str(big), "--output", str(out), "--config", str(config), "--quiet", "--overwrite")
            while not (out / "_staging").exists() and proc.poll() is None:
                time.sleep(0.005)
            delay = random.random() * args.max_delay
            time.sleep(delay)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
            if proc.returncode == 0:  # the signal came too late (or was lost): a new release to compare with
                before = tree(out)
                print(f"run {i}: exit 0 after SIGTERM (delay {delay:.3f} s)")
                continue
            if tree(out) != before:
                left += 1
                print(f"run {i}: delay {delay:.3f} s, exit {proc.returncode}, left {sorted(set(tree(out)) - set(before))[:3]}")
                print(err[:3000])  # faulthandler prints the crashing thread first
                shutil.rmtree(out / "_staging", ignore_errors=True)
                (out / "_curate.lock").unlink(missing_ok=True)
        print(f"{left} of {args.runs} terminated runs left their staging or lock behind")
        return 1 if left else 0
    finally:
        for b in burners:
            b.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
