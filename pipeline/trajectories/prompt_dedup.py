"""Near-duplicate prompts (``near_duplicate_prompt``), collapsed over the whole run before any
teacher call.

Identical prompts (normalised) are grouped by exact hash (GroupByKey); near-identical groups by
MinHash signatures (pipeline.minhash, the dedup stage's shingles and num_perm) on LSH band keys.
Within a bucket, a prompt whose estimated Jaccard with a smaller-id prompt reaches the threshold is
dropped (``dup_of`` = the first such prompt) — the pair check of :mod:`pipeline.minhash.pairs`,
shared with the dedup stage. Replay lines sharing one prompt are samples of the same prompt
(``n``) and stay together.
"""
from __future__ import annotations

import hashlib
import unicodedata

import apache_beam as beam
from apache_beam import pvalue

from pipeline.beam_outputs import StageOutputs
from pipeline.minhash.pairs import earlier_similar, stack_signatures
from pipeline.records import DROP
from pipeline.trajectories.rows import DECISIONS, candidate_row

NEAR_DUPLICATE_PROMPT = "near_duplicate_prompt"
SIGNATURE_DTYPE = "uint32"  # affine32 signatures (pipeline.minhash.SCHEME)


def prompt_hash(prompt: str) -> str:
    norm = " ".join(unicodedata.normalize("NFKC", prompt).casefold().split())
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=16).hexdigest()


def near_settings(config) -> tuple[float, bool]:
    """(threshold, enabled) of ``near_duplicate_prompt`` in ``rules/trajectories/checks.yaml``."""
    from pipeline.trajectories.checks import load_checks

    rules = load_checks(config.rule_file("trajectories/checks.yaml")).get("near_duplicate_prompt", {})
    return float(rules.get("threshold", 0.8)), bool(rules.get("enabled", True))


class _ExactPromptFn(beam.DoFn):
    """Items sharing one prompt (normalised) → one group; duplicate *prompts* (not replay samples) drop."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, element):
        phash, items = element
        items = sorted(items, key=lambda it: (str(it.get("sample_id") or it["prompt_id"]), it["_key"]))
        keep = []
        rep = items[0]
        for it in items:
            if "completion" in it or it is rep:
                keep.append(it)
            else:
                yield pvalue.TaggedOutput(
                    DECISIONS,
                    candidate_row(it, run_id=self._run_id, action=DROP, reason=NEAR_DUPLICATE_PROMPT, detail={"exact": True}, dup_of=rep["prompt_id"]),
                )
        yield {"hash": phash, "rep": str(rep["prompt_id"]), "prompt": rep["prompt"], "lang": rep.get("lang"), "items": keep}


class _BandKeysFn(beam.DoFn):
    def __init__(self, config, threshold: float) -> None:
        self._config = config
        self._threshold = threshold

    def setup(self) -> None:
        from pipeline.minhash.lsh import optimal_bands
        from pipeline.minhash.minhash import MinHasher

        self._hasher = MinHasher.from_config(self._config.dedup)
        self._bands, self._rows = optimal_bands(self._threshold, self._hasher.num_perm)

    def process(self, group):
        import numpy as np

        from pipeline.minhash.lsh import band_keys

        sig = self._hasher.signature(group["prompt"], group.get("lang"))
        keys = band_keys(sig[None, :], self._bands, self._rows)[0]
        payload = ((group["rep"], group["hash"]), np.asarray(sig).tobytes())
        for b, k in enumerate(keys.tolist()):
            yield f"{b}:{k:x}", payload


def bucket_losers(members, threshold: float, dtype: str = SIGNATURE_DTYPE):
    """One LSH bucket's ``((rep id, prompt hash), signature bytes)`` members → ``(loser hash, winner
    rep id)``: each member (in sorted order) loses to the first earlier member similar to it."""
    members = sorted(set(members))
    if len(members) < 2:
        return
    sigs = stack_signatures((sig for _, sig in members), dtype)
    for j, similar in earlier_similar(sigs, threshold):
        yield members[j][0][1], members[int(similar[0])][0][0]


class _CollapseFn(beam.DoFn):
    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, element):
        _hash, grouped = element
        winners = sorted(set(grouped["loses_to"]))
        for group in grouped["group"]:
            if winners:
                for it in group["items"]:
                    yield pvalue.TaggedOutput(
                        DECISIONS,
                        candidate_row(it, run_id=self._run_id, action=DROP, reason=NEAR_DUPLICATE_PROMPT, detail={"exact": False}, dup_of=winners[0]),
                    )
            else:
                yield from group["items"]


class CollapseDuplicatePrompts(beam.PTransform):
    """Prompt items → ``.prompts`` (one per distinct prompt; every replay sample of it) and
    ``.decisions`` (``near_duplicate_prompt``)."""

    def __init__(self, config, run_id: str) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id

    def expand(self, items):
        run_id = self._run_id
        grouped = (
            items
            | "by-prompt" >> beam.Map(lambda it: (prompt_hash(it["prompt"]), it))
            | "group-prompt" >> beam.GroupByKey()
            | "exact" >> beam.ParDo(_ExactPromptFn(run_id)).with_outputs(DECISIONS, main="groups")
        )
        groups = grouped.groups
        threshold, near_on = near_settings(self._config)
        if not near_on:
            unique = groups | "ungroup" >> beam.FlatMap(lambda g: g["items"])
            return StageOutputs(prompts=unique, decisions=grouped[DECISIONS])
        losers = (
            groups
            | "bands" >> beam.ParDo(_BandKeysFn(self._config, threshold))
            | "group-bands" >> beam.GroupByKey()
            | "losers" >> beam.FlatMap(lambda kv: bucket_losers(kv[1], threshold))
        )
        collapsed = (
            {"group": groups | "key-groups" >> beam.Map(lambda g: (g["hash"], g)), "loses_to": losers}
            | "join-losers" >> beam.CoGroupByKey()
            | "collapse" >> beam.ParDo(_CollapseFn(run_id)).with_outputs(DECISIONS, main="items")
        )
        decisions = (grouped[DECISIONS], collapsed[DECISIONS]) | "decisions" >> beam.Flatten()
        return StageOutputs(prompts=collapsed.items, decisions=decisions)
