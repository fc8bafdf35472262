"""Stages-off `curate run` vs the pyarrow floor, interleaved in one run (issue 2's target).

    .venv/bin/python benchmarks/bench_stages_off.py --docs 10000 100000 --repeat 3
    .venv/bin/python benchmarks/bench_stages_off.py --baseline <git ref>   # and an older tree, same run

For each size: the 1-thread floor, the threaded floor and ``curate run`` with every stage off (and,
with ``--baseline``, the same run from the ``pipeline/`` package of that git ref, via
``python -c`` with that tree first on sys.path) are run ``--repeat`` times, interleaved (floor, ours, baseline, floor,
ours, …) so machine noise hits all alike; the figure is the median of each, and the ratio is
median(ours) / median(1-thread floor). Each is a fresh process timed from launch to exit, with the
peak RSS of its process tree (bench_e2e.measure), and its CPU seconds (user + system, children
included), which the other processes on a shared machine disturb less than wall time.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_e2e  # noqa: E402
import corpus  # noqa: E402


def _cpu_measure(cmd: list[str], env: dict | None = None) -> dict:
    """bench_e2e.measure plus the CPU seconds of the process tree (from os.wait4 via resource)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = bench_e2e.measure(cmd, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res


def export_baseline(ref: str) -> Path:
    """The ``pipeline/`` package of git ``ref`` in a temporary folder."""
    dest = Path(tempfile.mkdtemp(prefix="curate-baseline-"))
    for part in ("pipeline", "rules"):  # pipeline/rules is a link to ../rules
        archive = subprocess.run(["git", "-C", str(bench_e2e.ROOT), "archive", ref, part], capture_output=True)
        if archive.returncode == 0:
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        elif part == "pipeline":
            raise RuntimeError(f"git archive {ref} pipeline: {archive.stderr.decode()[-300:]}")
    return dest


def run_curate(path: Path, work: Path, tag: str, workers: int, baseline: Path | None = None) -> dict:
    cfg = work / "config-off.yaml"
    cfg.write_text(bench_e2e.config_yaml([]), encoding="utf-8")
    out = work / f"out-{tag}"
    args = ["run", "--input", str(path), "--output", str(out), "--config", str(cfg), "--overwrite", "--quiet"]
    if workers > 1:
        args += bench_e2e.MULTI
    if baseline is None:
        res = _cpu_measure([str(bench_e2e.BIN / "curate"), *args])
    else:
        # sys.path[0] must be the baseline tree: `-m` would put the working directory (this checkout) first
        boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import pipeline, pipeline.cli; "
                "assert pipeline.__file__.startswith(sys.path[0]), pipeline.__file__; sys.argv[0] = 'curate'; "
                "sys.exit(pipeline.cli.main())")
        res = _cpu_measure([str(bench_e2e.BIN / "python"), "-c", boot, str(baseline), *args])
    if res["rc"] != 0:
        raise RuntimeError(f"curate run ({tag}) failed: {res['stderr'][-1500:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    res["inner_wall"] = manifest["summary"]["wall_seconds"]
    res["records_in"] = manifest["summary"]["records_in"]
    shutil.rmtree(out, ignore_errors=True)
    return res


def run_floor(path: Path, work: Path, threads: bool) -> dict:
    out = work / f"floor-{'mt' if threads else 'st'}.parquet"
    res = _cpu_measure([str(bench_e2e.BIN / "python"), bench_e2e.__file__, "floor", "--input", str(path), "--out", str(out),
                        "--threads", "1" if threads else "0"])
    if res["rc"] != 0:
        raise RuntimeError(f"floor failed: {res['stderr'][-800:]}")
    res["inner"] = json.loads(res["stdout"].strip().splitlines()[-1])
    out.unlink()
    return res


def measure_size(docs: int, repeat: int, workers: int = 1, baseline: Path | None = None) -> dict:
    path = corpus.build(docs)
    work = corpus.WORK / f"stages-off-{docs}"
    work.mkdir(parents=True, exist_ok=True)
    st, mt, ours, base = [], [], [], []
    for _ in range(repeat):
        st.append(run_floor(path, work, False))
        mt.append(run_floor(path, work, True))
        ours.append(run_curate(path, work, "off", workers))
        if baseline is not None:
            base.append(run_curate(path, work, "baseline", workers, baseline))
    med = lambda rs, k="wall": statistics.median(r[k] for r in rs)  # noqa: E731
    res = {
        "docs": docs,
        "mb": path.stat().st_size / 1e6,
        "floor_st": med(st),
        "floor_st_inner": statistics.median(r["inner"]["seconds"] for r in st),
        "floor_mt": med(mt),
        "floor_mt_inner": statistics.median(r["inner"]["seconds"] for r in mt),
        "ours": med(ours),
        "ours_all": [round(r["wall"], 2) for r in ours],
        "ours_inner": med(ours, "inner_wall"),
        "ours_cpu": med(ours, "cpu"),
        "ours_cpu_all": [round(r["cpu"], 2) for r in ours],
        "floor_st_cpu": med(st, "cpu"),
        "ours_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in ours),
        "floor_st_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in st),
    }
    if base:
        res.update(
            baseline=med(base),
            baseline_all=[round(r["wall"], 2) for r in base],
            baseline_inner=med(base, "inner_wall"),
            baseline_cpu=med(base, "cpu"),
            baseline_cpu_all=[round(r["cpu"], 2) for r in base],
            baseline_peak_rss_mb=statistics.median(r["peak_rss_mb"] for r in base),
        )
        res["baseline_ratio_st"] = res["baseline"] / res["floor_st"]
    res["ratio_st"] = res["ours"] / res["floor_st"]
    res["ratio_mt"] = res["ours"] / res["floor_mt"]
    res["ratio_inner_st"] = res["ours_inner"] / res["floor_st_inner"]
    return res


def measure_fixed(repeat: int, baseline: Path | None) -> dict:
    """``curate run`` over a one-document file: interpreter start, imports, graph construction,
    runner start, commit and exit, with (almost) no data."""
    work = corpus.WORK / "stages-off-1"
    work.mkdir(parents=True, exist_ok=True)
    path = work / "one.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "one short document"}) + "\n", encoding="utf-8")
    ours, base = [], []
    for _ in range(repeat):
        ours.append(run_curate(path, work, "off", 1))
        if baseline is not None:
            base.append(run_curate(path, work, "baseline", 1, baseline))
    out = {"ours": statistics.median(r["wall"] for r in ours), "ours_inner": statistics.median(r["inner_wall"] for r in ours),
           "ours_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in ours)}
    if base:
        out.update(baseline=statistics.median(r["wall"] for r in base), baseline_inner=statistics.median(r["inner_wall"] for r in base))
    return out


def report(rows: list[dict], fixed: dict, args) -> str:
    import platform

    import pyarrow

    lines = [
        "### Stages off vs the pyarrow floor (issue 2)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work: wall times are noisy, CPU seconds less so); "
        f"Python {platform.python_version()}, pyarrow {pyarrow.__version__}.",
        f"Run: `.venv/bin/python benchmarks/bench_stages_off.py --docs {' '.join(map(str, args.docs))} --repeat {args.repeat}"
        + (f" --baseline {args.baseline}`" if args.baseline else "`")
        + f"; every figure is the median of {args.repeat} fresh processes, interleaved with the floors"
        + (" and the baseline" if args.baseline else "") + ", timed from launch to exit.",
        "",
        "Floor = `pyarrow.json.read_json` + `pyarrow.parquet.write_table(compression='zstd')` (1 thread, and pyarrow's "
        "default threads); ours = `curate run` with every stage `enabled: false` on the default DirectRunner, one worker. "
        "*excl. start-up* = the run's own wall time (its summary: config → manifest) over the floor's read+write time.",
        "",
        "| docs | JSONL MB | floor 1 thread s | floor threads s | ours s | **ours / 1-thread floor** | ours / threaded floor | excl. start-up | ours CPU s | floor CPU s | **CPU: ours / 1-thread floor** | ours peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['docs']:,} | {r['mb']:.1f} | {r['floor_st']:.2f} | {r['floor_mt']:.2f} | {r['ours']:.2f} | **{r['ratio_st']:.2f}x** "
            f"| {r['ratio_mt']:.2f}x | {r['ratio_inner_st']:.2f}x | {r['ours_cpu']:.2f} | {r['floor_st_cpu']:.2f} "
            f"| **{r['ours_cpu'] / r['floor_st_cpu']:.2f}x** | {r['ours_peak_rss_mb']:.0f} |"
        )
    if args.baseline:
        lines += [
            "",
            f"Before (`pipeline/` of git `{args.baseline}`, same runs):",
            "",
            "| docs | before s | **before / 1-thread floor** | after s | **after / 1-thread floor** | before CPU s (runs) | after CPU s (runs) | before peak RSS MB | after peak RSS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['docs']:,} | {r['baseline']:.2f} | **{r['baseline_ratio_st']:.2f}x** | {r['ours']:.2f} | **{r['ratio_st']:.2f}x** "
                f"| {r['baseline_cpu']:.2f} {r['baseline_cpu_all']} | {r['ours_cpu']:.2f} {r['ours_cpu_all']} "
                f"| {r['baseline_peak_rss_mb']:.0f} | {r['ours_peak_rss_mb']:.0f} |"
            )
    if fixed:
        lines += [
            "",
            f"Fixed cost (a one-document input): {fixed['ours']:.2f} s launch to exit, of which {fixed['ours_inner']:.2f} s inside the run "
            f"(graph construction, runner, commit); peak RSS {fixed['ours_peak_rss_mb']:.0f} MB"
            + (f" (before: {fixed['baseline']:.2f} s, {fixed['baseline_inner']:.2f} s inside)." if "baseline" in fixed else "."),
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--baseline", metavar="GIT_REF", help="also run the pipeline/ package of this git ref (before/after)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--from-json", help="only write the report again from the figures of an earlier --json")
    ap.add_argument("--results", default=str(bench_e2e.ROOT / "benchmarks" / "results" / "stages_off.md"),
                    help="markdown report (included in RESULTS.md by run_all.py); '' to skip")
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        text = report(saved["sizes"], saved["fixed"], args)
        print(text)
        if args.results:
            Path(args.results).write_text(text, encoding="utf-8")
        return 0
    baseline = export_baseline(args.baseline) if args.baseline else None
    try:
        rows = [measure_size(d, args.repeat, args.workers, baseline) for d in args.docs]
        fixed = measure_fixed(args.repeat, baseline) if args.workers == 1 else {}
    finally:
        if baseline is not None:
            shutil.rmtree(baseline, ignore_errors=True)
    text = report(rows, fixed, args)
    print(text)
    if args.results:
        Path(args.results).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": rows, "fixed": fixed}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
