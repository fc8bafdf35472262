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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# RE2 syntax (pyarrow.compute): the ranges counted as one token per character.
CJK_CHARACTERS = (
    r"[\x{1100}-\x{11FF}\x{3130}-\x{318F}\x{A960}-\x{A97F}\x{AC00}-\x{D7AF}\x{D7B0}-\x{D7FF}"  # Hangul
    r"\x{3040}-\x{30FF}\x{31F0}-\x{31FF}\x{FF66}-\x{FF9F}"  # hiragana, katakana (and half-width)
    r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{3134F}]"  # Han
)
CHARS_PER_TOKEN_OTHER = 4


# The same ranges as code points (inclusive), for the byte-level counter below.
CJK_RANGES = (
    (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF),
    (0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F),
)
_ASTRAL = [r for r in CJK_RANGES if r[0] > 0xFFFF]
_BMP_CJK = None  # bool per BMP code point, built on first use
_BMP_BLOCKS = None  # CJK code points per block of 64 BMP code points
_SCAN_BYTES = 1 << 20  # text bytes decoded at a time: bounds the temporary index arrays (~12x)


def _bmp_table():
    global _BMP_CJK, _BMP_BLOCKS
    if _BMP_CJK is None:
        table = np.zeros(0x10000, dtype=bool)
        for lo, hi in CJK_RANGES:
            if hi <= 0xFFFF:
                table[lo : hi + 1] = True
        # per block of 64 code points (a 3-byte sequence's lead and first continuation byte):
        # how many of them count; only blocks counted in part need the third byte
        _BMP_BLOCKS = table.reshape(-1, 64).sum(axis=1).astype(np.uint8)
        _BMP_CJK = table
    return _BMP_CJK, _BMP_BLOCKS


def count_cjk_regex(texts: pa.Array) -> np.ndarray:
    """CJK characters per text with RE2 (the reference :func:`count_cjk` is held equal to)."""
    texts = pc.fill_null(texts.cast(pa.string()), "")
    return pc.count_substring_regex(texts, CJK_CHARACTERS).to_numpy(zero_copy_only=False).astype(np.int64)


def count_cjk(texts: pa.Array) -> np.ndarray:
    """CJK characters (:data:`CJK_RANGES`) per text of a string array (a null counts 0), read
    from Arrow's UTF-8 buffer: every code point in the ranges is encoded with 3 bytes (lead
    0xE1-0xEF) or 4 bytes (lead 0xF0), so only bytes >= 0xE1 are decoded. Arrow strings are valid
    UTF-8, so a lead byte's continuation bytes are inside the same value."""
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    n = len(texts)
    counts = np.zeros(n, dtype=np.int64)
    _, offsets_buf, data_buf = texts.buffers()
    if n == 0 or data_buf is None:
        return counts
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=texts.offset * 4).astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    bmp, blocks = _bmp_table()
    after_1 = data[1:]  # after_1[i] is data[i + 1]: continuation bytes without an index array + 1
    start = 0
    while start < n:  # a run of values of about _SCAN_BYTES at a time
        stop = int(np.searchsorted(offsets, offsets[start] + _SCAN_BYTES, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        lo = int(offsets[start])
        chunk = data[lo : int(offsets[stop])]
        # null values have equal offsets (no bytes), so they count 0
        lead = np.flatnonzero(chunk >= 0xE1)
        if lead.size:
            b0 = chunk[lead]
            three = b0 < 0xF0
            at = lead[three]
            # a 3-byte sequence's code point >> 6, from its lead and first continuation byte
            block = ((b0[three] & 0x0F).astype(np.uint16) << 6) | (after_1[lo:][at] & 0x3F)
            in_block = blocks[block]
            hit = in_block == 64
            part = np.flatnonzero((in_block > 0) & (in_block < 64))
            if part.size:
                p = at[part]
                hit[part] = bmp[(block[part].astype(np.int32) << 6) | (chunk[p + 2] & 0x3F)]
            bounds = offsets[start : stop + 1] - lo
            # hits are in byte order: the hits before each value's end, minus those before its start
            counts[start:stop] += np.diff(np.searchsorted(at[hit], bounds))
            at = lead[~three]
            if at.size:
                b0 = b0[~three].astype(np.int32)
                cp = (((b0 & 0x07) << 18) | ((chunk[at + 1].astype(np.int32) & 0x3F) << 12)
                      | ((chunk[at + 2].astype(np.int32) & 0x3F) << 6) | (chunk[at + 3] & 0x3F))
                astral = np.zeros(at.size, dtype=bool)
                for a, b in _ASTRAL:
                    astral |= (cp >= a) & (cp <= b)
                counts[start:stop] += np.diff(np.searchsorted(at[astral], bounds))
        start = stop
    return counts


def estimate_tokens_array(texts: pa.Array) -> pa.Array:
    """Estimated tokens of each text (int64; a null text counts 0)."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]  # no copy of the text
    tokens = [np.zeros(0, dtype=np.int64)]
    for chunk in chunks:
        cjk = count_cjk(chunk)
        chars = pc.fill_null(pc.utf8_length(chunk.cast(pa.string())), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        tokens.append(cjk + (chars - cjk + CHARS_PER_TOKEN_OTHER - 1) // CHARS_PER_TOKEN_OTHER)  # integer ceil
    return pa.array(np.concatenate(tokens), pa.int64())


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
        "tokens": estimate_tokens_array(text),
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
