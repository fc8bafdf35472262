"""pipeline.batching.char_runs: runs of texts bounded by their characters."""
from __future__ import annotations

import random

from pipeline.batching import char_runs


def test_runs_cover_every_text_in_order_within_the_bound():
    rng = random.Random(3)
    for _ in range(200):
        texts = ["x" * rng.choice([0, 1, 5, 40, 200]) for _ in range(rng.randint(0, 30))]
        limit = rng.choice([1, 10, 100, 1000])
        runs = list(char_runs(texts, limit))
        assert [i for lo, hi in runs for i in range(lo, hi)] == list(range(len(texts)))
        for lo, hi in runs:
            assert hi > lo
            # within the bound, or one text alone; and the next text would not have fitted
            assert sum(map(len, texts[lo:hi])) <= limit or hi - lo == 1
            if hi < len(texts):
                assert sum(map(len, texts[lo : hi + 1])) > limit


def test_a_text_longer_than_the_bound_is_a_run_of_its_own():
    assert list(char_runs(["ab", "x" * 50, "cd", "ef"], 10)) == [(0, 1), (1, 2), (2, 4)]
    assert list(char_runs([], 10)) == []
