"""The quality kernels (:mod:`pipeline.quality.kernels`) as the batch path calls them: their
ahead-of-time compiled build when there is one (:mod:`pipeline.compiled_kernels`: no numba in the
worker), else the numba JIT kernels — the same functions, the same results."""
from __future__ import annotations

import numpy as np

from pipeline.compiled_kernels import dispatch

tokenise = dispatch("tokenise")
lines_and_paragraphs = dispatch("lines_and_paragraphs")
count_affixed = dispatch("count_affixed")
ngram_first_failures = dispatch("ngram_first_failures")
stop_word_counts = dispatch("stop_word_counts")
_fill_set = dispatch("fill_set")


def _table_bits(m: int) -> int:
    """kernels._table_bits in Python (called once per rule set)."""
    bits = 4
    while (1 << bits) < 2 * m:
        bits += 1
    return bits


def hash_set(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing table of the uint64 ``values`` (keys, occupied), for ``kernels._in_set``."""
    bits = _table_bits(max(2 * len(values), 1))
    keys = np.zeros(1 << bits, dtype=np.uint64)
    used = np.zeros(1 << bits, dtype=np.bool_)
    _fill_set(values, keys, used)
    return keys, used
