"""Where the time of a 2-worker run goes: CPU per process (launcher/runner vs SDK workers) and the
runner process's hottest functions.

    .venv/bin/python benchmarks/profile_scaling.py --docs 10000 --workers 2          # per-process CPU
    .venv/bin/python benchmarks/profile_scaling.py --docs 10000 --workers 2 --cprofile   # + cProfile of the runner process

`curate run --profile local-mp` (CURATE_WORKERS=N) on ONE plain JSONL file of the multilingual corpus
(benchmarks/corpus.py), default config. The process tree is sampled every 0.2 s with psutil; each
process's CPU seconds are its last sample (user + system). Written to benchmarks/results/scaling_profile.md.
"""
from __future__ import annotations

import argparse
import os
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_e2e  # noqa: E402
import corpus  # noqa: E402

OUT_MD = ROOT / "benchmarks" / "results" / "scaling_profile.md"


def role(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if "sdk_worker_main" in text:
        return "SDK worker"
    if "pipeline.cli" in text or "curate" in text or "cProfile" in text:
        return "runner (launcher, FnApiRunner, shuffles)"
    return "other"


def run_tree(cmd: list[str], env: dict) -> dict:
    """Wall time, and CPU seconds and peak RSS per process of the tree, by role."""
    r = bench_e2e.measure(cmd, env=env)
    if r["rc"] != 0:
        raise SystemExit(f"profile_scaling: run failed: {r['stderr'][-800:]}")
    procs = [{"role": role(p["cmd"].split()), "cpu": p["cpu"], "rss": p["peak_mb"] * 2**20} for p in r["per_process"]]
    return {"wall": r["wall"], "procs": procs, "load1": r["load1"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cprofile", action="store_true", help="also run once under cProfile (runner process only)")
    args = ap.parse_args(argv)
    path = corpus.build(args.docs)
    work = corpus.WORK / f"scaling-{args.docs}"
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "config.yaml"
    cfg.write_text(bench_e2e.config_yaml(None), encoding="utf-8")
    env = {**os.environ, "CURATE_WORKERS": str(args.workers)}
    base = ["run", "--input", str(path), "--output", str(work / "out"), "--config", str(cfg), "--overwrite", "--quiet"]
    if args.workers > 1:
        base += ["--profile", "local-mp"]
    r = run_tree([sys.executable, "-m", "pipeline.cli", *base], env)
    L = [f"# Where a {args.workers}-worker run spends its CPU ({args.docs:,} docs, one plain JSONL file)\n",
         "Written by `benchmarks/profile_scaling.py` (one run; the machine was shared: 1-minute load "
         f"{r['load1']:.1f} at the end). CPU seconds per process (user + system, last sample).\n",
         f"Wall {r['wall']:.1f} s.\n", "| process | CPU s | peak RSS MB |", "|---|---:|---:|"]
    total = 0.0
    for p in sorted(r["procs"], key=lambda p: -p["cpu"]):
        if p["cpu"] < 0.05:
            continue
        total += p["cpu"]
        L.append(f"| {p['role']} | {p['cpu']:.1f} | {p['rss'] / 2**20:.0f} |")
    L.append(f"| **all** | **{total:.1f}** | |\n")
    if args.cprofile:
        prof = work / "runner.prof"
        # in-process: `curate` leaves through os._exit, which would skip cProfile's own writing of the file
        code = f"import cProfile, sys; from pipeline.cli import main; cProfile.run('main(sys.argv[1:])', {str(prof)!r})"
        run_tree([sys.executable, "-c", code, *base], env)
        st = pstats.Stats(str(prof))
        rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:25]  # by own time
        L += ["Runner process under cProfile (inflates its own time), hottest functions by own time:\n",
              "| function | file | calls | own s | cumulative s |", "|---|---|---:|---:|---:|"]
        for (file, line, fn), (cc, nc, tt, ct, _callers) in rows:
            short = file.split("site-packages/")[-1].split("/work/wt/")[-1]
            L.append(f"| `{fn}` | {short}:{line} | {nc:,} | {tt:.2f} | {ct:.2f} |")
        L.append("")
    OUT_MD.write_text("\n".join(L) + "\n", encoding="utf-8")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
