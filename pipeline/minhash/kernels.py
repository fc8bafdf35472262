"""Compiled (numba) MinHash permutation for the ``affine32`` scheme (:mod:`pipeline.minhash.minhash`).

The NumPy path (:meth:`~pipeline.minhash.minhash.MinHasher._permute_min_numpy`) writes every
shingle's ``num_perm`` permuted values to memory and reads them back for the segmented minimum;
this keeps each segment's running minimum in a short array instead, one pass over the shingles.
Same values bit for bit (tested in ``tests/unit/test_minhash_kernel.py``). Workers run the ahead-of-time
compiled build (:mod:`pipeline.compiled_kernels`); without it, compiled here on first use.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _fmix32(h):
    """MurmurHash3's 32-bit finaliser (minhash._fmix32), in 32-bit arithmetic."""
    h = np.uint64(h)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _LOW32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _LOW32
    h ^= h >> np.uint64(16)
    return h


@njit(cache=True, nogil=True)
def permute_min_affine32(hv: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[s, p]`` = min over the shingles ``hv[starts[s] : starts[s + 1]]`` (the last segment to
    the end) of ``(a[p] * fmix32(h) + b[p]) mod 2**32`` — ``np.minimum.reduceat``'s segments,
    where a segment that does not go forward is its first value alone. The permutation loop is
    written in 32-bit values so that it runs as vector instructions."""
    n_seg, n_perm, n = len(starts), len(a), len(hv)
    low = np.empty(n_perm, dtype=np.uint32)
    for s in range(n_seg):
        lo = starts[s]
        hi = starts[s + 1] if s + 1 < n_seg else n
        if hi <= lo:
            hi = lo + 1
        low[:] = np.uint32(0xFFFFFFFF)
        for i in range(lo, hi):
            x = np.uint32(_fmix32(hv[i]))
            for p in range(n_perm):
                low[p] = min(low[p], np.uint32(a[p] * x + b[p]))
        out[s, :] = low


def jit_kernel(name: str):
    """The numba dispatcher of a kernel (for :mod:`pipeline.compiled_kernels`)."""
    return {"permute_min_affine32": permute_min_affine32}[name]
