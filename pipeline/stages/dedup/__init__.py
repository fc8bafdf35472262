"""Stage ``dedup``: exact and MinHash near-duplicate removal, the pipeline's first shuffle.

What it decides and why: a training corpus with many copies of one text over-weights it and leaks
evaluation data across splits. Two passes, both deterministic (the same survivors on every runner,
whatever the arrival order):

* **exact** (``dedup.exact``): the hash of the normalised text (NFKC, casefold, whitespace
  collapsed); the smallest doc_id of a group survives, the others are dropped
  ``exact_duplicate`` with ``dup_of`` = the survivor.
* **near** (``dedup.near``): datasketch-equal MinHash signatures (scheme
  :data:`pipeline.minhash.SCHEME`) of word 5-grams, or character 5-grams for ko/ja/zh/th
  (``dedup.char_shingle_langs``); LSH banding; candidate pairs verified by estimated Jaccard
  (``dedup.verify_jaccard``) ≥ ``dedup.threshold``; clusters are the connected components of the
  verified pairs (:mod:`.components`). The representative of a cluster is its smallest doc_id; the
  other members are dropped ``near_duplicate`` with ``dup_of`` = the representative.

Kept documents in a cluster of size > 1 (exact or near) get ``dup_cluster`` = the representative's
doc_id (the representative included); others get ``None``. The signatures and exact hashes of kept
documents come out on ``.signatures`` (Arrow batches of :data:`pipeline.records.SIGNATURES_SCHEMA`), so a
later run can dedup against this release: ``dedup.against`` lists earlier ``OUT/signatures``
folders or Parquet globs; a new document that duplicates a document of such a release is dropped
with ``dup_of`` = that document's doc_id and ``detail.prior_release = true``.

Records never cross a shuffle here. Each batch is held in a file under the run's staging folder
(``_dedup/<hash of its doc_ids>.pkl.zst``; its text is already PII-scrubbed), its signatures in
another (``_dedup_sigs/``), and only light tuples are grouped, packed per bundle: (node, band keys) by exact key and
by bucket — a node being the doc_id and its held file, so every verdict goes
straight to its file — the signatures of candidate pairs' members, read from their batch's file, by
bucket, and the verdicts by file. Each held batch is then read once, its verdicts applied, and its
kept records leave as one batch. Our DoFns hold one batch plus the light tuples of the keys they
group, whatever the corpus size; the runner's shuffle carries about 1 KB of light tuples per
document (the signature only for members of shared buckets) instead of the whole record (what the local runner's processes still grow by is in docs/dedup.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from pipeline.config import unit_interval
from pipeline.records import Reason
from pipeline.stages.registry import beam_half, declare_stage


def _against_paths(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        if any(ch in path for ch in "*?[") or path.endswith(".parquet"):
            out.append(path)
        else:
            out.append(path.rstrip("/") + "/*.parquet")
    return out


@dataclass
class DedupConfig:
    enabled: bool = True
    exact: bool = True
    near: bool = True
    threshold: float = 0.8
    num_perm: int = 128
    seed: int = 1
    shingle_words: int = 5  # word n-gram size for space-separated languages
    shingle_chars: int = 5  # character n-gram size for ko/ja/zh
    char_shingle_langs: list[str] = field(default_factory=lambda: ["ko", "ja", "zh", "th"])
    verify_jaccard: bool = True  # verify LSH candidate pairs by estimated Jaccard
    max_iterations: int = 32  # connected-components rounds (large+small star) before the run fails loudly
    # How clusters are found: "one_step" = union-find in one combine (fails loudly above
    # one_step_max_nodes), "rounds" = distributed large/small-star rounds (max_iterations), "auto" =
    # one_step on the local runner, rounds on distributed runners (a crawl-sized graph there never
    # meets the one-step bound after hours of work).
    components: Literal["auto", "one_step", "rounds"] = "auto"
    one_step_max_nodes: int = 2_000_000
    against: list[str] = field(default_factory=list)  # earlier OUT/signatures folders or globs to dedup against

    RANGES: ClassVar[list[tuple]] = [
        *unit_interval("threshold", open_low=True),
        # The permutations are drawn per run and held per document: bounded so a typo cannot
        # turn every signature into a memory bomb.
        ("num_perm", 2, 4096, True, True),
        ("seed", 0, 2**32 - 1, True, True),  # numpy's RandomState seed range
        ("shingle_words", 1, 64, True, True),
        ("shingle_chars", 1, 64, True, True),
        # The connected-components rounds are unrolled into the graph: bounded so the graph stays buildable.
        ("max_iterations", 1, 256, True, True),
        ("one_step_max_nodes", 1, 2**31 - 1, True, True),
    ]


declare_stage("dedup", 50, config_section="dedup", config_class=DedupConfig, reasons=[Reason.EXACT_DUPLICATE, Reason.NEAR_DUPLICATE], kind="chain", enabled_when=lambda cfg: cfg.dedup.enabled and (cfg.dedup.exact or cfg.dedup.near),
              transform="pipeline.stages.dedup.transform:DedupStage")


# The Beam half (DedupStage, held batches, DoFns) lives in .transform, imported when asked for.
__getattr__ = beam_half(__name__, None, "pipeline.stages.dedup.transform")
