"""The quality stage of a git revision vs the working tree: CPU seconds per 10k documents on both
benchmark corpora, and identical verdicts checked document by document.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/compare_quality.py [--old 508d19f] [--docs 10000] [--runs 3]

The revision's tree is extracted (``git archive``) into a temporary directory, with this checkout's
built kernel module (used there when the kernel sources are the same). For each corpus of
benchmarks/corpus.py (multilingual, english) the documents get their languages from the langid
stage once; then each run times ``QualityFilter.process_batch`` over the corpus in batches of
``run.batch_size`` in a fresh process per tree (old and new alternating, so load from other
processes on the machine hits both alike), after one untimed warm-up pass (imports, rule loading,
compiled-kernel cache), in CPU seconds of that process. Every verdict (action, reason, detail) of
the two trees must be equal. The table replaces the compare block of benchmarks/results/quality.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "quality.md"
COMPARE_BEGIN, COMPARE_END = "<!-- compare_quality -->", "<!-- /compare_quality -->"
CORPORA = ("multilingual", "english")


def worker(tree: str, data: str, out: str) -> None:
    """In a fresh process with ``tree`` first on sys.path: one warm-up pass, one timed pass."""
    import time  # noqa: PLC0415

    sys.path.insert(0, tree)
    from pipeline.config import load_config  # noqa: PLC0415
    from pipeline.stages.quality import QualityFilter  # noqa: PLC0415

    # after the `pipeline` package of `tree` is imported: bench_quality's imports then find it
    sys.path.insert(1, str(ROOT / "benchmarks"))
    from bench_quality import records  # noqa: PLC0415

    docs, langs = pickle.loads(Path(data).read_bytes())
    cfg = load_config()
    recs = records(docs, langs)
    core = QualityFilter(cfg)
    core.setup()
    bs = cfg.run.batch_size
    batches = [recs[i : i + bs] for i in range(0, len(recs), bs)]
    assert Path(sys.modules["pipeline"].__file__).resolve().is_relative_to(Path(tree).resolve())
    verdicts = [v for b in batches for v in core.process_batch(b)]  # warm-up
    t0 = time.process_time()
    for b in batches:
        core.process_batch(b)
    cpu = time.process_time() - t0
    Path(out).write_text(json.dumps({"cpu": cpu, "verdicts": [[v.action, v.reason, v.detail] for v in verdicts]}, sort_keys=True))


def corpus_data(name: str, n_docs: int, work: Path) -> tuple[Path, str, int, float]:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus  # noqa: PLC0415

    from pipeline.config import load_config  # noqa: PLC0415
    from pipeline.lang.identifier import LanguageIdentifier  # noqa: PLC0415

    path = corpus.build(n_docs, corpus=name)
    docs = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    langs = [lang for lang, _ in LanguageIdentifier.from_config(load_config()).predict_batch(docs)]
    data = work / f"{name}.pkl"
    data.write_bytes(pickle.dumps((docs, langs)))
    return data, path.name, len(docs), sum(len(d.encode()) for d in docs) / 1e6


def run_tree(tree: Path, data: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, __file__, "--worker", str(tree), str(data), str(out)], env=env, check=True, cwd=tree)
    return json.loads(out.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", default="508d19f", help="the revision to compare with")
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    rows, all_same = [], True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old_tree = work / "old"
        old_tree.mkdir()
        archive = subprocess.run(["git", "archive", args.old], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        # the built kernel module is not in git: the revision uses this one when its kernel sources
        # are the same (the module's digest says so), as a checkout after `make install` would
        for built in (ROOT / "pipeline").glob("_compiled_kernels*"):
            shutil.copy2(built, old_tree / "pipeline" / built.name)
        for name in CORPORA:
            data, file_name, n, mb = corpus_data(name, args.docs, work)
            cpu = {"old": [], "new": []}
            verdicts = {}
            for run in range(args.runs):
                for side in (("old", "new") if run % 2 == 0 else ("new", "old")):
                    res = run_tree(old_tree if side == "old" else ROOT, data, work / f"{side}.json")
                    cpu[side].append(res["cpu"])
                    verdicts[side] = res["verdicts"]
            same = sum(a == b for a, b in zip(verdicts["old"], verdicts["new"]))
            all_same &= same == n
            o, w = statistics.median(cpu["old"]), statistics.median(cpu["new"])
            per10k = 10000 / n
            rows.append(f"| {name} ({file_name}, {mb:.1f} MB) | {o * per10k:.2f} ({min(cpu['old']) * per10k:.2f}–{max(cpu['old']) * per10k:.2f}) "
                        f"| {w * per10k:.2f} ({min(cpu['new']) * per10k:.2f}–{max(cpu['new']) * per10k:.2f}) | {o / w:.2f}x | {same:,} / {n:,} |")
    load = os.getloadavg()[0]
    out = [COMPARE_BEGIN, f"## Quality stage: {args.old} vs the working tree", "",
           f"`PYTHONPATH=$PWD .venv/bin/python benchmarks/compare_quality.py --old {args.old} --docs {args.docs} --runs {args.runs}` — "
           f"`QualityFilter.process_batch` in batches of the run's batch size, languages from the langid stage, one fresh process per "
           f"tree and run (alternating), CPU seconds of the timed pass after a warm-up pass, median of {args.runs} (range). "
           f"Machine load average at the end: {load:.1f} on {os.cpu_count()} cores.", "",
           f"| corpus | {args.old}: CPU s per 10k docs | working tree: CPU s per 10k docs | speed-up | identical verdicts |",
           "|---|---:|---:|---:|---:|", *rows, COMPARE_END]
    print("\n".join(out))
    text = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if COMPARE_BEGIN in text and COMPARE_END in text:
        text = text[: text.index(COMPARE_BEGIN)] + "\n".join(out) + text[text.index(COMPARE_END) + len(COMPARE_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(out) + "\n"
    OUT.write_text(text, encoding="utf-8")
    return 0 if all_same else 1


if __name__ == "__main__":
    raise SystemExit(main())
