"""The dedup stage's Beam data flow (held files, verdicts routed by file, candidates' signatures read
from their batch's file) decides exactly what a plain sequential dedup decides on the labelled
near-duplicate set (real text, many held batches): every exact group, every pair sharing an LSH
bucket checked by estimated Jaccard, clusters by union-find, the smallest doc_id representing."""
from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from pipeline.minhash import MinHasher, band_keys, exact_key, optimal_bands

sys.path.insert(0, str(Path(__file__).parent))
from dedup_corpus import labelled_set  # noqa: E402
from test_dedup_beam import _cfg, _records, run_dedup  # noqa: E402


def sequential_dedup(records, threshold: float, num_perm: int = 128):
    """→ (kept {doc_id: dup_cluster}, drops {doc_id: (reason, dup_of)}), one document at a time."""
    groups: dict[str, list[str]] = {}
    for r in records:
        groups.setdefault(exact_key(r["text"]), []).append(r["doc_id"])
    drops, exact_group = {}, set()
    survivors = set()
    for ids in groups.values():
        survivor = min(ids)
        survivors.add(survivor)
        if len(ids) > 1:
            exact_group.add(survivor)
        drops.update({i: ("exact_duplicate", survivor) for i in ids if i != survivor})

    hasher = MinHasher(num_perm=num_perm)
    bands, rows = optimal_bands(threshold, num_perm)
    sig = {r["doc_id"]: hasher.signature(r["text"], r["lang"]) for r in records if r["doc_id"] in survivors}
    sig = {d: s for d, s in sig.items() if not (s == hasher.empty_value).all()}  # no shingles: never near
    buckets: dict[tuple, list[str]] = {}
    for d, s in sig.items():
        for band, key in enumerate(band_keys(s[None, :], bands, rows)[0].tolist()):
            buckets.setdefault((band, key), []).append(d)
    parent = {d: d for d in sig}

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for members in buckets.values():
        for a, b in combinations(members, 2):
            if np.count_nonzero(sig[a] == sig[b]) / num_perm >= threshold:
                ra, rb = root(a), root(b)
                parent[max(ra, rb)] = min(ra, rb)
    clusters: dict[str, list[str]] = {}
    for d in sig:
        clusters.setdefault(root(d), []).append(d)
    rep = {d: min(members) for members in clusters.values() if len(members) > 1 for d in members}
    drops.update({d: ("near_duplicate", r) for d, r in rep.items() if d != r})
    kept = {
        d: rep.get(d, d if d in exact_group else None)
        for d in sorted(survivors) if d not in drops
    }
    return kept, drops


@pytest.mark.parametrize("seed", [None, 5])
def test_beam_dedup_decides_as_the_sequential_reference(tmp_path, seed):
    docs, _en, _ko = labelled_set()
    records = _records([(text, lang) for text, lang, _ in docs])
    assert len(records) > 200  # many held batches of 16
    want_kept, want_drops = sequential_dedup(records, 0.8)
    assert sum(r == "near_duplicate" for r, _ in want_drops.values()) > 20  # the near path is exercised
    assert sum(r == "exact_duplicate" for r, _ in want_drops.values()) > 5

    kept, decisions, signatures = run_dedup(tmp_path, [dict(r) for r in records], _cfg(threshold=0.8), seed=seed)
    assert {k[0]: k[1] for k in kept} == want_kept
    assert {d["doc_id"]: (d["reason"], d["dup_of"]) for d in decisions} == want_drops
    assert [s["doc_id"] for s in signatures] == sorted(want_kept)
