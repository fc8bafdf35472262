"""The compiled affine32 permute-and-min kernel (pipeline/minhash/kernels.py) against the NumPy path
it replaces (``MinHasher._permute_min_numpy``: the outer product and ``np.minimum.reduceat``) and
datasketch's own ``MinHash`` (on random hashes; ``tests/unit/test_minhash.py`` holds the NumPy path
equal to it on real text): the same uint32 values
bit for bit, on random hashes with the extreme values, on segments that do not go forward (where
``reduceat`` takes the first value alone), on other input dtypes and read-only arrays, and on the
signatures of real documents in word and character shingles."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from pipeline.minhash.minhash import MinHasher

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "langid" / "paragraphs.jsonl"


@pytest.mark.parametrize("num_perm, seed", [(128, 1), (1, 7), (7, 3), (256, 42)])
def test_random_hashes_and_segments_equal_the_numpy_path(num_perm, seed):
    rng = np.random.default_rng(seed)
    hasher = MinHasher(num_perm=num_perm, seed=seed)
    for size, segments in ((1, 1), (5, 3), (4096, 40), (9000, 1)):
        hv = rng.integers(0, 1 << 32, size, dtype=np.uint64).astype(np.uint32)
        hv[: min(size, 2)] = [0, 0xFFFFFFFF][: min(size, 2)]
        starts = np.sort(rng.choice(size, min(segments, size), replace=False)).astype(np.int64)
        starts[0] = 0
        want = hasher._permute_min_numpy(hv, starts)
        got = hasher._permute_min(hv, starts)
        assert got.dtype == want.dtype == np.uint32
        assert np.array_equal(got, want), (size, segments)
        # and datasketch's own MinHash, segment by segment (the first few)
        ends = [*starts[1:].tolist(), size]
        for k, (lo, hi) in enumerate(list(zip(starts.tolist(), ends))[:3]):
            ref = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda x: x, scheme="affine32")
            ref.update_batch([int(x) for x in hv[lo:hi]])
            assert np.array_equal(got[k], ref.hashvalues), (size, segments, k)


def test_segments_that_do_not_go_forward_take_their_first_value_as_reduceat_does():
    hasher = MinHasher(num_perm=16, seed=5)
    hv = np.array([9, 3, 7, 1, 4], dtype=np.uint32)
    for starts in ([0, 2, 2, 4], [0, 3, 1, 4], [4], [0, 0, 0], [2, 4, 4]):
        starts = np.array(starts, dtype=np.int64)
        assert np.array_equal(hasher._permute_min(hv, starts), hasher._permute_min_numpy(hv, starts)), starts


def test_other_dtypes_and_read_only_inputs_equal_the_numpy_path():
    hasher = MinHasher(num_perm=32, seed=9)
    wide = np.array([1, (1 << 32) + 5, (1 << 40) - 1, 123456789], dtype=np.uint64)  # astype(uint32) truncates
    read_only = np.arange(10, dtype=np.uint32) * np.uint32(2654435761)
    read_only.flags.writeable = False
    strided = np.arange(40, dtype=np.uint32)[::3]
    for hv in (wide, read_only, strided):
        starts = np.array([0, 1], dtype=np.intp)
        assert np.array_equal(hasher._permute_min(hv, starts), hasher._permute_min_numpy(hv, starts))
        assert np.array_equal(hasher.signature_from_hashes(hv), _numpy_signature(hasher, hv))


def _numpy_signature(hasher: MinHasher, hv: np.ndarray) -> np.ndarray:
    out = np.full(hasher.num_perm, hasher.empty_value, dtype=hasher.dtype)
    for lo in range(0, hv.size, 4096):
        np.minimum(out, hasher._permute_min_numpy(hv[lo : lo + 4096], np.zeros(1, dtype=np.intp))[0], out=out)
    return out


def test_signatures_of_real_documents_equal_the_numpy_path(monkeypatch):
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    texts = [row["text"] for row in rows] + ["\n\n".join(row["text"] for row in rows[:40]) * 30]  # one long document too
    langs = [row["lang"] for row in rows] + ["en"]
    hasher = MinHasher.from_config(__import__("pipeline.config", fromlist=["load_config"]).load_config(None).dedup)
    got = hasher.signatures(texts, langs)
    monkeypatch.setattr(MinHasher, "_permute_min", MinHasher._permute_min_numpy)
    want = hasher.signatures(texts, langs)
    assert len({lang for lang in langs}) > 5 and got.shape == (len(texts), hasher.num_perm)
    assert np.array_equal(got, want)
