"""Runs of texts to process together: array passes over many texts at once pay their fixed cost
once per run, and a run's arrays are bounded by its total characters."""
from __future__ import annotations

from typing import Iterator


def char_runs(texts: list[str], max_chars: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` of consecutive runs of ``texts`` holding at most ``max_chars`` characters each
    (a longer text is a run of its own), covering all texts in order."""
    lo = 0
    while lo < len(texts):
        hi, chars = lo + 1, len(texts[lo])
        while hi < len(texts) and chars + len(texts[hi]) <= max_chars:
            chars += len(texts[hi])
            hi += 1
        yield lo, hi
        lo = hi
