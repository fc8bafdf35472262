"""Compiled (numba) posting-list walks of the license matcher (:class:`pipeline.compliance.spdx.LicenseMatcher`).

A document's common 4-grams ("the terms of the") stand in thousands of references, so a document
can have hundreds of thousands of (4-gram, reference) posting pairs. The NumPy reference path
(:func:`pipeline.compliance.spdx.count_postings_numpy` / ``select_postings_numpy``) materialises
every pair several times over; these walk the posting lists once, counting in place, and keep only
the pairs of the references that pass. Same counts and the same pairs in the same order — proven
equal by ``tests/unit/test_license_fast.py``. Workers run their ahead-of-time compiled build
(:mod:`pipeline.compiled_kernels`, no numba imported); without it, compiled here on first use and
cached on disk.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pipeline.compliance.spdx import BUCKET_SHIFT


@njit(cache=True, nogil=True)
def find_slots(uniq: np.ndarray, gram_keys: np.ndarray, bucket_starts: np.ndarray) -> np.ndarray:
    """Row of each key of ``uniq`` in the sorted ``gram_keys`` (-1: not there); ``bucket_starts[b]``
    is the first row whose key's top 16 bits are ``b``."""
    out = np.empty(len(uniq), dtype=np.int64)
    shift = np.uint64(BUCKET_SHIFT)
    for i in range(len(uniq)):
        key = uniq[i]
        b = np.int64(key >> shift)
        lo = np.int64(bucket_starts[b])
        end = np.int64(bucket_starts[b + 1])
        hi = end
        while lo < hi:
            mid = (lo + hi) >> 1
            if gram_keys[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo if lo < end and gram_keys[lo] == key else -1
    return out


@njit(cache=True, nogil=True)
def count_postings(slots: np.ndarray, starts: np.ndarray, post_refs: np.ndarray, n_refs: int) -> np.ndarray:
    """Matched 4-grams per reference: ``slots[g]`` is document 4-gram ``g``'s row in the index (-1: none)."""
    counts = np.zeros(n_refs, dtype=np.int64)
    for g in range(len(slots)):
        s = slots[g]
        if s < 0:
            continue
        for j in range(starts[s], starts[s + 1]):
            counts[post_refs[j]] += 1
    return counts


@njit(cache=True, nogil=True)
def select_postings(slots: np.ndarray, starts: np.ndarray, post_refs: np.ndarray, ok: np.ndarray,
                    counts: np.ndarray, first_pos: np.ndarray):
    """(reference, document 4-gram) of every posting pair whose reference is ``ok``, ordered by
    reference and then by the 4-gram's first position in the document: each reference's pairs go
    straight to their place (``counts`` holds how many it has), so no sort of all pairs is needed."""
    n_refs = len(ok)
    fill = np.zeros(n_refs, dtype=np.int64)
    total = 0
    for r in range(n_refs):
        if ok[r]:
            fill[r] = total
            total += counts[r]
    refs = np.empty(total, dtype=np.int64)
    grams = np.empty(total, dtype=np.int64)
    for g in np.argsort(first_pos):
        s = slots[g]
        if s < 0:
            continue
        for j in range(starts[s], starts[s + 1]):
            r = post_refs[j]
            if ok[r]:
                k = fill[r]
                refs[k] = r
                grams[k] = g
                fill[r] = k + 1
    return refs, grams


def jit_kernel(name: str):
    """The numba dispatcher of a kernel (for :mod:`pipeline.compiled_kernels`)."""
    return {"find_slots": find_slots, "count_postings": count_postings, "select_postings": select_postings}[name]
