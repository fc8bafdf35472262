"""datatrove doing the work `curate run` does, for the side-by-side in benchmarks/RESULTS.md.

Runs in its own venv (``make bench-setup`` → ``.venv-datatrove``; datatrove pinned there) and is
driven by ``benchmarks/run_all.py``; it does not import ``pipeline``. By hand:

    .venv-datatrove/bin/python benchmarks/datatrove_bench.py --input DIR --work DIR \\
        --lid /path/to/lid.176.ftz --bands 9 --rows 13 --workers 2 --mode default --result r.json

The pipeline, built the way datatrove's README and ``examples/minhash_deduplication.py`` build it
(LocalPipelineExecutor; the filtering stage writes its output, the four MinHash stages read it):

1. ``JsonlReader`` → ``LanguageFilter`` (fasttext ft176 backend, pointed at the SAME lid.176.ftz
   file our langid stage uses; threshold 0 and no language list, like our default ``allowed: ["*"]``)
   → ``PIIFormatter`` (e-mails and public IPs) → ``JsonlWriter`` (the filtered data) →
   ``MinhashDedupSignature`` (MinHash stage 1);
2. ``MinhashDedupBuckets`` (stage 2, one task per band);
3. ``MinhashDedupCluster`` (stage 3);
4. ``JsonlReader`` (filtered data) → ``MinhashDedupFilter`` (stage 4) → ``ParquetWriter`` (zstd).

MinHash settings match ours: 5-word shingles, ``bands × rows`` from our ``optimal_bands(0.8, 128)``
(9 × 13 = 117 hash functions, the ones LSH uses of our 128), xxhash.

Modes:
* ``default`` — as the docs recommend: the English word tokenizer datatrove assigns by default
  (spaCy ``blank("en")``), 64-bit hashes, gzip-compressed intermediate JSONL (the writer default);
* ``fast`` — its fastest setting that still does the same work: a whitespace ``str.split`` word
  tokenizer passed in as a ``WordTokenizer``, 32-bit hashes, uncompressed intermediate JSONL.

The result JSON has the wall time of each executor run, datatrove's own per-step timings (summed over
tasks, i.e. one-core seconds) from its stats, document counts, and the duplicate clusters it found
(as lists of input ``id``s, recovered from its .dups files after the timed part).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import struct
import sys
import time
from importlib.metadata import version

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
from datatrove.pipeline.filters import LanguageFilter
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FT176LID
from datatrove.utils.word_tokenizers import WordTokenizer


class LocalFT176(FT176LID):
    """datatrove's ft176 backend, loading a local model file instead of downloading lid.176.bin."""

    def __init__(self, path: str, languages=None):
        super().__init__(languages)
        self.path = path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.path)
        return self._model


class SplitTokenizer(WordTokenizer):
    """The cheapest word tokenizer: ``str.split`` (what 'fast' mode plugs in)."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return text.split("\n")

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError


def _stats(logging_dir: str) -> list[dict]:
    with open(os.path.join(logging_dir, "stats.json")) as fh:
        data = json.load(fh)
    out = []
    for step in data:
        ts = step.get("time_stats", {})
        out.append({"name": step.get("name"), "seconds": ts.get("total", 0.0), "stats": step.get("stats", {})})
    return out


def _clusters_from_dups(dups_dir: str, filtered_dir: str, tasks: int) -> list[list[str]]:
    """Union the (file, doc) pairs of the .dups files; map (rank, index) to the input id."""
    ids: dict[tuple[int, int], str] = {}
    for rank in range(tasks):
        paths = sorted(glob.glob(os.path.join(filtered_dir, f"{rank:05d}.jsonl*")))
        for path in paths:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    ids[(rank, i)] = json.loads(line)["id"]
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for path in glob.glob(os.path.join(dups_dir, "*.dups")):
        with open(path, "rb") as fh:
            data = fh.read()
        for f1, d1, f2, d2 in struct.iter_unpack("<4I", data):
            a, b = find((f1, d1)), find((f2, d2))
            if a != b:
                parent[a] = b
    groups: dict = {}
    for node in list(parent):
        groups.setdefault(find(node), []).append(ids.get(node, f"?{node}"))
    return [sorted(g) for g in groups.values() if len(g) > 1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="folder of input JSONL files (one per task)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--lid", required=True, help="fasttext language-ID model (our lid.176.ftz)")
    ap.add_argument("--bands", type=int, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--mode", choices=["default", "fast"], default="default")
    ap.add_argument("--result", required=True)
    args = ap.parse_args(argv)

    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    W = lambda *p: os.path.join(args.work, *p)  # noqa: E731
    files = sorted(f for f in os.listdir(args.input) if f.endswith(".jsonl"))
    tasks = len(files)
    fast = args.mode == "fast"
    cfg = MinhashConfig(
        n_grams=args.ngram,
        num_buckets=args.bands,
        hashes_per_bucket=args.rows,
        hash_config=HashConfig(precision=32 if fast else 64, hash_fc="xxhash"),
    )
    tokenizer = SplitTokenizer() if fast else "en"
    lang_filter = LanguageFilter(languages=None, language_threshold=0.0)
    lang_filter.model = LocalFT176(args.lid)
    common = dict(workers=args.workers, start_method="fork", skip_completed=False)

    stage1 = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(args.input, glob_pattern="*.jsonl", text_key="text", id_key="id"),
            lang_filter,
            PIIFormatter(),
            JsonlWriter(W("filtered"), compression=None if fast else "gzip"),
            MinhashDedupSignature(output_folder=W("signatures"), config=cfg, language=tokenizer),
        ],
        tasks=tasks, logging_dir=W("logs", "1"), **common,
    )
    stage2 = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=W("signatures"), output_folder=W("buckets"), config=cfg)],
        tasks=cfg.num_buckets, logging_dir=W("logs", "2"), **common,
    )
    stage3 = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=W("buckets"), output_folder=W("remove_ids"), config=cfg)],
        tasks=1, logging_dir=W("logs", "3"), **{**common, "workers": 1},
    )
    stage4 = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(W("filtered"), text_key="text", id_key="id"),
            MinhashDedupFilter(input_folder=W("remove_ids")),
            ParquetWriter(W("output"), compression="zstd"),
        ],
        tasks=tasks, logging_dir=W("logs", "4"), **common,
    )
    walls = {}
    t_all = time.perf_counter()
    for name, ex in (("stage1", stage1), ("stage2", stage2), ("stage3", stage3), ("stage4", stage4)):
        t0 = time.perf_counter()
        ex.run()
        walls[name] = time.perf_counter() - t0
    total = time.perf_counter() - t_all

    steps = {k: _stats(W("logs", k[-1])) for k in walls}
    clusters = _clusters_from_dups(W("buckets"), W("filtered"), tasks)
    kept = 0
    import pyarrow.parquet as pq

    for path in glob.glob(W("output", "*.parquet")):
        kept += pq.ParquetFile(path).metadata.num_rows
    result = {
        "mode": args.mode,
        "workers": args.workers,
        "tasks": tasks,
        "datatrove": version("datatrove"),
        "wall_seconds": total,
        "stage_walls": walls,
        "steps": steps,
        "kept": kept,
        "clusters": clusters,
        "tokenizer": "str.split" if fast else "spaCy blank('en') (datatrove default for English)",
        "hash_precision": cfg.hash_config.precision,
        "bands": cfg.num_buckets,
        "rows": cfg.hashes_per_bucket,
    }
    with open(args.result, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
