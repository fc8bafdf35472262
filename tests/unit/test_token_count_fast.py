"""The byte-level CJK counter (``tokens.count_cjk``) against RE2's count of the same character
class (``tokens.count_cjk_regex``, the reference), on real paragraphs in 18 languages and on the
edges of every range."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.tokens import CJK_RANGES, count_cjk, count_cjk_regex, estimate_tokens_array

PARAGRAPHS = Path(__file__).resolve().parents[1] / "data" / "langid" / "paragraphs.jsonl"


def _paragraphs() -> list[str]:
    return [json.loads(line)["text"] for line in PARAGRAPHS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_equal_to_regex_on_real_paragraphs_in_18_languages():
    texts = pa.array(_paragraphs(), pa.string())
    fast = count_cjk(texts)
    assert np.array_equal(fast, count_cjk_regex(texts))
    assert fast.sum() > 1000  # the ja, ko and zh paragraphs are counted, not just zeros everywhere


def test_equal_to_regex_on_each_range_edge():
    # the first and last code point of each range and their neighbours, alone and in context
    edges = sorted({cp for lo, hi in CJK_RANGES for cp in (lo - 1, lo, hi, hi + 1)} - set(range(0xD800, 0xE000)))
    texts = [chr(cp) for cp in edges] + [f"a{chr(cp)}é{chr(cp)}\U0001F600" for cp in edges]
    arr = pa.array(texts, pa.string())
    fast = count_cjk(arr)
    assert np.array_equal(fast, count_cjk_regex(arr))
    inside = [any(lo <= cp <= hi for lo, hi in CJK_RANGES) for cp in edges]
    assert fast[: len(edges)].tolist() == [int(x) for x in inside]  # by hand: one character each


def test_equal_to_regex_on_random_code_points_nulls_and_slices():
    rng = random.Random(20)
    pool = [cp for cp in range(0x20, 0x40000) if not 0xD800 <= cp <= 0xDFFF]
    texts = [None if rng.random() < 0.05 else "".join(chr(rng.choice(pool)) for _ in range(rng.randrange(0, 40)))
             for _ in range(2000)]
    arr = pa.array(texts, pa.string())
    assert np.array_equal(count_cjk(arr), count_cjk_regex(arr))
    part = arr.slice(137, 900)  # a slice starts at an offset into the buffers
    assert np.array_equal(count_cjk(part), count_cjk_regex(part))


@pytest.mark.parametrize("scan_bytes", [1, 64, 1 << 20])
def test_values_across_scan_blocks(monkeypatch, scan_bytes):
    import pipeline.tokens as tokens

    monkeypatch.setattr(tokens, "_SCAN_BYTES", scan_bytes)
    arr = pa.array(_paragraphs()[::3] + ["", None, "한국어"], pa.string())
    assert np.array_equal(tokens.count_cjk(arr), count_cjk_regex(arr))


def test_chunked_text_gives_the_same_estimates_as_one_array():
    texts = _paragraphs()[:60]
    whole = estimate_tokens_array(pa.array(texts, pa.string()))
    chunked = estimate_tokens_array(pa.chunked_array([pa.array(texts[:25]), pa.array(texts[25:])]))
    assert whole.equals(chunked)
    assert estimate_tokens_array(pa.chunked_array([], pa.string())).to_pylist() == []


def test_every_bmp_code_point_alone_and_between_neighbours():
    # exhaustive over the BMP (surrogates excepted): 3-byte sequences are looked up by 64-code-point
    # block, with the third byte read only in blocks counted in part; membership by hand from the ranges
    cps = [cp for cp in range(0x80, 0x10000) if not 0xD800 <= cp <= 0xDFFF]
    expected = [int(any(lo <= cp <= hi for lo, hi in CJK_RANGES)) for cp in cps]
    alone = pa.array([chr(cp) for cp in cps], pa.string())
    assert count_cjk(alone).tolist() == expected
    between = pa.array([f"\u00e9{chr(cp)}\u4e00" for cp in cps], pa.string())  # é before, one Han after
    assert (count_cjk(between) - 1).tolist() == expected
