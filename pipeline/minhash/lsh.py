"""LSH banding: (bands, rows) chosen for a Jaccard threshold exactly as datasketch does, and band keys.

``optimal_bands`` is the grid search of ``datasketch.lsh._optimal_param`` with its default weights
(0.5, 0.5): the (b, r) with ``b * r <= num_perm`` minimising the integrated false-positive plus
false-negative probability of the S-curve ``1 - (1 - s**r)**b``. Same integrals (scipy ``quad``),
same loop order, so the same answer.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.minhash.shingles import fmix64

_U64 = np.uint64
_BAND_MUL = _U64(0xD6E8FEB86659FD93)


def _false_positive(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]


def _false_negative(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)[0]


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows) for ``threshold`` and ``num_perm``, as ``datasketch.MinHashLSH`` picks them."""
    fp_w, fn_w = weights
    best = float("inf")
    opt = (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, int(num_perm / b) + 1):
            err = _false_positive(threshold, b, r) * fp_w + _false_negative(threshold, b, r) * fn_w
            if err < best:
                best = err
                opt = (b, r)
    return opt


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 key per (document, band): a hash of the band's ``rows`` signature values.

    ``signatures`` is (n, num_perm); the result is (n, bands). Two documents share a key in band
    ``i`` iff (up to 2**-64 collisions) their signatures agree on all rows of that band.
    """
    sig = np.asarray(signatures)
    n = sig.shape[0]
    x = sig[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    x = fmix64(x + _U64(0x9E3779B97F4A7C15) * np.arange(1, rows + 1, dtype=np.uint64))
    acc = x[:, :, 0].copy()
    for j in range(1, rows):
        acc *= _BAND_MUL
        acc += x[:, :, j]
    return fmix64(acc)
