"""LSH banding: (bands, rows) chosen for a Jaccard threshold exactly as datasketch does, and band keys.

``optimal_bands`` is the grid search of ``datasketch.lsh._optimal_param`` with its default weights
(0.5, 0.5): the (b, r) with ``b * r <= num_perm`` minimising the integrated false-positive plus
false-negative probability of the S-curve ``1 - (1 - s**r)**b``. Same loop order, so the same
answer; the integrals differ only in how they are computed: datasketch calls scipy's ``quad``
per (b, r), here one Gauss-Legendre rule evaluates all of them at once. The integrands are
polynomials of degree ``b * r <= num_perm``, which a rule of ``num_perm // 2 + 1`` nodes integrates
exactly (up to rounding), so the choice equals datasketch's (tested) without importing scipy per
process or calling ``quad`` per (b, r).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.minhash.shingles import fmix64

_U64 = np.uint64
_BAND_MUL = _U64(0xD6E8FEB86659FD93)


def _integrals(threshold: float, num_perm: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Every (b, r) with b * r <= num_perm in datasketch's loop order, with the false-positive
    area (S-curve over [0, threshold]) and false-negative area (1 - S-curve over [threshold, 1])."""
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, int(num_perm / b) + 1)]
    b = np.array([p[0] for p in pairs], dtype=np.float64)[:, None]
    r = np.array([p[1] for p in pairs], dtype=np.float64)[:, None]
    x, w = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def area(lo: float, hi: float, curve) -> np.ndarray:
        s = (hi - lo) / 2 * x + (hi + lo) / 2  # nodes mapped from [-1, 1] to [lo, hi]
        return curve(s[None, :]) @ w * ((hi - lo) / 2)

    fp = area(0.0, threshold, lambda s: 1 - (1 - s**r) ** b)
    fn = area(threshold, 1.0, lambda s: (1 - s**r) ** b)
    return pairs, fp, fn


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows) for ``threshold`` and ``num_perm``, as ``datasketch.MinHashLSH`` picks them."""
    fp_w, fn_w = weights
    pairs, fp, fn = _integrals(float(threshold), int(num_perm))
    err = fp * fp_w + fn * fn_w
    best = float("inf")
    opt = (0, 0)
    for pair, e in zip(pairs, err.tolist()):
        if e < best:  # strictly smaller: the first minimum in loop order, as datasketch
            best = e
            opt = pair
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
