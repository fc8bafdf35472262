"""Dedup benchmarks: MinHash signature throughput vs datasketch, end-to-end dedup on the local runner.

    .venv/bin/python benchmarks/bench_dedup.py            # writes benchmarks/results/dedup.md
    .venv/bin/python benchmarks/bench_dedup.py --quick    # smaller sizes, for a smoke run

1. Signatures per second on one core, on the same real documents (/usr/share/doc copyright files
   and READMEs), in the same run:
   * ours: ``MinHasher.signatures`` (tokens hashed once in NumPy, n-grams combined, affine32);
   * datasketch ``MinHash.update()`` per shingle (default sha1_hash32), shingles built in Python;
   * datasketch ``MinHash.update_batch()`` with ``xxhash.xxh32_intdigest``, same shingles.
   Equality: datasketch ``update_batch`` fed OUR shingle hash values (identity hashfunc) must give
   exactly our signatures.
2. End-to-end ``DedupStage`` on the offline local runner (FnApiRunner) at 10k, 50k, 100k
   synthetic documents (English and Korean word streams from real vocabularies, 10% exact and 10%
   near duplicates): wall time, docs/s, peak RSS of the runner process; and with
   ``--direct_running_mode=multi_processing --direct_num_workers=2`` the peak RSS of each SDK worker
   process. Each size runs in a fresh subprocess so peaks do not mix.
3. ``--stage-cpu``: CPU seconds (user+sys of this process, ``time.process_time``) per 10k documents
   of the corpora of ``benchmarks/corpus.py`` (multilingual and English-heavy, 10k each, language
   from each document's source): the dedup core (normalise, exact key, signatures, band keys of
   batches of 512) and the whole ``DedupStage`` on the local runner (graph construction included,
   records loaded from pickles so reading is nearly free). Prints medians of 3 with ranges; the
   figures go into benchmarks/results/dedup.md by hand.

    .venv/bin/python benchmarks/bench_dedup.py --stage-cpu
4. ``--phase``: the dedup phase of ``curate run`` at the sizes asked for, 1 and 2 workers
   (``--profile local-mp``, ``CURATE_WORKERS``): every stage off vs dedup the only stage on, this
   tree and (``--baseline REF``) the ``pipeline/`` of a git ref, interleaved, ``--repeat`` times;
   CPU seconds of the whole process tree (user+sys), wall, the largest process's peak RSS. The
   phase's cost is dedup-only minus stages-off. Then the fused stages and bundles the local runner
   runs for ``DedupStage`` alone (in-process, 2,000 documents), with the one-step components and
   with the rounds (``dedup.one_step_max_nodes: 0``, the graph before the one-step path).

    .venv/bin/python benchmarks/bench_dedup.py --phase --docs 10000 100000 --corpus multilingual english --baseline d7f136e
"""
from __future__ import annotations

import argparse
import gettext
import glob
import gzip
import json
import logging
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.minhash import MinHasher, normalize  # noqa: E402

WORD = re.compile(r"\w+")


# --- corpora ---------------------------------------------------------------------------------
def real_docs(max_docs: int = 600) -> list[str]:
    docs = []
    paths = sorted(glob.glob("/usr/share/doc/*/copyright")) + sorted(glob.glob("/usr/share/doc/*/README*"))
    for path in paths:
        try:
            raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) >= 500:
            docs.append(text[:20000])
        if len(docs) >= max_docs:
            break
    return docs


def vocabularies() -> tuple[list[str], list[str]]:
    en = set()
    for doc in real_docs(300):
        en.update(w for w in WORD.findall(doc.lower()) if w.isalpha() and 2 <= len(w) <= 14)
    ko = set()
    for path in sorted(glob.glob("/usr/share/locale/ko/LC_MESSAGES/*.mo")):
        try:
            with open(path, "rb") as fh:
                cat = gettext.GNUTranslations(fh)._catalog
        except Exception:  # noqa: BLE001
            continue
        for v in cat.values():
            if isinstance(v, str):
                ko.update(w for w in re.findall(r"[\uac00-\ud7a3]+", v) if 1 <= len(w) <= 8)
    return sorted(en), sorted(ko)


_VOCAB: tuple[list[str], list[str]] | None = None


def make_doc(i: int, n: int) -> tuple[str, str]:
    """Document i of an n-document corpus, a pure function of (i, n): 80% unique Zipf word streams
    (1 in 5 Korean), then 10% exact duplicates (upper-cased) and 10% near duplicates (a word
    replaced every ~60 words) of earlier unique documents. Nothing corpus-wide is held in memory."""
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = vocabularies()
    uniq = int(n * 0.8)
    if i >= uniq:
        text, lang = make_doc((i * 7919) % uniq, n)
        if i % 2:
            return text.upper(), lang
        rng = random.Random(i)
        words = text.split(" ")
        for _ in range(max(1, len(words) // 60)):
            words[rng.randrange(len(words))] = rng.choice(words)
        return " ".join(words), lang
    lang = "ko" if i % 5 == 0 else "en"
    vocab = _VOCAB[1] if lang == "ko" else _VOCAB[0]
    rng = np.random.default_rng(i)
    length = int(rng.integers(80, 300))
    idx = np.minimum(rng.zipf(1.3, size=length) - 1 + rng.integers(0, len(vocab), size=length) // 50, len(vocab) - 1)
    return " ".join(vocab[j] for j in idx), lang


def make_batch(b: int, n: int, size: int) -> list[dict]:
    from pipeline.records import new_record

    out = []
    for i in range(b * size, min(n, (b + 1) * size)):
        text, lang = make_doc(i, n)
        rec = new_record(source_uri="bench.jsonl", record_index=i, text=text)
        rec["lang"] = lang
        out.append(rec)
    return out


# --- 1. signatures ---------------------------------------------------------------------------
def python_shingles(text: str, n: int = 5) -> list[bytes]:
    """What a datasketch user writes: tokenise, join word n-grams, encode each shingle."""
    words = WORD.findall(normalize(text))
    if len(words) < n:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]


def bench_signatures(runs: int) -> dict:
    import xxhash
    from datasketch import MinHash

    docs = real_docs()
    mb = sum(len(d.encode()) for d in docs) / 1e6
    hasher = MinHasher()
    hasher.signatures(docs[:3])  # warm-up: permutation tables, code-point table

    def ours():
        return hasher.signatures(docs, ["en"] * len(docs))

    def ds_batch_xxh32():
        for d in docs:
            m = MinHash(128, 1, hashfunc=xxhash.xxh32_intdigest)
            m.update_batch(python_shingles(d))

    sha1_docs = docs[: max(20, len(docs) // 8)]
    sha1_mb = sum(len(d.encode()) for d in sha1_docs) / 1e6

    def ds_update_sha1():
        for d in sha1_docs:
            m = MinHash(128, 1)
            for s in python_shingles(d):
                m.update(s)

    def timed(fn):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    t_ours = timed(ours)
    t_batch = timed(ds_batch_xxh32)
    t_sha1 = timed(ds_update_sha1)
    # equality on equal shingle hash values
    sigs = ours()
    equal = 0
    for i, d in enumerate(docs):
        m = MinHash(128, 1, hashfunc=lambda x: x)
        hv = hasher.shingle_hashes(d, "en")
        if hv.size:
            m.update_batch(hv.tolist())
        equal += bool(np.array_equal(m.hashvalues, sigs[i]))
    return {
        "docs": len(docs),
        "mb": mb,
        "ours": {"docs_s": len(docs) / t_ours, "mb_s": mb / t_ours},
        "ds_batch_xxh32": {"docs_s": len(docs) / t_batch, "mb_s": mb / t_batch},
        "ds_update_sha1": {"docs_s": len(sha1_docs) / t_sha1, "mb_s": sha1_mb / t_sha1, "docs": len(sha1_docs)},
        "equal": equal,
    }


# --- 2. end to end ---------------------------------------------------------------------------
def e2e_child(n: int, mode: str) -> dict:
    """Runs in a subprocess: one DedupStage pipeline over n docs; prints JSON figures."""
    import apache_beam as beam

    from pipeline.config import load_config
    from pipeline.runners import local_pipeline
    from pipeline.runtime import tune_process
    from pipeline.stages.dedup import DedupStage

    tune_process()  # as `curate run` does before its pipeline (malloc arenas, GC thresholds)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    size = 512
    data_mb = sum(len(make_doc(i, n)[0].encode()) for i in range(n)) / 1e6
    cfg = load_config()
    args = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"] if mode == "multi" else []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    with local_pipeline(*args) as p:
        batches = (
            p
            | beam.Create(list(range((n + size - 1) // size)))
            | "generate" >> beam.Map(make_batch, n, size)
        )
        out = batches | DedupStage(cfg, "bench")
        _ = out.kept | "k" >> beam.Map(len) | "ks" >> beam.CombineGlobally(sum)
        _ = out.decisions | "d" >> beam.combiners.Count.Globally()
        _ = out.signatures | "s" >> beam.combiners.Count.Globally()
    wall = time.perf_counter() - t
    return {
        "n": n,
        "mode": mode,
        "data_mb": data_mb,
        "wall_s": wall,
        "docs_s": n / wall,
        "driver_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "driver_before_mb": rss_before,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if mode == "multi" else None,
    }


def run_e2e(n: int, mode: str, beam_as_shipped: bool = False) -> dict:
    """One fresh subprocess; ``beam_as_shipped`` turns pipeline.beam_memory's patches off."""
    env = dict(os.environ)
    if beam_as_shipped:
        env["CURATE_NO_BEAM_PATCHES"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, "--e2e-child", str(n), mode],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["beam_as_shipped"] = beam_as_shipped
    return row


# --- report ----------------------------------------------------------------------------------
def memory_notes(e2e: list[dict], multi: list[dict], shipped: list[dict]) -> list[str]:
    """How peak memory grows with the corpus, computed from the rows (smallest → largest size)."""
    lo, hi = e2e[0], e2e[-1]
    docs_k = (hi["n"] - lo["n"]) / 1000
    grow = (hi["driver_peak_mb"] - lo["driver_peak_mb"]) / docs_k
    data = (hi["data_mb"] - lo["data_mb"]) / docs_k
    out = [
        "Notes on memory (computed from the rows above). Time is near-linear in the number of documents "
        f"(docs/s). In one process, peak RSS grows by {grow:.1f} MB per 1,000 documents between "
        f"{lo['n']:,} and {hi['n']:,} documents, against {data:.1f} MB of input text per 1,000 "
        f"documents ({grow / data:.1f}x the text). The records themselves never cross a shuffle: each "
        "batch waits in a held file under the staging folder until its verdicts are known, and the "
        "runner's shuffle carries light tuples only (doc id, 128-value signature, band keys, held-file "
        "name, verdicts), so the growth left is those tuples buffered by the in-memory runner between "
        "stages.",
    ]
    if len(multi) >= 3:
        a, b, c = multi[0], multi[-2], multi[-1]

        def per_k(x: dict, y: dict) -> float:  # MB per 1,000 more documents
            return (y["worker_peak_mb"] - x["worker_peak_mb"]) / ((y["n"] - x["n"]) / 1000)

        text = (
            f"With 2 SDK worker processes the largest worker's peak goes from {a['worker_peak_mb']:.0f} MB at "
            f"{a['n']:,} documents to {b['worker_peak_mb']:.0f} MB at {b['n']:,} and {c['worker_peak_mb']:.0f} MB at "
            f"{c['n']:,}: {per_k(b, c):.2f} MB per 1,000 documents over the last doubling, "
            f"against {per_k(a, b):.2f} over the sizes before it: it levels off, not in proportion to the "
            "documents a worker handles."
        )
        if len(shipped) >= 2:
            x, y = shipped[-2], shipped[-1]
            text += (
                f" With Beam as shipped the same worker grows {per_k(x, y):.2f} MB per 1,000 documents between "
                f"{x['n']:,} ({x['worker_peak_mb']:.0f} MB) and {y['n']:,} ({y['worker_peak_mb']:.0f} MB)."
            )
        out.append(text)
        out.append(
            "What grew, found with memray (a worker's live allocations at its peak): (1) each bundle's output "
            "buffers to the runner — flushed at 10 MB but kept, up to 16 MB each, by the idle cached bundle "
            "processor of every finished stage: 54 buffers, 113 MB, at 200,000 documents; (2) the local runner "
            "sending a bundle's whole input as one data message, held twice by the worker (gRPC message and "
            "bytes): 2 x 61 MB at 200,000 documents. `pipeline/beam_memory.py` frees (1) when a bundle closes "
            "its outputs and cuts (2) into element-aligned messages of about 4 MB; both keep the same elements "
            "in the same order (tests/unit/test_beam_memory.py). What is left at the peak is Beam's bounded "
            "data-plane queues (at most 5 received messages, 100 MB to send) and gRPC's buffers, which fill up "
            "as bundles grow and then stay. glibc's malloc arenas are capped as well "
            "(`pipeline.runtime.limit_malloc_arenas`). The runner process is the local runner's shuffle: it holds "
            "every PCollection between stages, so it grows with the data; a distributed runner's shuffle lives "
            "outside its workers (not measured here: no Dataflow, Spark or Flink on this machine)."
        )
    return out


# --- stage CPU on benchmarks/corpus.py -------------------------------------------------------------
def corpus_records(corpus: str, n: int = 10_000) -> list[dict]:
    """Records of a benchmarks/corpus.py corpus, ``lang`` taken from the source label (``pkg/lang:...``)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus as corpus_module

    from pipeline.records import new_record

    records = []
    with open(corpus_module.build(n, corpus=corpus), encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            doc = json.loads(line)
            record = new_record(source_uri="corpus.jsonl", record_index=i, text=doc["text"])
            label = doc["source"].split(":")[0].split("/")
            record["lang"] = label[1] if len(label) > 1 else "en"
            records.append(record)
    return records


def core_cpu(records: list[dict]) -> float:
    """CPU seconds of what ``_Prepare`` computes for every batch of 512, held file aside."""
    from pipeline.minhash import band_keys, exact_key_of_normalized, optimal_bands

    hasher, bands = MinHasher(), optimal_bands(0.8, 128)
    t0 = time.process_time()
    for lo in range(0, len(records), 512):
        batch = records[lo : lo + 512]
        norms = [normalize(r["text"]) for r in batch]
        sigs = hasher.signatures_of_normalized(norms, [r["lang"] for r in batch])
        keys = band_keys(sigs, *bands)
        for i, norm in enumerate(norms):
            exact_key_of_normalized(norm), sigs[i].tobytes(), keys[i].tobytes()
    return time.process_time() - t0


def stage_cpu(records: list[dict], work: Path) -> float:
    """CPU seconds of a pipeline: batches of 512 → DedupStage → counts (graph construction included)."""
    import pickle

    import apache_beam as beam

    from pipeline.config import load_config
    from pipeline.runners import local_pipeline
    from pipeline.stages.dedup import DedupStage

    paths = []
    for j, lo in enumerate(range(0, len(records), 512)):
        paths.append(str(work / f"batch{j}.pkl"))
        with open(paths[-1], "wb") as fh:
            pickle.dump(records[lo : lo + 512], fh)

    def load(path):
        with open(path, "rb") as fh:
            return pickle.load(fh)

    t0 = time.process_time()
    with local_pipeline() as p:
        out = p | beam.Create(paths, reshuffle=False) | beam.Map(load) | DedupStage(load_config(), "bench", staging=str(work))
        out.kept | "kept" >> beam.Map(len) | "kept:sum" >> beam.CombineGlobally(sum)
        out.decisions | "dropped" >> beam.Map(lambda _: 1) | "dropped:sum" >> beam.CombineGlobally(sum)
    return time.process_time() - t0


def run_stage_cpu(runs: int = 3) -> None:
    import tempfile

    for corpus in ("multilingual", "english"):
        records = corpus_records(corpus)
        per10k = 10_000 / len(records)
        core = [core_cpu(records) * per10k for _ in range(runs)]
        stage = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                stage.append(stage_cpu(records, Path(tmp)) * per10k)
        for name, xs in (("core", core), ("DedupStage", stage)):
            print(f"{corpus:12s} {name:10s} CPU s per 10k docs: median {statistics.median(xs):.2f} "
                  f"(range {min(xs):.2f}-{max(xs):.2f}, {runs} runs)", flush=True)


# --- the dedup phase of `curate run` ---------------------------------------------------------------
def _phase_run(path: Path, work: Path, tag: str, enabled: list[str], workers: int, baseline: Path | None) -> dict:
    import shutil

    import bench_e2e
    from bench_stages_off import _cpu_measure

    cfg = work / f"config-{'-'.join(enabled) or 'off'}.yaml"
    cfg.write_text(bench_e2e.config_yaml(enabled), encoding="utf-8")
    out = work / f"out-{tag}"
    args = ["run", "--input", str(path), "--output", str(out), "--config", str(cfg), "--overwrite", "--quiet"]
    env = dict(os.environ)
    if workers > 1:
        args += ["--profile", "local-mp"]
        env["CURATE_WORKERS"] = str(workers)
    tree = str(baseline or ROOT)
    # sys.path[0] must be the measured tree, whichever checkout runs this script
    boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import pipeline, pipeline.cli; "
            "assert pipeline.__file__.startswith(sys.path[0]), pipeline.__file__; sys.argv[0] = 'curate'; "
            "sys.exit(pipeline.cli.main())")
    res = _cpu_measure([sys.executable, "-c", boot, tree, *args], env=env)
    if res["rc"] != 0:
        raise RuntimeError(f"curate run ({tag}) failed: {res['stderr'][-1500:]}")
    summary = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["summary"]
    res["kept"] = summary.get("records_kept", summary.get("records_out"))
    shutil.rmtree(out, ignore_errors=True)
    return res


def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def run_phase(docs: list[int], corpora: list[str], workers: list[int], repeat: int, baseline_ref: str | None) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus as corpus_module
    from bench_stages_off import export_baseline

    # a folder is taken as an exported tree (its pipeline/ and rules/), anything else as a git ref
    baseline = (Path(baseline_ref) if Path(baseline_ref).is_dir() else export_baseline(baseline_ref)) if baseline_ref else None
    print("| corpus | docs | workers | what | CPU s | wall s | largest process peak RSS MB |", flush=True)
    print("|---|---:|---:|---|---:|---:|---:|", flush=True)
    for name in corpora:
        for n in docs:
            path = corpus_module.build(n, corpus=name)
            work = corpus_module.WORK / f"dedup-phase-{name}-{n}"
            work.mkdir(parents=True, exist_ok=True)
            for w in workers:
                runs: dict[str, list[dict]] = {"stages off": [], "dedup on (this tree)": []}
                if baseline:
                    runs[f"dedup on ({baseline_ref})"] = []
                for _ in range(repeat):
                    runs["stages off"].append(_phase_run(path, work, "off", [], w, None))
                    runs["dedup on (this tree)"].append(_phase_run(path, work, "ours", ["dedup"], w, None))
                    if baseline:
                        runs[f"dedup on ({baseline_ref})"].append(_phase_run(path, work, "base", ["dedup"], w, baseline))
                kept = {tag: {r["kept"] for r in rs} for tag, rs in runs.items() if tag != "stages off"}
                assert len(set.union(*kept.values())) == 1, f"kept counts differ: {kept}"
                for tag, rs in runs.items():
                    print(f"| {name} | {n:,} | {w} | {tag} | {_med([r['cpu'] for r in rs])} | {_med([r['wall'] for r in rs])} "
                          f"| {statistics.median(r['peak_proc_mb'] for r in rs):.0f} |", flush=True)


def count_fused_stages(n: int = 2000) -> None:
    """Fused stages and bundles the local runner runs for DedupStage alone, one-step vs rounds."""
    import tempfile

    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    from pipeline.config import load_config
    from pipeline.runners import local_pipeline
    from pipeline.stages.dedup import DedupStage

    counts = {"stages": 0, "bundles": 0}
    run_stages, run_bundle = fn_runner.FnApiRunner.run_stages, fn_runner.FnApiRunner._run_bundle

    def counting_run_stages(self, context, stages):
        counts["stages"] += len(stages)
        return run_stages(self, context, stages)

    def counting_run_bundle(self, *a, **k):
        counts["bundles"] += 1
        return run_bundle(self, *a, **k)

    fn_runner.FnApiRunner.run_stages, fn_runner.FnApiRunner._run_bundle = counting_run_stages, counting_run_bundle
    batches = [make_batch(b, n, 500) for b in range(n // 500)]
    # the first pipeline of a process pays imports and JIT compilation: a warm-up run first
    for label, max_nodes in (("warm-up", None), ("one step", None), ("rounds (before)", 0), ("one step", None)):
        counts.update(stages=0, bundles=0)
        overrides = {} if max_nodes is None else {"dedup": {"one_step_max_nodes": max_nodes}}
        t0 = time.process_time()
        with tempfile.TemporaryDirectory() as tmp, local_pipeline() as p:
            out = p | beam.Create(batches, reshuffle=False) | DedupStage(load_config(overrides=overrides), "bench", staging=tmp)
            out.kept | "kept" >> beam.Map(len) | "kept:sum" >> beam.CombineGlobally(sum)
        print(f"{label}: {counts['stages']} fused stages, {counts['bundles']} bundles, "
              f"{time.process_time() - t0:.2f} CPU s ({n:,} documents, one process)", flush=True)


def machine() -> str:
    import apache_beam
    import datasketch
    import xxhash

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, apache-beam {apache_beam.__version__}, datasketch {datasketch.__version__}, "
        f"xxhash {xxhash.VERSION}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--e2e-child", nargs=2)
    ap.add_argument("--stage-cpu", action="store_true", help="CPU per 10k docs of benchmarks/corpus.py's corpora")
    ap.add_argument("--phase", action="store_true", help="the dedup phase of curate run, before -> after")
    ap.add_argument("--docs", type=int, nargs="+", default=[10_000])
    ap.add_argument("--corpus", nargs="+", default=["multilingual"], choices=["multilingual", "english"])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", help="git ref whose pipeline/ runs as the 'before'")
    ap.add_argument("--fused-stages", action="store_true", help="count DedupStage's fused stages and bundles")
    args = ap.parse_args()
    if args.fused_stages:
        count_fused_stages()
        return
    if args.phase:
        run_phase(args.docs, args.corpus, args.workers, args.repeat, args.baseline)
        return
    if args.stage_cpu:
        run_stage_cpu()
        return
    if args.e2e_child:
        print(json.dumps(e2e_child(int(args.e2e_child[0]), args.e2e_child[1])))
        return

    runs = 1 if args.quick else 3
    sizes = [2000, 5000] if args.quick else [10_000, 50_000, 100_000]
    sig = bench_signatures(runs)
    print(json.dumps(sig, indent=1), flush=True)
    e2e = []
    for n in sizes:
        e2e.append(run_e2e(n, "in_memory"))
        print(json.dumps(e2e[-1]), flush=True)
    multi_sizes = [2000, 5000] if args.quick else [10_000, 50_000, 100_000, 200_000, 400_000, 800_000]
    shipped_sizes = [2000, 5000] if args.quick else [50_000, 200_000]  # Beam as shipped, to compare
    multi, shipped = [], []
    for n in multi_sizes:
        multi.append(run_e2e(n, "multi"))
        print(json.dumps(multi[-1]), flush=True)
    for n in shipped_sizes:
        shipped.append(run_e2e(n, "multi", beam_as_shipped=True))
        print(json.dumps(shipped[-1]), flush=True)

    o, b, s = sig["ours"], sig["ds_batch_xxh32"], sig["ds_update_sha1"]
    lines = [
        "# Dedup benchmarks",
        "",
        f"Machine: {machine()}.",
        f"Run: `.venv/bin/python benchmarks/bench_dedup.py{' --quick' if args.quick else ''}`; median of {runs} runs for signatures.",
        "",
        "## MinHash signatures, one core (num_perm 128, word 5-grams, same documents)",
        "",
        f"{sig['docs']} real documents from /usr/share/doc ({sig['mb']:.1f} MB); the sha1 baseline on the first {s['docs']} of them.",
        "",
        "| method | docs/s | MB/s | speed-up of ours |",
        "|---|---:|---:|---:|",
        f"| ours: `MinHasher.signatures` (NumPy shingle hashing, affine32) | {o['docs_s']:,.0f} | {o['mb_s']:.1f} | 1x |",
        f"| datasketch `update_batch`, xxh32 | {b['docs_s']:,.0f} | {b['mb_s']:.1f} | {o['mb_s'] / b['mb_s']:.1f}x |",
        f"| datasketch `update()` per shingle, sha1 | {s['docs_s']:,.0f} | {s['mb_s']:.2f} | {o['mb_s'] / s['mb_s']:.1f}x |",
        "",
        f"Equality: datasketch `update_batch` fed our shingle hash values gives our signature for "
        f"{sig['equal']} / {sig['docs']} documents.",
        "",
        "## End-to-end `DedupStage` on the local runner (FnApiRunner, one process)",
        "",
        "Synthetic documents (80–300 words, 1 in 5 Korean) from real vocabularies, generated inside the pipeline (included in the wall time); 10% exact and 10% near duplicates. "
        "Peak RSS is the whole process: the in-memory runner itself holds every PCollection between stages.",
        "",
        "| docs | input MB | wall s | docs/s | peak RSS MB | RSS before run MB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in e2e:
        lines.append(
            f"| {r['n']:,} | {r['data_mb']:.0f} | {r['wall_s']:.1f} | {r['docs_s']:,.0f} | {r['driver_peak_mb']:.0f} | {r['driver_before_mb']:.0f} |"
        )
    lines += [
        "",
        "### Per-worker memory (`--direct_running_mode=multi_processing --direct_num_workers=2`)",
        "",
        "Each worker gets half of the documents. \"Beam as shipped\" is the same run with "
        "`CURATE_NO_BEAM_PATCHES=1` (pipeline/beam_memory.py off).",
        "",
        "| docs | wall s | docs/s | runner (driver) peak RSS MB | largest SDK worker peak RSS MB "
        "| Beam as shipped: wall s | runner MB | largest worker MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_n = {r["n"]: r for r in shipped}
    for r in multi:
        a = by_n.get(r["n"])
        as_shipped = (
            f"{a['wall_s']:.1f} | {a['driver_peak_mb']:.0f} | {a['worker_peak_mb']:.0f}" if a else "| |"
        )
        lines.append(
            f"| {r['n']:,} | {r['wall_s']:.1f} | {r['docs_s']:,.0f} | {r['driver_peak_mb']:.0f} "
            f"| {r['worker_peak_mb']:.0f} | {as_shipped} |"
        )
    for paragraph in memory_notes(e2e, multi, shipped):
        lines += ["", paragraph]
    lines.append("")
    out = ROOT / "benchmarks" / "results" / "dedup.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
