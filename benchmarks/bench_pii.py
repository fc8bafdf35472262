"""PII stage throughput and accuracy → benchmarks/results/pii.md

    .venv/bin/python benchmarks/bench_pii.py [--docs 1500] [--runs 3]

Corpus: real English and Korean paragraphs from the Debian documentation on this machine
(benchmarks/pii_corpus.py), documents of 1–3 paragraphs, half English half Korean; 10% carry
planted PII and 30% planted decoys (dates, versions, ISBNs, prices, …), every default recognizer
on. Both engines are built from the same rules/pii YAML in the same process:

* plain    — presidio's AnalyzerEngine.analyze on each whole text (presidio's own NLP artifacts);
* pipeline — PiiEngine.analyze_batch: combined prefilter → windows → batched presidio calls.

Reports MB/s per core (single process, CPU time, median of --runs), the speed-up, whether
findings are identical, and precision/recall per entity type on the committed labelled set
(tests/data/pii/labelled.jsonl).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

import pii_corpus as pc  # noqa: E402

ISSUE_BASELINE = 0.12  # MB/s per core, presidio regex-only over a blank spaCy pipeline (issue 3)


def corpus(n: int, seed: int = 11) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    paras = {lang: pc.paragraphs(lang, 3000) for lang in ("en", "ko")}
    texts, langs = [], []
    for i in range(n):
        lang = "en" if i % 2 else "ko"
        doc = pc.planted_doc(rng, lang, paras[lang], n_plants=1 if rng.random() < 0.10 else 0,
                             n_decoys=1 if rng.random() < 0.30 else 0)
        texts.append(doc["text"])
        langs.append(lang)
    return texts, langs


def key(results):
    return sorted((r.entity_type, r.start, r.end, round(r.score, 9)) for r in results)


def accuracy(engine) -> tuple[list[tuple], float]:
    docs = [json.loads(l) for l in (ROOT / "tests/data/pii/labelled.jsonl").read_text(encoding="utf-8").splitlines()]
    res = engine.analyze_batch([d["text"] for d in docs], [d["lang"] for d in docs])
    stats: dict[str, list[int]] = {}
    decoys = kept = 0
    for d, rs in zip(docs, res):
        chosen = engine.resolve(rs)
        truth = {(p["start"], p["end"], p["type"]) for p in d["pii"]}
        for p in d["pii"]:
            s = stats.setdefault(p["type"], [0, 0, 0, 0])  # tp, planted, predicted, replaced(any type)
            s[1] += 1
            s[3] += any(r.start <= p["start"] and r.end >= p["end"] for r in chosen)
        for r in chosen:
            s = stats.setdefault(r.entity_type, [0, 0, 0, 0])
            s[2] += 1
            s[0] += (r.start, r.end, r.entity_type) in truth
        for x in d["decoys"]:
            decoys += 1
            kept += not any(r.end > x["start"] and r.start < x["end"] for r in chosen)
    rows = []
    for entity, (tp, planted, predicted, replaced) in sorted(stats.items()):
        rows.append((entity, planted, predicted, tp / predicted if predicted else float("nan"),
                     tp / planted if planted else float("nan"), replaced / planted if planted else float("nan")))
    return rows, kept / decoys


def breakdown(engine, texts, langs, runs: int = 3) -> tuple[float, list[tuple[str, float]]]:
    """CPU seconds of analyze_batch and of its parts (the engine's methods wrapped with timers)."""
    from collections import Counter

    from pipeline.pii.prefilter import Prefilter

    spent: Counter = Counter()
    undo = []

    def wrap(obj, name, label):
        orig = getattr(obj, name)

        def timed(*a, **k):
            t0 = time.process_time()
            try:
                return orig(*a, **k)
            finally:
                spent[label] += time.process_time() - t0

        undo.append((obj, name, vars(obj).get(name)))
        setattr(obj, name, timed)

    wrap(Prefilter, "windows", "prefilter: hits and windows")
    for fa in getattr(engine, "fast", {}).values():
        wrap(fa, "analyze", "presidio steps (all below)")
        for rec in fa.recognizers:
            phone = hasattr(rec, "analyze_fast")
            wrap(rec, "analyze_fast" if phone else "analyze",
                 "  phone recognizer (phonenumbers)" if phone else "  regex recognizers")
        wrap(fa, "_own_windows", "  per-recognizer windows")
        wrap(fa, "_enhance", "  context: tokens + enhancer")
        wrap(fa, "_colon_keywords", "  context: document keyword list")
    try:
        t0 = time.process_time()
        for _ in range(runs):
            engine.analyze_batch(texts, langs)
        total = (time.process_time() - t0) / runs
    finally:
        for obj, name, own in reversed(undo):  # put back what the object itself held, or nothing
            if own is not None:
                setattr(obj, name, own)
            else:
                delattr(obj, name)
    rows = [(label, v / runs) for label, v in spent.items()]
    inner = sum(v for label, v in rows if label.startswith("  "))
    steps = dict(rows).get("presidio steps (all below)", 0.0)
    rows.append(("  other (joining windows, thresholds, duplicates)", max(0.0, steps - inner)))
    rows.append(("engine loop (batching, offsets, sorting)",
                 max(0.0, total - steps - dict(rows).get("prefilter: hits and windows", 0.0))))
    order = ["prefilter: hits and windows", "presidio steps (all below)", "  phone recognizer (phonenumbers)",
             "  regex recognizers", "  per-recognizer windows", "  context: tokens + enhancer",
             "  context: document keyword list", "  other (joining windows, thresholds, duplicates)",
             "engine loop (batching, offsets, sorting)"]
    rows.sort(key=lambda r: order.index(r[0]) if r[0] in order else len(order))
    return total, rows


# datatrove's PIIFormatter (datatrove/pipeline/formatters/pii.py): its e-mail and IPv4 patterns,
# each applied with re.sub over the whole text (PIIReplacer.replace) — its whole cost on a
# document where neither matches.
DATATROVE_EMAIL = (  # as published (lower-case classes, compiled without flags)
    r"\b[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[a-z0-9](?:["
    r"a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[a-z0-9-]*[a-z0-9]:)])"
)
DATATROVE_IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
NO_CANDIDATE_SECTION = "## Documents without candidate characters"
# what the default rules' guard holds (checked against the engine's own guard when measuring)
CANDIDATE_CHARACTERS = r"[\d@:]"


def no_candidate_docs(paragraphs_per_doc: int, per_lang: int = 1000) -> tuple[list[str], list[str]]:
    """Real paragraphs holding no digit, '@' or ':' (nothing any recognizer can start on), joined
    ``paragraphs_per_doc`` to a document; half English, half Korean."""
    import regex

    guard = regex.compile(CANDIDATE_CHARACTERS)
    texts, langs = [], []
    for lang in ("en", "ko"):
        paras = [p for p in pc.paragraphs(lang, 4000) if not guard.search(p)][: per_lang * paragraphs_per_doc]
        for i in range(0, len(paras) - paragraphs_per_doc + 1, paragraphs_per_doc):
            texts.append("\n\n".join(paras[i : i + paragraphs_per_doc]))
            langs.append(lang)
    return texts, langs


def letters_id(i: int) -> str:
    """A document id without candidate characters: ``doc-`` and ``i`` in base 26 letters."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out = chr(97 + r) + out
        if not i:
            return "doc-" + out


def no_candidate_costs(cfg, runs: int) -> list[str]:
    """CPU µs per document on documents without candidate characters: datatrove's PIIFormatter
    patterns, our prefilter (the union alone / the guard first), the engine on the texts, and the
    whole stage core. The variants alternate run by run (the machine is shared)."""
    import re

    from pipeline.stages.pii import PiiScrubber

    email, ipv4 = re.compile(DATATROVE_EMAIL), re.compile(DATATROVE_IPV4)
    core = PiiScrubber(cfg)
    core.setup()
    engine = core._engine
    prefilters = {lang: pre for lang, pre in engine.prefilters.items() if pre is not None}
    starts = {lang: pre.starts for lang, pre in prefilters.items()}
    assert all(s is not None for s in starts.values()), "the default rules have a one-pass guard"

    def guard(on: bool) -> None:
        for lang, pre in prefilters.items():
            pre.starts = starts[lang] if on else None

    lines = [
        NO_CANDIDATE_SECTION,
        "",
        f"`bench_pii.py --no-candidate --runs {runs}`: real paragraphs with no digit, '@' or ':' (no character of the "
        "guard the default rules give, so no recognizer can match), English and Korean, joined into documents. CPU µs "
        f"per document in one process, median of {runs} runs and (range); the variants alternate run by run. "
        "datatrove: its PIIFormatter's e-mail and IPv4 patterns (published in datatrove/pipeline/formatters/pii.py; "
        "no datatrove install here, so the two patterns are reimplemented), each `re.sub` over the text as "
        "`PIIReplacer.replace` does — its whole cost when nothing matches. Prefilter: `Prefilter.hits` with the union "
        "regex alone, and with the guard first (one scan for a character any condition can start with, derived from "
        "the recognizers' conditions). Engine: `PiiEngine.scrub_batch` on the texts, batches of 512. Stage core: "
        "`PiiScrubber.process_batch` in batches of 512 — the text, and also the record's source_id, url and notes "
        "(datatrove scrubs none of these): ids `doc-<n>` (n < 2000) hold digits, but from the first one too few "
        "characters for any condition's shortest match, so the short-text check rejects them without the union "
        "scan; ids "
        "`doc-<letters>` have no candidate either.",
        "",
        "| documents | chars/doc | datatrove PIIFormatter | prefilter, union alone | prefilter, guard first | engine, texts | "
        "stage core, ids doc-&lt;n&gt; | stage core, ids doc-&lt;letters&gt; | engine / datatrove | stage core (letters) / datatrove |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for per_doc in (1, 8):
        texts, langs = no_candidate_docs(per_doc)
        n = len(texts)
        assert not any(starts[lang].search(t) for t, lang in zip(texts, langs)), "a document holds a guard character"
        digit_ids = [{"text": t, "lang": lang, "source_id": f"doc-{i}", "url": None} for i, (t, lang) in enumerate(zip(texts, langs))]
        letter_ids = [dict(r, source_id=letters_id(i)) for i, r in enumerate(digit_ids)]

        def datatrove():
            for t in texts:
                ipv4.sub(lambda m: "x", email.sub(lambda m: "x", t))

        def prefilter():
            for t, lang in zip(texts, langs):
                prefilters[lang].hits(t)

        def engine_texts():
            for k in range(0, n, 512):
                engine.scrub_batch(texts[k : k + 512], langs[k : k + 512])

        variants = {"datatrove": (datatrove, True), "union": (prefilter, False), "guard": (prefilter, True),
                    "engine": (engine_texts, True), "stage_digits": (lambda: stage_cpu(core, digit_ids), True),
                    "stage_letters": (lambda: stage_cpu(core, letter_ids), True)}
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(runs):
            for name, (fn, on) in variants.items():
                guard(on)
                t0 = time.process_time()
                fn()
                times[name].append((time.process_time() - t0) / n * 1e6)
        guard(True)

        def cell(name):
            v = times[name]
            return f"{statistics.median(v):.1f} ({min(v):.1f}–{max(v):.1f})"

        def ratio(name):
            return statistics.median(times[name]) / statistics.median(times["datatrove"])

        chars = sum(map(len, texts)) / n
        lines.append(f"| {n} × {per_doc} paragraph(s) | {chars:,.0f} | {cell('datatrove')} | {cell('union')} | "
                     f"{cell('guard')} | {cell('engine')} | {cell('stage_digits')} | {cell('stage_letters')} | "
                     f"{ratio('engine'):.2f} | {ratio('stage_letters'):.2f} |")
    return lines + [""]


CORPORA_SECTION = "## Stage core on the benchmark corpora"


def corpus_records(corpus: str, n_docs: int) -> list[dict]:
    """The documents of benchmarks/corpus.py as the PII stage receives them: text, the language the
    langid stage gives (computed here, untimed), ``source_id`` = the document id, no url."""
    import json as _json

    import corpus as bc  # benchmarks/corpus.py

    from pipeline.config import load_config
    from pipeline.stages.langid import LanguageFilter

    with open(bc.build(n_docs, corpus=corpus), encoding="utf-8") as fh:
        docs = [_json.loads(line) for line in fh]
    records = [{"text": d["text"], "source_id": d["id"], "url": None} for d in docs]
    langid = LanguageFilter(load_config())
    for k in range(0, len(records), 512):
        langid.process_batch(records[k : k + 512])
    return [{"text": r["text"], "lang": r["lang"], "source_id": r["source_id"], "url": None} for r in records]


def reaching_records(corpus: str, n_docs: int) -> tuple[list[dict], list[dict]]:
    """The documents of benchmarks/corpus.py that reach the PII stage in a default run, and the
    decisions rows of those dropped before it: records made as ingest makes them, through the
    license, langid and quality stage cores (untimed) as the pipeline runs them, 512 a batch."""
    import json as _json

    import corpus as bc  # benchmarks/corpus.py

    from pipeline.config import load_config
    from pipeline.io.splits import record_factory
    from pipeline.stages.langid import LanguageFilter
    from pipeline.stages.license import LicenseDetector
    from pipeline.stages.quality import QualityFilter
    from pipeline.verdicts import run_core_on_batch

    cfg = load_config()
    path = bc.build(n_docs, corpus=corpus)
    make = record_factory(path.name)  # the same ids (and rows) from any checkout
    with open(path, encoding="utf-8") as fh:
        records = [make(i, d["text"], source_id=d["id"]) for i, d in enumerate(map(_json.loads, fh))]
    rows: list[dict] = []
    for core_class in (LicenseDetector, LanguageFilter, QualityFilter):
        core = core_class(cfg)
        core.setup()
        kept = []
        for k in range(0, len(records), 512):
            batch_kept, batch_rows = run_core_on_batch(core, records[k : k + 512], "bench")
            kept += batch_kept
            rows += batch_rows
        records = kept
    return records, rows


def decision_rows_cpu(fields, rows: list[dict]) -> float:
    """CPU seconds of scrubbing ``rows`` as ScrubDecisionFields does: in batches of its ``BATCH``
    where this checkout has ``scrub_decision_rows``, else one row per call."""
    import pipeline.stages.pii as stage

    batched = getattr(stage, "scrub_decision_rows", None)
    t0 = time.process_time()
    if batched is None:
        for row in rows:
            stage.scrub_decision_row(fields, row)
    else:
        from pipeline.stages.transforms import ScrubDecisionFields

        for k in range(0, len(rows), ScrubDecisionFields.BATCH):
            batched(fields, rows[k : k + ScrubDecisionFields.BATCH])
    return time.process_time() - t0


REACHING_SECTION = "## Stage core on the documents that reach it"


def reaching_costs(cfg, n_docs: int, runs: int) -> list[str]:
    """Stage-core CPU seconds on the documents that reach the PII stage in a default run, and the
    scrubbing of the decisions rows of those dropped before it, on both corpora."""
    from pipeline.stages.pii import FieldScrubber, PiiScrubber

    core = PiiScrubber(cfg)
    core.setup()
    fields = FieldScrubber(core._engine)
    lines = [
        REACHING_SECTION,
        "",
        f"`bench_pii.py --reaching --docs {n_docs} --runs {runs}`: the documents of the {n_docs:,}-document corpora "
        "that reach the PII stage in a default run (records made as ingest makes them, then the license, langid and "
        "quality stage cores, untimed), through `PiiScrubber.process_batch` in batches of 512; and the decisions rows "
        "of the documents dropped before it, scrubbed as `ScrubDecisionFields` does. CPU seconds in one process, "
        f"median of {runs} runs and (range); the engine is built before timing. Digest: as in the section above, "
        "and for the rows sha256 of the scrubbed rows.",
        "",
        "| corpus | documents reaching | stage core CPU s | findings | digest | decisions rows | rows CPU s | rows digest |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    import pipeline.stages.pii as stage

    for corpus in ("multilingual", "english"):
        records, rows = reaching_records(corpus, n_docs)
        times = [stage_cpu(core, records) for _ in range(runs)]
        row_times = [decision_rows_cpu(fields, rows) for _ in range(runs)]
        n_found, digest = output_digest(core, records)
        clean = [stage.scrub_decision_row(fields, row) for row in rows]
        rows_digest = hashlib.sha256(json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str)
                                     .encode("utf-8")).hexdigest()[:12]
        med, rmed = statistics.median(times), statistics.median(row_times)
        lines.append(f"| {corpus} | {len(records):,} | {med:.2f} ({min(times):.2f}–{max(times):.2f}) | {n_found} | "
                     f"{digest} | {len(rows):,} | {rmed:.2f} ({min(row_times):.2f}–{max(row_times):.2f}) | "
                     f"{rows_digest} |")
    return lines + [""]


def stage_cpu(core, records: list[dict], batch: int = 512) -> float:
    """CPU seconds of ``PiiScrubber.process_batch`` over fresh copies of ``records`` in batches."""
    copies = [dict(r) for r in records]
    t0 = time.process_time()
    for k in range(0, len(copies), batch):
        core.process_batch(copies[k : k + batch])
    return time.process_time() - t0


def output_digest(core, records: list[dict]) -> tuple[int, str]:
    """(findings, sha256 prefix of every record's scrubbed text, pii_counts and source_id)."""
    found = [dict(r) for r in records]
    for k in range(0, len(found), 512):
        core.process_batch(found[k : k + 512])
    n_found = sum(sum(r["pii_counts"].values()) for r in found)
    digest = hashlib.sha256(json.dumps([[r["text"], r["pii_counts"], r["source_id"]] for r in found],
                                       ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    return n_found, digest


def shortcuts_equal(cfg, n_docs: int) -> bool:
    """The stage core's output on both corpora with the fast path's short cuts (enhancer skipped
    where no context word is near, short texts not scanned) and without them (presidio's
    enhancer on every window, the union scan on every text): prints both digests."""
    from pipeline.pii.fast import FastAnalyzer
    from pipeline.pii.prefilter import Prefilter
    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(cfg)
    core.setup()
    same = True
    for corpus in ("multilingual", "english"):
        records = corpus_records(corpus, n_docs)
        t0 = time.process_time()
        with_cuts = output_digest(core, records)
        t1 = time.process_time()
        saved = FastAnalyzer._no_context_word, Prefilter._long_enough
        FastAnalyzer._no_context_word = lambda self, stretch, results, delta: False
        Prefilter._long_enough = lambda self, text, pos: True
        try:
            without = output_digest(core, records)
        finally:
            FastAnalyzer._no_context_word, Prefilter._long_enough = saved
        t2 = time.process_time()
        same &= with_cuts == without
        print(f"{corpus}: {len(records):,} documents; with the short cuts {with_cuts[0]} findings, digest "
              f"{with_cuts[1]} ({t1 - t0:.1f} CPU s); without {without[0]} findings, digest {without[1]} "
              f"({t2 - t1:.1f} CPU s): {'identical' if with_cuts == without else 'DIFFERENT'}")
    return same


def phone_texts(core, records: list[dict]) -> list[str]:
    """The texts the stage core hands the phone recognizer for ``records`` (joined windows, CJK
    boundaries applied), captured from one pass."""
    from pipeline.pii.recognizers import RegionalPhoneRecognizer

    got: list[str] = []
    original = RegionalPhoneRecognizer._results

    def capture(self, matches, text, nlp_artifacts):
        got.append(text)
        return original(self, matches, text, nlp_artifacts)

    RegionalPhoneRecognizer._results = capture
    try:
        stage_cpu(core, records)
    finally:
        RegionalPhoneRecognizer._results = original
    return got


def phone_equal(cfg, n_docs: int) -> bool:
    """The phone recognizer's fast path against the reference (presidio's per-region loop over
    stock python-phonenumbers matchers) on every text the stage core hands it for both corpora:
    prints findings, digests and CPU seconds of each; True when identical."""
    from pipeline.pii.recognizers import RegionalPhoneRecognizer
    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(cfg)
    core.setup()
    same = True
    for corpus in ("multilingual", "english"):
        texts = phone_texts(core, corpus_records(corpus, n_docs))
        outcome = {}
        for name in ("analyze_fast", "analyze"):
            rec = RegionalPhoneRecognizer()  # fresh: no outcomes remembered from the capture
            run = getattr(rec, name)
            t0 = time.process_time()
            found = [key(run(t, ["PHONE_NUMBER"])) for t in texts]
            spent = time.process_time() - t0
            digest = hashlib.sha256(json.dumps(found).encode("utf-8")).hexdigest()[:12]
            outcome[name] = (sum(map(len, found)), digest)
            print(f"{corpus}: {name} on {len(texts)} texts ({sum(map(len, texts)):,} chars): "
                  f"{outcome[name][0]} findings, digest {digest}, {spent:.2f} CPU s")
        same &= outcome["analyze_fast"] == outcome["analyze"]
    return same


def corpora_costs(cfg, n_docs: int, runs: int) -> list[str]:
    """Stage-core CPU seconds per ``n_docs`` documents on the multilingual and English-heavy corpora."""
    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(cfg)
    core.setup()
    lines = [
        CORPORA_SECTION,
        "",
        f"`bench_pii.py --corpora --docs {n_docs} --runs {runs}`: `PiiScrubber.process_batch` (text, source_id, url, "
        f"notes) in batches of 512 over the {n_docs:,}-document corpora of benchmarks/corpus.py, languages from the "
        f"langid stage core (untimed). CPU seconds per {n_docs:,} documents in one process, median of {runs} runs and "
        "(range); the engine is built before timing. Output digest: sha256 of every record's scrubbed text, "
        "pii_counts and source_id (the same digest from two checkouts = the same output).",
        "",
        "| corpus | documents | MB | stage core CPU s | µs per document | findings | output digest |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for corpus in ("multilingual", "english"):
        records = corpus_records(corpus, n_docs)
        mb = sum(len(r["text"].encode("utf-8")) for r in records) / 1e6
        times = [stage_cpu(core, records) for _ in range(runs)]
        n_found, digest = output_digest(core, records)
        med = statistics.median(times)
        lines.append(f"| {corpus} | {len(records):,} | {mb:.1f} | {med:.2f} ({min(times):.2f}–{max(times):.2f}) | "
                     f"{med / len(records) * 1e6:.0f} | {n_found} | {digest} |")
    return lines + [""]


def no_candidate_parts(cfg, runs: int) -> dict[str, tuple[float, float, float]]:
    """CPU µs per one-paragraph document without candidate characters, median (min, max) of
    ``runs``: datatrove's two patterns, our engine on the texts alone, and the stage core (text,
    source_id ``doc-<n>``, url, notes). Prints one line per part (for before/after runs of two
    checkouts)."""
    import re

    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(cfg)
    core.setup()
    engine = core._engine
    texts, langs = no_candidate_docs(1)
    n = len(texts)
    records = [{"text": t, "lang": lang, "source_id": f"doc-{i}", "url": None} for i, (t, lang) in enumerate(zip(texts, langs))]
    email, ipv4 = re.compile(DATATROVE_EMAIL), re.compile(DATATROVE_IPV4)
    letter_ids = [dict(r, source_id=letters_id(i)) for i, r in enumerate(records)]
    parts = {
        "datatrove PIIFormatter (two re.sub)": lambda: [ipv4.sub(lambda m: "x", email.sub(lambda m: "x", t)) for t in texts],
        "PiiEngine.scrub_batch, texts only": lambda: [engine.scrub_batch(texts[k : k + 512], langs[k : k + 512]) for k in range(0, n, 512)],
        "PiiScrubber.process_batch (whole record, ids doc-<n>)": lambda: stage_cpu(core, records),
        "PiiScrubber.process_batch (whole record, ids doc-<letters>)": lambda: stage_cpu(core, letter_ids),
    }
    times: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(runs):
        for name, fn in parts.items():
            t0 = time.process_time()
            fn()
            times[name].append((time.process_time() - t0) / n * 1e6)
    out = {k: (statistics.median(v), min(v), max(v)) for k, v in times.items()}
    for k, (med, lo, hi) in out.items():
        print(f"{k}: {med:.2f} µs/doc ({lo:.2f}–{hi:.2f}), {n} docs of {sum(map(len, texts)) / n:.0f} chars")
    return out


def write_section(path: Path, section: list[str]) -> None:
    """Replace (or add) the section of results/pii.md whose heading is ``section[0]``."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# PII stage benchmark\n"
    head, _, rest = text.partition(section[0])
    tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
    path.write_text(head.rstrip("\n") + "\n\n" + "\n".join(section) + ("\n" + tail if tail else ""), encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--corpora", action="store_true",
                    help="only the stage core on benchmarks/corpus.py's two corpora (--docs of each, default 10000)")
    ap.add_argument("--parts", action="store_true",
                    help="only print the per-document CPU of datatrove's patterns, the engine and the stage core "
                    "on one-paragraph documents without candidates (run on two checkouts for before/after)")
    ap.add_argument("--shortcuts-equal", action="store_true",
                    help="only compare the stage core's output with and without the fast path's short cuts on "
                    "benchmarks/corpus.py's two corpora (--docs of each, default 10000); exit 1 if they differ")
    ap.add_argument("--phone-equal", action="store_true",
                    help="only compare the phone recognizer's fast path with the reference (stock phonenumbers per "
                    "region) on the texts the stage hands it for benchmarks/corpus.py's two corpora (--docs of each, "
                    "default 10000); exit 1 if they differ")
    ap.add_argument("--reaching", action="store_true",
                    help="only the stage core on the documents of benchmarks/corpus.py's two corpora that reach it in "
                    "a default run, and the decisions rows of those dropped before it (--docs of each, default 10000)")
    ap.add_argument("--no-candidate", action="store_true",
                    help="only the documents-without-candidates section (vs datatrove's PIIFormatter)")
    args = ap.parse_args(argv)
    if args.shortcuts_equal:
        from pipeline.config import load_config

        return 0 if shortcuts_equal(load_config(), args.docs if args.docs != 1500 else 10_000) else 1
    if args.phone_equal:
        from pipeline.config import load_config

        return 0 if phone_equal(load_config(), args.docs if args.docs != 1500 else 10_000) else 1
    if args.parts:
        from pipeline.config import load_config

        no_candidate_parts(load_config(), args.runs)
        return 0
    if args.corpora:
        from pipeline.config import load_config

        section = corpora_costs(load_config(), args.docs if args.docs != 1500 else 10_000, args.runs)
        write_section(HERE / "results" / "pii.md", section)
        print("\n".join(section))
        return 0
    if args.reaching:
        from pipeline.config import load_config

        section = reaching_costs(load_config(), args.docs if args.docs != 1500 else 10_000, args.runs)
        print("\n".join(section))
        return 0
    if args.no_candidate:
        from pipeline.config import load_config

        section = no_candidate_costs(load_config(), args.runs)
        write_section(HERE / "results" / "pii.md", section)
        print("\n".join(section))
        return 0

    import presidio_analyzer
    import spacy

    from pipeline.config import load_config
    from pipeline.pii.engine import PiiEngine

    cfg = load_config()
    t0 = time.perf_counter()
    fast = PiiEngine(cfg)
    build_s = time.perf_counter() - t0
    plain = PiiEngine.reference(cfg)
    texts, langs = corpus(args.docs)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    share = sum(e - s for t, l in zip(texts, langs) for s, e in fast.prefilters[l].windows(t)) / sum(map(len, texts))

    # CPU time of this process: MB/s per core, whatever else runs on the machine
    clock = time.process_time
    fast_t, plain_t, scrub_ts, fast_res, plain_res = [], [], [], None, None
    for _ in range(args.runs):
        t0 = clock()
        fast_res = fast.analyze_batch(texts, langs)
        fast_t.append(clock() - t0)
        t0 = clock()
        plain_res = [plain.analyzer.analyze(text=t, language=l) for t, l in zip(texts, langs)]
        plain_t.append(clock() - t0)
        t0 = clock()
        fast.scrub_batch(texts, langs)
        scrub_ts.append(clock() - t0)
    scrub_t = statistics.median(scrub_ts)
    same = sum(key(a) == key(b) for a, b in zip(fast_res, plain_res))
    findings = sum(len(r) for r in plain_res)
    f_mbs, p_mbs = mb / statistics.median(fast_t), mb / statistics.median(plain_t)

    def spread(ts: list[float]) -> str:
        return f"{mb / max(ts):.2f}–{mb / min(ts):.2f}"
    rows, decoy_rate = accuracy(fast)
    total, parts = breakdown(fast, texts, langs)

    out = [
        "# PII stage benchmark",
        "",
        f"`.venv/bin/python benchmarks/bench_pii.py --docs {args.docs} --runs {args.runs}` — "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"presidio-analyzer {presidio_analyzer.__version__ if hasattr(presidio_analyzer, '__version__') else '2.2.366'}, "
        f"spaCy {spacy.__version__}; one process (= one core), CPU time of the process, median of {args.runs} "
        "runs, the two engines alternating.",
        "",
        f"Corpus: {args.docs} documents, {mb:.2f} MB UTF-8, half English (Debian Reference, GIMP manual) and half "
        "Korean (GIMP manual, LibreOffice help) real paragraphs; 10% with planted PII, 30% with planted decoys. "
        f"Every default recognizer of rules/pii is on ({len(fast.entities)} entity types). "
        f"The prefilter sends {share:.1%} of the characters to presidio.",
        "",
        "## Throughput (analysis)",
        "",
        "| engine | MB/s per core | range of the runs | vs plain presidio (same run) | vs issue baseline 0.12 MB/s |",
        "|---|---:|---:|---:|---:|",
        f"| presidio AnalyzerEngine, whole texts | {p_mbs:.2f} | {spread(plain_t)} | 1.0x | {p_mbs / ISSUE_BASELINE:.1f}x |",
        f"| pipeline PiiEngine.analyze_batch | {f_mbs:.2f} | {spread(fast_t)} | {f_mbs / p_mbs:.1f}x | {f_mbs / ISSUE_BASELINE:.1f}x |",
        f"| pipeline PiiEngine.scrub_batch (analysis + anonymizer) | {mb / scrub_t:.2f} | {spread(scrub_ts)} | "
        f"{mb / scrub_t / p_mbs:.1f}x | "
        f"{mb / scrub_t / ISSUE_BASELINE:.1f}x |",
        "",
        f"Findings identical to plain presidio on {same}/{len(texts)} documents ({findings} findings). "
        f"Engine build: {build_s:.1f} s once per worker.",
        "",
        "## Where PiiEngine.analyze_batch spends its time",
        "",
        f"CPU time per pass over the corpus ({total:.3f} s, timers around the engine's parts, average of 3 "
        "passes; the timers add a little):",
        "",
        "| part | s | share |",
        "|---|---:|---:|",
    ]
    out += [f"| {label.strip() if not label.startswith('  ') else '&nbsp;&nbsp;' + label.strip()} | {v:.3f} | "
            f"{v / total:.0%} |" for label, v in parts]
    out += [
        "",
        "## Accuracy on tests/data/pii/labelled.jsonl",
        "",
        "Precision and recall are type-exact (same span and entity type); *replaced* counts a planted value "
        "covered by any replacement (what matters for privacy).",
        "",
        "| entity | planted | predicted | precision | recall | replaced |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for entity, planted, predicted, prec, rec, repl in rows:
        out.append(f"| {entity} | {planted} | {predicted} | {prec:.3f} | {rec:.3f} | {repl:.3f} |")
    out += ["", f"Decoys left untouched: {decoy_rate:.3f}.", ""]
    out += no_candidate_costs(cfg, args.runs)
    path = HERE / "results" / "pii.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))
    return 0 if same == len(texts) else 1


if __name__ == "__main__":
    sys.exit(main())
