"""Estimated tokens and per-language kept bytes in the run summary (issue 16).

Expected values are counted by hand from the method in pipeline/tokens.py: one token per CJK
character (Hangul, Han, kana), one per 4 other characters rounded up per document."""
from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.graph import _RunMeta
from pipeline.run import RunResult, format_summary, summarize
from pipeline.tokens import estimate_tokens, language_totals, languages_summary


@pytest.mark.parametrize("text, tokens", [
    ("", 0),
    ("cat", 1),                 # 3 other characters → 1
    ("the river", 3),           # 9 other characters → ceil(9/4) = 3
    ("한국어 문장", 6),          # 5 Hangul syllables + 1 space → 5 + 1
    ("こんにちは", 5),           # 5 hiragana
    ("カタカナ", 4),             # 4 katakana
    ("上海很大", 4),             # 4 Han
    ("Busan 부산", 4),           # "Busan " = 6 other → 2, plus 2 Hangul
    ("漢字とかな mixed", 7),     # 5 CJK + " mixed" (6 other → 2)
])
def test_estimate_tokens_counted_by_hand(text, tokens):
    assert estimate_tokens(text) == tokens


def test_language_totals_count_utf8_bytes_not_characters():
    table = pa.table({
        "lang": ["ko", "en", "ko", None],
        "text": ["가나", "abcde", "다", "xy"],  # Hangul syllables are 3 UTF-8 bytes each
    })
    rows = sorted(language_totals(table))
    assert rows == [["en", 1, 5, 2], ["ko", 2, 9, 3], ["und", 1, 2, 1]]


def test_run_meta_sums_language_totals_over_shards_and_bundles():
    fn = _RunMeta()
    shard = lambda langs: {"table": "documents", "path": "p", "rows": 1, "langs": langs}  # noqa: E731
    a = fn.add_input(fn.create_accumulator(), shard([["ja", 2, 30, 10], ["en", 1, 8, 2]]))
    b = fn.add_input(fn.create_accumulator(), shard([["ja", 1, 6, 2]]))
    b = fn.add_input(b, {"table": "decisions", "path": "q", "rows": 3, "counts": []})
    out = fn.extract_output(fn.merge_accumulators([a, b]))
    assert out["langs"] == [["en", 1, 8, 2], ["ja", 3, 36, 12]]
    assert all("langs" not in s for s in out["shards"])  # totals leave the shard infos (manifest outputs)


def test_summary_languages_most_bytes_first_and_formatted():
    summary = summarize({"output": {"in": 4, "out": 4, "kept_by_reason": {}}}, 4, 2.0,
                        [["en", 1, 10, 3], ["zh", 3, 90, 30]])
    assert list(summary["languages"]) == ["zh", "en"]
    assert summary["languages"]["zh"] == {"docs": 3, "bytes": 90, "est_tokens": 30}
    summary["stages"] = {}
    text = format_summary(RunResult(out="/o", run_id="r", manifest={}, summary=summary))
    zh_line = next(line for line in text.splitlines() if line.split()[:1] == ["zh"])
    assert zh_line.split() == ["zh", "3", "90", "30"]


def test_summary_of_a_run_without_documents_has_empty_languages():
    assert languages_summary([]) == {}
    assert summarize({}, 0, 1.0, [])["languages"] == {}
