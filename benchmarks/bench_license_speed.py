"""CPU and memory of stage `license` on the benchmark corpora, this checkout against another.

    .venv/bin/python benchmarks/bench_license_speed.py [--runs 3] [--before DIR] [--out FILE]
        [--corpus benchmarks/work/corpus-v2-10000-s7.jsonl ...]

Each run is a fresh process (peak RSS is per process): ``LicenseDetector.setup()`` then
``process_batch`` over batches of 512 records of the whole corpus, records built outside the timer.
Reported: CPU seconds (user+sys of the process, ``time.process_time``) of setup and of the stage,
with ``--before``: whether both checkouts give the same records and verdicts (a digest per corpus),
RSS after setup and peak RSS after setup / after the stage, medians of ``--runs`` with the range;
once more on the last corpus with numba loaded before setup, as in a pipeline worker (the quality
and langid stages load it): the license stage's own memory.
``--before DIR``: the same measurement of another checkout (e.g. ``git archive <commit> | tar -x -C DIR``),
so both come from the same inputs on the same machine. The reference index cache is warmed by one
unmeasured run first (the steady state of a machine); "setup, index built" is one setup with the
cache off (``CURATE_NO_INDEX_CACHE=1``: what the first worker on a machine pays).
Default corpora: benchmarks/work/corpus-v2-10000-s7.jsonl (multilingual) and
corpus-english-v2-10000-s7.jsonl (English-heavy), from benchmarks/corpus.py.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, time
def rss_now():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from pipeline.config import load_config
from pipeline.records import new_record
from pipeline.stages.license import LicenseDetector
path, setup_only, numba_first = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
if numba_first:  # as in a pipeline worker, where the quality and langid kernels have loaded numba already
    import numba
    numba.njit(lambda x: x + 1)(1)
core = LicenseDetector(load_config())
before = rss_now()
t = time.process_time()
core.setup()
out = {"setup_cpu": time.process_time() - t, "rss_before_setup": before, "rss_setup": rss_now(), "peak_setup": peak()}
if not setup_only:
    with open(path, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    recs = [new_record(source_uri="bench", record_index=i, text=x) for i, x in enumerate(texts)]
    t = time.process_time()
    verdicts = []
    for i in range(0, len(recs), 512):
        verdicts += core.process_batch(recs[i : i + 512])
    out.update(stage_cpu=time.process_time() - t, peak_stage=peak(), docs=len(recs), corpus=path.rsplit("/", 1)[-1])
    import hashlib
    h = hashlib.sha256()
    for r, v in zip(recs, verdicts):
        h.update(json.dumps([r.get("license"), r.get("copyright"), v.action, v.reason, v.detail], sort_keys=True, default=str).encode())
    out["digest"] = h.hexdigest()[:16]
print(json.dumps(out))
"""


def child(tree: Path, corpus: Path, cache: str, setup_only: bool = False, no_cache: bool = False,
          numba_first: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": cache}
    env.pop("CURATE_NO_INDEX_CACHE", None)
    if no_cache:
        env["CURATE_NO_INDEX_CACHE"] = "1"
    res = subprocess.run([sys.executable, "-c", _CHILD, str(corpus), "1" if setup_only else "0",
                          "1" if numba_first else "0"], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def fmt(values: list[float], digits: int = 2, unit: str = "") -> str:
    med = statistics.median(values)
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def measure(tree: Path, corpora: list[Path], runs: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        child(tree, corpora[0], cache, setup_only=True)  # warms the index cache (and numba's, if used)
        for corpus in corpora:
            out[corpus.name] = [child(tree, corpus, cache) for _ in range(runs)]
        out["numba"] = [child(tree, corpora[-1], cache, numba_first=True) for _ in range(runs)]
        out["cold"] = [child(tree, corpora[0], cache, setup_only=True, no_cache=True) for _ in range(runs)]
    return out


def digests(res: dict) -> dict[str, set]:
    """Per corpus, the digests of the stage's records and verdicts over the runs."""
    return {rows[0]["corpus"]: {r["digest"] for r in rows} for name, rows in res.items() if name not in ("cold", "numba")}


def table(label: str, res: dict) -> list[str]:
    lines = []
    for name, rows in res.items():
        if name == "cold":
            continue
        docs = rows[0]["docs"]
        name = f"{rows[0]['corpus']}, numba loaded first" if name == "numba" else rows[0]["corpus"]
        lines.append(
            f"| {label} | {name} | {fmt([r['stage_cpu'] for r in rows])} | {fmt([r['stage_cpu'] / docs * 1e6 for r in rows], 0)} µs "
            f"| {fmt([r['setup_cpu'] for r in rows])} | {fmt([r['setup_cpu'] for r in res['cold']])} "
            f"| {fmt([r['rss_setup'] - r['rss_before_setup'] for r in rows], 0)} | {fmt([r['peak_setup'] for r in rows], 0)} "
            f"| {fmt([r['peak_stage'] for r in rows], 0)} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", type=Path, help="another checkout to measure the same way")
    ap.add_argument("--corpus", type=Path, nargs="*",
                    default=[ROOT / "benchmarks" / "work" / "corpus-v2-10000-s7.jsonl",
                             ROOT / "benchmarks" / "work" / "corpus-english-v2-10000-s7.jsonl"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    missing = [str(c) for c in args.corpus if not c.is_file()]
    if missing:
        print(f"bench_license_speed: corpus not found: {', '.join(missing)} (build it: benchmarks/corpus.py)", file=sys.stderr)
        return 2
    lines = [
        f"`benchmarks/bench_license_speed.py --runs {args.runs}` — {platform.machine()}, Python {platform.python_version()}; "
        f"one fresh process per run, CPU seconds (user+sys), median (range) of {args.runs}; RSS in MB.",
        "",
        "| checkout | corpus | stage CPU | per document | setup CPU | setup, index built | RSS added by setup "
        "| peak RSS after setup | peak RSS after stage |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    before = measure(args.before.resolve(), args.corpus, args.runs) if args.before else None
    this = measure(ROOT, args.corpus, args.runs)
    if before:
        lines += table("before", before)
    lines += table("this", this)
    if before:  # the same records and verdicts from both checkouts, per corpus
        a, b = digests(before), digests(this)
        same = all(len(a[k]) == 1 and a[k] == b.get(k) for k in a)
        lines += ["", "Records and verdicts identical between the checkouts (digest per corpus): " + ("yes" if same else "NO") + "."]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
