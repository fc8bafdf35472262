"""Estimated token counts and per-language byte totals of kept documents (the run summary).

The estimate needs no tokenizer, so it is the same on every machine and for every language:

* one token per CJK character: Hangul (syllables and jamo), Han ideographs (with extensions and
  compatibility ideographs), hiragana and katakana — byte-level BPE tokenizers of the GPT/Llama
  families spend about one token (often more) on each of them;
* one token per 4 of all other characters (Latin, Cyrillic, digits, punctuation, spaces), rounded
  up per document — the usual rule of thumb for English BPE text.

It is an estimate for sizing a release, not a tokenizer's count; docs/audit.md says so.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# RE2 syntax (pyarrow.compute): the ranges counted as one token per character.
CJK_CHARACTERS = (
    r"[\x{1100}-\x{11FF}\x{3130}-\x{318F}\x{A960}-\x{A97F}\x{AC00}-\x{D7AF}\x{D7B0}-\x{D7FF}"  # Hangul
    r"\x{3040}-\x{30FF}\x{31F0}-\x{31FF}\x{FF66}-\x{FF9F}"  # hiragana, katakana (and half-width)
    r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{3134F}]"  # Han
)
CHARS_PER_TOKEN_OTHER = 4


def estimate_tokens_array(texts: pa.Array) -> pa.Array:
    """Estimated tokens of each text (int64; a null text counts 0)."""
    texts = pc.fill_null(texts.cast(pa.string()), "")
    cjk = pc.count_substring_regex(texts, CJK_CHARACTERS).cast(pa.int64())
    other = pc.subtract(pc.utf8_length(texts).cast(pa.int64()), cjk)
    other_tokens = pc.divide(pc.add(other, CHARS_PER_TOKEN_OTHER - 1), CHARS_PER_TOKEN_OTHER)  # integer ceil
    return pc.add(cjk, other_tokens)


def estimate_tokens(text: str) -> int:
    """Estimated tokens of one text (see the module docstring for the method)."""
    return estimate_tokens_array(pa.array([text], pa.string()))[0].as_py()


UNDETERMINED = "und"  # BCP 47 for a document without a language (language ID off)


def language_totals(table: pa.Table) -> list[list]:
    """``[[lang, docs, bytes, est_tokens], ...]`` of a documents table: per language, the number of
    documents, the UTF-8 bytes of their text and their estimated tokens."""
    if not table.num_rows:
        return []
    text = table.column("text")
    parts = pa.table({
        "lang": pc.fill_null(table.column("lang"), UNDETERMINED),
        "bytes": pc.fill_null(pc.binary_length(text), 0).cast(pa.int64()),
        "tokens": estimate_tokens_array(text.combine_chunks()),
    })
    grouped = parts.group_by("lang", use_threads=False).aggregate(
        [("lang", "count", pc.CountOptions(mode="all")), ("bytes", "sum"), ("tokens", "sum")]
    )
    cols = [grouped.column(c).to_pylist() for c in ("lang", "lang_count", "bytes_sum", "tokens_sum")]
    return [list(row) for row in zip(*cols)]


def add_language_totals(totals: dict[str, list[int]], rows) -> dict[str, list[int]]:
    """Adds ``[[lang, docs, bytes, est_tokens], ...]`` into ``totals`` (lang → [docs, bytes, est_tokens])."""
    for lang, *values in rows or ():
        entry = totals.setdefault(lang, [0, 0, 0])
        for i, v in enumerate(values):
            entry[i] += int(v)
    return totals


def languages_summary(rows) -> dict[str, dict[str, int]]:
    """The summary's ``languages``: lang → {docs, bytes, est_tokens}, most bytes first."""
    totals = add_language_totals({}, rows)
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return {lang: {"docs": d, "bytes": b, "est_tokens": t} for lang, (d, b, t) in ordered}
