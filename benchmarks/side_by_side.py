"""`make bench`: ours and datatrove side by side, paired and interleaved → benchmarks/results/side_by_side.md.

    make bench                                              # the whole matrix (hours on 2 shared cores)
    BENCH_SIZES=10000 make bench                            # one size
    BENCH_SIZES=100000 BENCH_CORPORA=multilingual BENCH_WORKERS=1,2 \\
      BENCH_SYSTEMS=ours,dt_fast .venv/bin/python benchmarks/side_by_side.py   # a subset
    .venv/bin/python benchmarks/side_by_side.py --report-only   # re-render from benchmarks/work/side_by_side.json

What one invocation measures, for every corpus (multilingual Debian manuals; English-heavy man pages,
READMEs, changelogs, licenses — benchmarks/corpus.py), size and repetition, in an order that rotates
by one system per repetition so a slow minute of the shared machine does not always hit the same one:

* ``ours``      `curate run`, default config (license, langid, quality, PII, dedup);
* ``dt_fast``   datatrove, fastest setting (str.split tokenizer, 32-bit hashes; datatrove_bench.py);
* ``dt_docs``   datatrove as its docs configure MinHash (spaCy word tokenizer, 64-bit hashes);
* ``ours_lfl``  ours configured to datatrove's stage set (langid, PII, dedup; license and quality off);
* ``floor``     the pyarrow floor (one thread) paired with ``ours_off`` (every stage off, one worker);
* ``ours_gz``   ours on the same corpus as ONE .jsonl.gz file (multilingual corpus only);
* ``ours_<stage>_alone``  one stage on, one worker, at the scaling size: its CPU seconds minus the
  stages-off CPU are the per-stage CPU the 4-worker projection is built from.

Each at 1 and 2 workers: ours 1 worker = the default in-memory DirectRunner, ours 2 workers = the
project's one-machine profile ``--profile local-mp`` with CURATE_WORKERS=2, always from ONE input
file; datatrove with ``workers`` = 1 or 2 on the input cut into as many files (it parallelises by file).
Every measurement is a fresh process: wall, CPU seconds (user+system of the whole process tree), peak
RSS of the tree and of its largest process, the 1-minute load average while it ran, and the documents
that reached each stage. Results accumulate in benchmarks/work/side_by_side.json; a cell that already
has its repetitions is skipped, so a subset can be run later and rendered with the rest (``--fresh``
starts over). The headline table is spliced at the top of benchmarks/RESULTS.md between markers.

Environment: BENCH_SIZES (10000,100000), BENCH_WORKERS (1,2), BENCH_CORPORA (multilingual,english),
BENCH_REPS (3), BENCH_SYSTEMS (ours,dt_fast,dt_docs,ours_lfl,floor,ours_gz,alone), BENCH_SCALING_SIZE
(largest size; where the per-stage CPU for the projection is measured).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_e2e as e2e  # noqa: E402
import corpus  # noqa: E402

WORK = corpus.WORK
RESULTS_JSON = Path(os.environ.get("BENCH_RESULTS_JSON", WORK / "side_by_side.json"))
REPORT_MD = BENCH / "results" / "side_by_side.md"
RESULTS_MD = BENCH / "RESULTS.md"
FINDINGS_MD = BENCH / "side_by_side_findings.md"
BEGIN, END = "<!-- side-by-side:begin -->", "<!-- side-by-side:end -->"

SYSTEMS = ["ours", "dt_fast", "dt_docs", "ours_lfl", "floor", "ours_gz", "alone"]
LIKE_FOR_LIKE = ["langid", "pii", "dedup"]  # datatrove's stage set here: LanguageFilter, PIIFormatter, MinHash
DT_MODE = {"dt_fast": "fast", "dt_docs": "default"}
# Peak RSS of the whole process tree, MB, multilingual corpus, from the previous published run
# (RESULTS.md of 2026-11-29, same corpus recipe): the no-regression reference.
PREVIOUS_TREE_PEAK_MB = {(10_000, 1): 510, (10_000, 2): 1109, (100_000, 1): 1207, (100_000, 2): 2267}
LABEL = {"ours": "ours, full default", "ours_lfl": "ours, like-for-like", "dt_fast": "datatrove fastest",
         "dt_docs": "datatrove docs setting", "ours_gz": "ours, one .jsonl.gz", "ours_off": "ours, stages off",
         "floor": "pyarrow floor (1 thread)"}


def env_list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def cell_key(corpus_name: str, size: int, system: str, workers: int) -> str:
    return f"{corpus_name}|{size}|{system}|{workers}"


def gz_copy(path: Path) -> Path:
    """The corpus as one .jsonl.gz (made once, not timed)."""
    gz = path.with_name(path.name + ".gz")
    if not gz.exists():
        tmp = gz.with_suffix(".tmp")
        with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.rename(gz)
    return gz


def docs_reaching_ours(run: dict, order: list[str]) -> dict:
    """Documents entering each stage: records read, less quarantine and the drops of earlier stages."""
    dropped: dict[str, int] = {}
    for reason, n in (run.get("dropped_by_reason") or {}).items():
        st = reason.split("/", 1)[0]
        dropped[st] = dropped.get(st, 0) + n
    left = (run.get("records_in") or 0) - (run.get("quarantined") or 0) - dropped.get("ingest", 0)
    out = {}
    for st in order:
        if (run.get("stages") or {}).get(st) != "on":
            continue
        out[st] = left
        left -= dropped.get(st, 0)
    out["output"] = run.get("kept")
    return out


def _count(v) -> int | None:
    if isinstance(v, dict):
        v = v.get("total")
    return int(v) if isinstance(v, (int, float)) else None


def docs_reaching_dt(run: dict) -> dict:
    """Documents entering each datatrove step of its filtering stage, from its own stats."""
    out = {}
    for step in run["steps"]["stage1"]:
        stats = step.get("stats") or {}
        n = _count(stats.get("total")) or _count(stats.get("documents"))
        if n is not None:
            name = step["name"].split(":", 1)[-1]
            out["".join(ch for ch in name if ch.isascii()).strip() or step["name"]] = n
    out["output"] = run.get("kept")
    return out


def valid_dt_run(run: dict, size: int) -> bool:
    """A datatrove run counts only if its reader saw every document (a short input file once slipped in)."""
    first = next(iter((run.get("reaching") or {}).values()), None)
    return first is None or first == size


# --- running one cell ---------------------------------------------------------------------------
def run_system(system: str, corpus_name: str, size: int, workers: int, path: Path, work: Path) -> dict:
    import run_all

    profile = "local-mp" if workers > 1 else None
    tag = f"{corpus_name}-{size}-{system}-{workers}"
    if system == "ours":
        r = e2e.run_ours(path, work, None, workers, tag=tag, profile=profile)
    elif system == "ours_lfl":
        r = e2e.run_ours(path, work, LIKE_FOR_LIKE, workers, tag=tag, profile=profile)
    elif system == "ours_gz":
        r = e2e.run_ours(gz_copy(path), work, None, workers, tag=tag, profile=profile)
    elif system == "ours_off":
        r = e2e.run_ours(path, work, [], workers, tag=tag, profile=profile)
    elif system.startswith("ours_") and system.endswith("_alone"):
        r = e2e.run_ours(path, work, [system[5:-6]], workers, tag=tag, profile=profile)
    elif system == "floor":
        r = e2e.run_floor(path, work, threads=False)
    elif system in DT_MODE:
        r = run_all.run_datatrove(path, size, DT_MODE[system], workers, tag=tag)
        r.pop("clusters", None)
        r["reaching"] = docs_reaching_dt(r)
        r.pop("steps", None)
        if not valid_dt_run(r, size):
            raise RuntimeError(f"datatrove read {next(iter(r['reaching'].values()))} of {size} documents")
    else:
        raise ValueError(system)
    if system.startswith("ours"):
        from pipeline.stages import registry

        r["reaching"] = docs_reaching_ours(r, registry.stage_order())
    r.pop("out", None)
    return {k: v for k, v in r.items() if k not in ("stdout", "stderr")}


def plan(corpora: list[str], sizes: list[int], workers: list[int], systems: list[str], scaling_size: int) -> list[tuple]:
    """(corpus, size, rep-independent list of (system, workers)) in the base order; rotated per repetition."""
    out = []
    for c in corpora:
        for s in sizes:
            cells = []
            for sysname in systems:
                if sysname == "floor":
                    cells.append([("floor", 1), ("ours_off", 1)])  # kept adjacent: the pair is the ratio
                elif sysname == "ours_gz":
                    if c == "multilingual":
                        cells.append([("ours_gz", w) for w in workers])
                elif sysname == "alone":
                    if c == "multilingual" and s == scaling_size:
                        cells.append([("ours_off", 1)] + [(f"ours_{st}_alone", 1) for st in e2e.available_stages()])
                else:
                    cells.append([(sysname, w) for w in workers])
            out.append((c, s, cells))
    return out


def measure_all(args, results: dict, save) -> None:
    corpora = env_list("BENCH_CORPORA", "multilingual,english")
    sizes = [int(x) for x in env_list("BENCH_SIZES", "10000,100000")]
    workers = [int(x) for x in env_list("BENCH_WORKERS", "1,2")]
    systems = env_list("BENCH_SYSTEMS", ",".join(SYSTEMS))
    reps = int(os.environ.get("BENCH_REPS", "3"))
    scaling_size = int(os.environ.get("BENCH_SCALING_SIZE", str(max(sizes))))
    cells = results.setdefault("cells", {})
    for c, s, groups in plan(corpora, sizes, workers, systems, scaling_size):
        path = corpus.build(s, corpus=c)
        results.setdefault("corpora", {}).setdefault(c, {})[str(s)] = {**corpus.stats(path), "file_mb": path.stat().st_size / 1e6}
        work = WORK / f"sbs-{c}-{s}-{RESULTS_JSON.stem}"  # one folder per stream: streams run side by side
        work.mkdir(parents=True, exist_ok=True)
        for rep in range(reps):
            k = rep % len(groups) if groups else 0
            for group in groups[k:] + groups[:k]:
                for system, w in group:
                    key = cell_key(c, s, system, w)
                    want = 1 if system.endswith("_alone") else reps
                    if len(cells.get(key, [])) >= want or len(cells.get(key, [])) > rep:
                        continue
                    t0 = time.time()
                    try:
                        r = run_system(system, c, s, w, path, work)
                    except Exception as exc:  # noqa: BLE001 - one failed cell is reported, the rest still runs
                        print(f"  FAILED {key}: {str(exc)[-300:]}", flush=True)
                        results.setdefault("failures", {})[key] = str(exc)[-1500:]
                        save()
                        continue
                    r["rep"] = rep
                    r["at"] = time.strftime("%H:%M:%S", time.gmtime(t0))
                    cells.setdefault(key, []).append(r)
                    print(f"  {c:<12} {s:>7} {system:<20} {w}w rep {rep + 1}: {r['wall']:7.1f} s wall, {r['cpu']:7.1f} s CPU, "
                          f"peak {r['peak_proc_mb']:5.0f} MB/process, load {r['load1']:.1f}", flush=True)
                    save()
        shutil.rmtree(work, ignore_errors=True)


# --- figures ------------------------------------------------------------------------------------
def med(runs: list[dict] | None, key: str = "wall"):
    vals = [r[key] for r in runs or [] if r.get(key) is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def fm(m, digits: int = 1) -> str:
    if m is None:
        return "–"
    v, lo, hi, n = m
    return f"{v:.{digits}f}" if n == 1 else f"{v:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f}, n={n})"


def ratio(a, b) -> float | None:
    return a[0] / b[0] if a and b else None


def rf(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def projection(cells: dict, c: str, s: int) -> dict | None:
    """4-worker projection at size s, in CPU seconds (wall time on a shared machine measures the
    neighbours). Per-stage CPU (stage alone − stages off, one worker) is the work the runner can
    spread over workers; the rest of the one-worker CPU is serial. The extra CPU a 2-worker run
    spends over a 1-worker run (runner, encoding between processes) is taken to grow by that much
    with every further worker, and to be spread over the workers too."""
    g = lambda name, w=1, size=s: cells.get(cell_key(c, size, name, w))  # noqa: E731
    one = med(g("ours"), "cpu")
    # per-stage CPU where it was measured (the scaling size), carried to size s in proportion to documents
    alone_sizes = sorted({int(k.split("|")[1]) for k in cells if k.startswith(c + "|") and k.endswith("_alone|1")})
    at = s if s in alone_sizes else (alone_sizes[-1] if alone_sizes else None)
    if not one or at is None:
        return None
    off = med(g("ours_off", size=at), "cpu")
    stage_cpu = {}
    for st in e2e.STAGES:
        a = med(g(f"ours_{st}_alone", size=at), "cpu")
        if a and off:
            stage_cpu[st] = max(a[0] - off[0], 0.0) * s / at
    if not stage_cpu:
        return None
    parallel = min(sum(stage_cpu.values()), one[0])
    serial = one[0] - parallel
    out = {"t1": one[0], "parallel": parallel, "measured_at": at, "serial": serial, "stage_cpu": stage_cpu,
           "ideal2": one[0] / (serial + parallel / 2), "ideal4": one[0] / (serial + parallel / 4)}
    two = med(g("ours", 2), "cpu")
    if two:
        extra = max(two[0] - one[0], 0.0)
        out.update({"extra_cpu2": extra, "with_overhead2": one[0] / (serial + (parallel + extra) / 2),
                    "with_overhead4": one[0] / (serial + (parallel + 3 * extra) / 4)})
    return out


def headline(results: dict) -> list[str]:
    cells = results.get("cells", {})
    L: list[str] = []
    w = L.append
    corpora = [c for c in ("multilingual", "english") if any(k.startswith(c + "|") for k in cells)]
    sizes = sorted({int(k.split("|")[1]) for k in cells})
    w("| corpus | docs | workers | ours full default s | datatrove fastest s | datatrove docs setting s | ours like-for-like s "
      "| **ours / dt fastest** | ours / dt docs | like-for-like / dt fastest | CPU s: ours / dt fastest (ratio) | load (1 min) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in corpora:
        for s in sizes:
            for wk in (1, 2):
                g = lambda name: cells.get(cell_key(c, s, name, wk))  # noqa: E731
                o, f, d, lf = med(g("ours")), med(g("dt_fast")), med(g("dt_docs")), med(g("ours_lfl"))
                if not any((o, f, d, lf)):
                    continue
                oc, fc = med(g("ours"), "cpu"), med(g("dt_fast"), "cpu")
                loads = [r["load1"] for n in ("ours", "dt_fast", "dt_docs", "ours_lfl") for r in g(n) or []]
                load = f"{statistics.median(loads):.1f} ({min(loads):.1f}–{max(loads):.1f})" if loads else "–"
                w(f"| {c} | {s:,} | {wk} | {fm(o)} | {fm(f)} | {fm(d)} | {fm(lf)} | **{rf(ratio(o, f))}** | {rf(ratio(o, d))} "
                  f"| {rf(ratio(lf, f))} | {fm(oc, 0)} / {fm(fc, 0)} ({rf(ratio(oc, fc))}) | {load} |")
    return L


def targets(results: dict) -> list[str]:
    cells = results.get("cells", {})
    L = ["| target | where | measured (median) | met? |", "|---|---|---:|---|"]
    yes = lambda ok: "**yes**" if ok else "**no**"  # noqa: E731
    keys = sorted({tuple(k.split("|")[:2]) for k in cells}, key=lambda t: (t[0], int(t[1])))
    for c, s in keys:
        s = int(s)
        for wk in (1, 2):
            o, f = med(cells.get(cell_key(c, s, "ours", wk))), med(cells.get(cell_key(c, s, "dt_fast", wk)))
            if o and f:
                oc, fc = med(cells.get(cell_key(c, s, "ours", wk)), "cpu"), med(cells.get(cell_key(c, s, "dt_fast", wk)), "cpu")
                L.append(f"| full default ≤ 0.5 × datatrove fastest | {c}, {s:,}, {wk} worker{'s' * (wk > 1)} | {o[0] / f[0]:.2f} wall, "
                         f"{rf(ratio(oc, fc))} CPU (n={min(o[3], f[3])}) | {yes(o[0] / f[0] <= 0.5)} |")
    for c, s in keys:
        s = int(s)
        for name in ("ours", "ours_gz"):
            one, two = med(cells.get(cell_key(c, s, name, 1))), med(cells.get(cell_key(c, s, name, 2)))
            if one and two:
                kind = "plain JSONL" if name == "ours" else ".jsonl.gz"
                bound = 2 * ratio(med(cells.get(cell_key(c, s, name, 1)), "cpu"), med(cells.get(cell_key(c, s, name, 2)), "cpu"))
                note = "" if s >= 100_000 else " (target is at 100,000)"
                L.append(f"| 2 workers ≥ 1.8x one, one input file ({kind}) | {c}, {s:,}{note} | {one[0] / two[0]:.2f}x wall, "
                         f"≤ {bound:.2f}x bound from CPU | {yes(one[0] / two[0] >= 1.8 and bound >= 1.8)} |")
    for c, s in keys:
        s = int(s)
        fl, off = med(cells.get(cell_key(c, s, "floor", 1))), med(cells.get(cell_key(c, s, "ours_off", 1)))
        if fl and off and s >= 100_000:
            cpu = ratio(med(cells.get(cell_key(c, s, "ours_off", 1)), "cpu"), med(cells.get(cell_key(c, s, "floor", 1)), "cpu"))
            L.append(f"| stages off ≤ 2x the one-thread pyarrow floor | {c}, {s:,} | {off[0] / fl[0]:.2f}x wall, {cpu:.2f}x CPU "
                     f"(n={min(off[3], fl[3])}) | {yes(off[0] / fl[0] <= 2)} |")
    return L


def report(results: dict) -> str:
    cells = results.get("cells", {})
    m = results.get("machine", {})
    L: list[str] = []
    w = L.append
    w("# Side by side: ours vs datatrove (`make bench`, benchmarks/side_by_side.py)\n")
    w(f"Measured {results.get('first', '?')} – {results.get('last', '?')} UTC on {_commits_text(results)}; "
      f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB. Raw figures: `benchmarks/work/side_by_side*.json` (not committed).\n")
    w("**The host's speed drifts**, and not alike for both systems: other tenants of the host, invisible in this machine's "
      "load average, slowed datatrove's runs by up to 30 % and ours by about 10 % in earlier rounds (see the findings). "
      "Ratios are therefore taken within one interleaved stream only. The 1-minute load average during each run is recorded "
      "(it includes the measured run itself, about 1 per busy worker); CPU seconds (user + system of the whole process tree) "
      "are given beside wall times. Medians of n runs, range (min–max) in brackets; systems run interleaved in an order "
      "rotated each repetition.\n")
    w("## Headline\n")
    L += headline(results)
    w("\n*ours full default* = license, langid, quality, PII, dedup; *like-for-like* = ours with datatrove's stage set "
      "(langid, PII, dedup). datatrove = JsonlReader → LanguageFilter (same lid.176.ftz) → PIIFormatter → JsonlWriter → "
      "MinHash 1–4 → ParquetWriter; *fastest* = str.split tokenizer, 32-bit hashes, plain intermediate; *docs setting* = "
      "spaCy word tokenizer, 64-bit hashes, gzip intermediate. datatrove gets its input pre-cut into one file per worker (it "
      "parallelises by file, not within one); ours reads ONE file. Ours at 2 workers = `--profile local-mp`, CURATE_WORKERS=2.\n")
    w("## Targets\n")
    L += targets(results)
    w("")
    if FINDINGS_MD.exists():  # hand-written reading of these figures, kept with them
        w(FINDINGS_MD.read_text(encoding="utf-8").strip() + "\n")

    # docs reaching each stage
    w("## Documents reaching each stage (first repetition, 1 worker)\n")
    w("Our quality stage drops documents before PII and dedup see them, so those stages do less work than datatrove's, "
      "which has no quality filter; this table shows by how much.\n")
    w("| corpus | docs | system | reaching each stage → output |")
    w("|---|---:|---|---|")
    for key in sorted(cells, key=lambda k: (k.split("|")[0], int(k.split("|")[1]), k.split("|")[2])):
        c, s, system, wk = key.split("|")
        if wk != "1" or system not in ("ours", "ours_lfl", "dt_fast", "dt_docs") or not cells[key]:
            continue
        reach = cells[key][0].get("reaching") or {}
        w(f"| {c} | {int(s):,} | {LABEL[system]} | " + " → ".join(f"{k} {v:,}" for k, v in reach.items() if v is not None) + " |")
    w("")

    # memory
    w("## Memory: peak RSS\n")
    w("Largest single process (the in-memory runner at 1 worker; the runner or one SDK worker / forked task at 2) and the "
      "whole process tree, MB, median.\n")
    w("| corpus | docs | workers | ours largest / tree | ours tree, previous run | ours like-for-like largest / tree | dt fastest largest / tree | dt docs largest / tree | processes (ours) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    keys = sorted({tuple(k.split("|")[:2]) for k in cells}, key=lambda t: (t[0], int(t[1])))
    for c, s in keys:
        for wk in (1, 2):
            g = lambda name: cells.get(cell_key(c, int(s), name, wk))  # noqa: E731
            if not g("ours") and not g("dt_fast"):
                continue
            cell = lambda name: f"{fm(med(g(name), 'peak_proc_mb'), 0)} / {fm(med(g(name), 'peak_rss_mb'), 0)}" if g(name) else "–"  # noqa: E731
            procs = med(g("ours"), "procs")
            prev = PREVIOUS_TREE_PEAK_MB.get((int(s), wk)) if c == "multilingual" else None
            w(f"| {c} | {int(s):,} | {wk} | {cell('ours')} | {prev or '–'} | {cell('ours_lfl')} | {cell('dt_fast')} | {cell('dt_docs')} | {fm(procs, 0)} |")
    w("")

    # floor
    w("## Stages off vs the one-thread pyarrow floor\n")
    w("| corpus | docs | floor s | ours stages off s | ratio (wall) | floor CPU s | ours CPU s | load |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c, s in keys:
        fl, off = cells.get(cell_key(c, int(s), "floor", 1)), cells.get(cell_key(c, int(s), "ours_off", 1))
        if fl and off:
            w(f"| {c} | {int(s):,} | {fm(med(fl), 2)} | {fm(med(off), 2)} | {rf(ratio(med(off), med(fl)))}x | {fm(med(fl, 'cpu'), 2)} | "
              f"{fm(med(off, 'cpu'), 2)} | {statistics.median(r['load1'] for r in fl + off):.1f} |")
    w("")

    # scaling
    w("## Two workers vs one, from ONE input file\n")
    w("*Bound from CPU* = 2 × CPU(1 worker) / CPU(2 workers): the most 2 workers can gain on 2 free cores given the extra "
      "CPU they spend; it does not depend on the neighbours' load the way wall time does.\n")
    w("| corpus | docs | input | 1 worker s | 2 workers s | speed-up (wall) | CPU s 1 / 2 workers | bound from CPU | load |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for c, s in keys:
        for name, kind in (("ours", "plain JSONL"), ("ours_gz", ".jsonl.gz")):
            one, two = cells.get(cell_key(c, int(s), name, 1)), cells.get(cell_key(c, int(s), name, 2))
            if one and two:
                w(f"| {c} | {int(s):,} | {kind} | {fm(med(one))} | {fm(med(two))} | {rf(ratio(med(one), med(two)))}x | "
                  f"{fm(med(one, 'cpu'), 0)} / {fm(med(two, 'cpu'), 0)} | **{rf(2 * ratio(med(one, 'cpu'), med(two, 'cpu')))}x** | "
                  f"{statistics.median(r['load1'] for r in one + two):.1f} |")
    for c, s in keys:
        p = projection(cells, c, int(s))
        if not p:
            continue
        scaled = f", measured at {p['measured_at']:,} documents and scaled ×{int(s) / p['measured_at']:g}" if p["measured_at"] != int(s) else ""
        w(f"\n**Projection to 4 workers** ({c}, {int(s):,} docs, plain JSONL). Per-stage CPU seconds at one worker (stage alone − "
          f"stages off, one run each{scaled}): " + ", ".join(f"{k} {v:.0f}" for k, v in p["stage_cpu"].items()) +
          f"; their sum, {p['parallel']:.1f} s, is the work the runner can spread; the other {p['serial']:.1f} CPU s of the "
          f"{p['t1']:.1f} CPU s one-worker run (start-up, graph, ingest, shuffles, writing, commit) is taken as serial. "
          f"With a core per worker and no cost of its own, multi-processing would give {p['ideal2']:.2f}x at 2 workers and "
          f"{p['ideal4']:.2f}x at 4.")
        if "extra_cpu2" in p:
            w(f"But 2 workers spend {p['extra_cpu2']:.1f} CPU s more than one (runner process, encoding and moving every "
              f"element between processes). Counting that, and {3 * p['extra_cpu2']:.1f} s at 4 workers: "
              f"**{p['with_overhead2']:.2f}x at 2 workers, {p['with_overhead4']:.2f}x at 4** (projected, each worker on a free core).")
    w("")

    # corpora
    w("## Corpora\n")
    w("| corpus | docs | JSONL MB | mean doc bytes | natural / mixed docs | exact / near dups | with PII | sources |")
    w("|---|---:|---:|---:|---:|---:|---:|---|")
    for c, by_size in sorted(results.get("corpora", {}).items()):
        for s, st in sorted(by_size.items(), key=lambda kv: int(kv[0])):
            src = st.get("source_kinds") or st.get("langs") or {}
            mix = ", ".join(f"{k} {v / st['docs']:.0%}" for k, v in list(src.items())[:6])
            w(f"| {c} | {int(s):,} | {st['file_mb']:.0f} | {st['mean_bytes']:.0f} | {st['natural']:,} / {st['mixed']:,} | "
              f"{st['exact']:,} / {st['near']:,} | {st['pii']:,} | {mix} |")
    w("\n*mixed* documents are made of random paragraphs of one source when the distinct documents on the machine run out "
      "(repetition with variation).\n")
    if results.get("failures"):
        w("## Failed runs\n")
        for k, v in results["failures"].items():
            if not cells.get(k):
                w(f"- `{k}`: {v.strip().splitlines()[-1][:300] if v.strip() else 'error'}")
        w("")
    missing = []
    for c in ("multilingual", "english"):
        for s in (10_000, 100_000):
            for wk in (1, 2):
                for name in ("ours", "dt_fast", "dt_docs", "ours_lfl"):
                    if len(cells.get(cell_key(c, s, name, wk), [])) < 3:
                        missing.append(f"{c} {s // 1000}k {name} {wk}w ({len(cells.get(cell_key(c, s, name, wk), []))}/3)")
    if missing:
        w("## Not measured (fewer than 3 runs)\n")
        w(", ".join(missing) + ".\n")
    return "\n".join(L) + "\n"


def splice(text_md: str) -> None:
    """The headline and targets at the top of RESULTS.md, between markers; the rest is kept."""
    lines = text_md.splitlines()
    start = lines.index("## Headline")
    stop = next(i for i, l in enumerate(lines) if l.startswith("## Documents reaching"))
    block = (f"{BEGIN}\n## Side by side with datatrove (headline; full tables: `benchmarks/results/side_by_side.md`)\n\n"
             + "\n".join(lines[2:start]) + "\n" + "\n".join(lines[start + 1:stop]).strip() + "\n\n"
             + "See `benchmarks/results/side_by_side.md` for documents reaching each stage, memory, the stages-off floor, "
             "the one-file scaling and its 4-worker projection. Below this block: the report of `benchmarks/run_all.py` "
             "(per-stage table, dedup agreement, profile) from the date it states.\n" + END)
    text = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        first, _, rest = text.partition("\n")
        text = first + "\n\n" + block + "\n" + rest
    RESULTS_MD.write_text(text, encoding="utf-8")


def _commits_text(results: dict) -> str:
    commits = results.get("commits") or [results.get("commit", "?")]
    if len(commits) == 1:
        return f"commit `{commits[0]}`"
    return "commits " + ", ".join(f"`{c}`" for c in commits) + " (streams of different commits: see each round's findings for which rows)"


def merged(results: dict) -> dict:
    """These results plus those of every other benchmarks/work/side_by_side*.json (measurement streams
    run with their own BENCH_RESULTS_JSON, e.g. one per corpus), cells joined."""
    out = json.loads(json.dumps(results))
    for path in sorted(WORK.glob("side_by_side*.json")):
        if path.resolve() == RESULTS_JSON.resolve():
            continue
        other = json.loads(path.read_text())
        for key, runs in other.get("cells", {}).items():
            out.setdefault("cells", {}).setdefault(key, []).extend(runs)
        for c, by_size in other.get("corpora", {}).items():
            out.setdefault("corpora", {}).setdefault(c, {}).update(by_size)
        out.setdefault("failures", {}).update(other.get("failures", {}))
        for k, pick in (("first", min), ("last", max)):
            if other.get(k):
                out[k] = pick(x for x in (out.get(k), other[k]) if x)
        out.setdefault("machine", other.get("machine"))
        out.setdefault("commit", other.get("commit"))
        if other.get("commit"):
            commits = out.setdefault("commits", [out["commit"]] if out.get("commit") else [])
            if other["commit"] not in commits:
                commits.append(other["commit"])
    for key, runs in out.get("cells", {}).items():
        if key.split("|")[2] not in DT_MODE:
            continue
        size = int(key.split("|")[1])
        bad = [r for r in runs if not valid_dt_run(r, size)]
        if bad:
            out["cells"][key] = [r for r in runs if valid_dt_run(r, size)]
            out.setdefault("failures", {})[key + f" ({len(bad)} dropped)"] = (
                f"datatrove read {next(iter(bad[0]['reaching'].values()))} of {size} documents: its input file was short")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="forget earlier results in benchmarks/work/side_by_side.json")
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() and not args.fresh else {}
    if not args.report_only:
        if not run_datatrove_ready():
            print("side_by_side: .venv-datatrove missing; run `make bench-setup` first", file=sys.stderr)
            return 2
        import run_all

        # the package's bytecode as `make install` leaves it (PYTHONDONTWRITEBYTECODE would have
        # every measured process compile the modules it imports from a tree edited since)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipeline")], check=True)
        e2e.FROZEN = e2e.available_stages()
        results["machine"] = run_all.machine()
        results["commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        results.setdefault("first", time.strftime("%Y-%m-%d %H:%M", time.gmtime()))

        def save():
            results["last"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
            tmp = RESULTS_JSON.with_suffix(".tmp")
            tmp.write_text(json.dumps(results))
            tmp.rename(RESULTS_JSON)

        measure_all(args, results, save)
        save()
    text = report(merged(results))
    REPORT_MD.parent.mkdir(parents=True, exist_ok=True)
    REPORT_MD.write_text(text, encoding="utf-8")
    splice(text)
    print(f"side_by_side: wrote {REPORT_MD.relative_to(ROOT)} and the headline in {RESULTS_MD.relative_to(ROOT)}")
    return 0


def run_datatrove_ready() -> bool:
    return (ROOT / ".venv-datatrove" / "bin" / "python").exists()


if __name__ == "__main__":
    sys.exit(main())
