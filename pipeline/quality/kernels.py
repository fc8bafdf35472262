"""Compiled (numba) kernels of the quality stage's batch path (:mod:`pipeline.quality.batch`):
tokenising a batch, its lines and paragraphs, word n-gram repetition and stop words.

Each returns exactly what its reference in :mod:`pipeline.quality.stats` / ``measures`` / ``ngrams``
returns (same word spans and hashes, same grouping by equal 64-bit hash, the same integer sums
divided in the same order), in one pass with hash tables instead of one NumPy operation (or
``argsort``) per document and n — proven equal by ``tests/unit/test_quality_kernels.py``. Compiled
on first use and cached on disk (``cache=True``): a machine pays the compilation once.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_MULT = np.uint64(0x9E3779B97F4A7C15)  # the n-gram recurrence's multiplier (stats._MULT)
_MIX = np.uint64(0xD6E8FEB86659FD93)  # spreads a hash over the table's slots


@njit(cache=True, nogil=True)
def _table_bits(m: int) -> int:
    bits = 4
    while (1 << bits) < 2 * m:
        bits += 1
    return bits


@njit(cache=True, nogil=True)
def _new_table(m: int):
    """An empty open-addressing table for ``m`` keys: (keys, occupied, shift, mask)."""
    bits = _table_bits(m)
    return np.empty(1 << bits, dtype=np.uint64), np.zeros(1 << bits, dtype=np.bool_), np.uint64(64 - bits), np.int64((1 << bits) - 1)


@njit(cache=True, nogil=True)
def _probe(keys: np.ndarray, used: np.ndarray, key: np.uint64, shift: np.uint64, mask: np.int64) -> int:
    """The slot holding ``key``, or the free slot where it goes (linear probing)."""
    slot = np.int64((key * _MIX) >> shift)
    while used[slot] and keys[slot] != key:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True, nogil=True)
def _next_ngrams(g: np.ndarray, h: np.ndarray, n_from: int, n_to: int) -> None:
    """``g`` holds the n_from-gram hashes (at the first ``len(h) - n_from + 1`` positions); make
    them the n_to-gram hashes: h(n)[i] = h(n-1)[i] * MULT + h[i + n - 1], wrapping at 2^64."""
    for n in range(n_from + 1, n_to + 1):
        for i in range(len(h) - n + 1):
            g[i] = g[i] * _MULT + h[i + n - 1]


@njit(cache=True, nogil=True)
def _top_fraction(g: np.ndarray, m: int, lens: np.ndarray, n: int, total: float) -> float:
    """``ngrams.top_ngram_fraction`` over the first ``m`` n-gram hashes of ``g``."""
    if m < 2:
        return 0.0
    keys, used, shift, mask = _new_table(m)
    counts = np.zeros(len(keys), dtype=np.int64)
    first = np.empty(len(keys), dtype=np.int64)
    best, pos = 1, -1
    for i in range(m):
        key = g[i]
        slot = _probe(keys, used, key, shift, mask)
        if not used[slot]:
            used[slot] = True
            keys[slot] = key
            first[slot] = i
        c = counts[slot] + 1
        counts[slot] = c
        # ties: the n-gram seen first (Counter.most_common order, as the reference)
        if c > best or (c == best and first[slot] < pos):
            best, pos = c, first[slot]
    if best < 2:
        return 0.0
    chars = 0
    for j in range(pos, pos + n):
        chars += lens[j]
    return best * float(chars) / total


@njit(cache=True, nogil=True)
def _dup_fraction(g: np.ndarray, m: int, lens: np.ndarray, n: int, total: float) -> float:
    """``ngrams.dup_ngram_fraction`` over the first ``m`` n-gram hashes of ``g``: the characters
    of words inside a repeated (2nd, 3rd, …) occurrence of an n-gram ÷ all word characters."""
    if m < 2:
        return 0.0
    keys, used, shift, mask = _new_table(m)
    covered_until = 0  # words before this index lie inside a repeated n-gram seen so far
    covered = 0
    for j in range(len(lens)):
        if j < m:
            key = g[j]
            slot = _probe(keys, used, key, shift, mask)
            if used[slot]:
                if j + n > covered_until:
                    covered_until = j + n
            else:
                used[slot] = True
                keys[slot] = key
        if j < covered_until:
            covered += lens[j]
    if covered == 0:
        return 0.0
    return float(covered) / total


@njit(cache=True, nogil=True)
def ngram_first_failure(top: bool, h: np.ndarray, lens: np.ndarray, ns: np.ndarray, limits: np.ndarray) -> tuple[int, float]:
    """(index into the table, value) of the first n whose share is over its limit, or (-1, 0.0):
    ``ngrams.top_ngram_first_failure`` (``top``) or ``ngrams.dup_ngram_first_failure``. ``ns``
    ascending, ``h`` the word hashes, ``lens`` the word lengths."""
    total = 0
    for x in lens:
        total += x
    g = h.copy()
    done = 1
    for k in range(len(ns)):
        n = ns[k]
        _next_ngrams(g, h, done, n)
        done = n
        m = len(h) - n + 1
        value = _top_fraction(g, m, lens, n, float(total)) if top else _dup_fraction(g, m, lens, n, float(total))
        if value > limits[k]:
            return k, value
        if not top:  # coverage only shrinks as n grows: under every remaining limit, no larger n can fail
            lowest = limits[k]
            for x in limits[k:]:
                lowest = min(lowest, x)
            if value <= lowest:
                return -1, 0.0
    return -1, 0.0


_SPACE, _LETTER, _CJK, _ALNUM, _DECIMAL, _JOINER = 1, 2, 4, 8, 16, 32  # pipeline.text's flags
_P = np.uint64(0xC2B2AE3D27D4EB4F)  # pipeline.text.span_hashes' base


@njit(cache=True, nogil=True)
def tokenise(cps: np.ndarray, flags: np.ndarray, char_start: np.ndarray, char_end: np.ndarray):
    """The words of every text ``cps[char_start[t]:char_end[t]]`` of a batch in one pass: what
    ``pipeline.text.word_spans`` + ``span_hashes`` + ``stats.whitespace_token_counts`` and the CJK
    and all-digit-word counts give, per text.

    Returns (word starts, word ends, word hashes, first word of each text (+ the end), whitespace
    tokens, tokens holding a letter, Han/Kana characters, all-digit words), per text."""
    n_texts = len(char_start)
    cap = len(cps)
    starts = np.empty(cap, dtype=np.int64)
    ends = np.empty(cap, dtype=np.int64)
    hashes = np.empty(cap, dtype=np.uint64)
    bounds = np.empty(n_texts + 1, dtype=np.int64)
    tokens = np.zeros(n_texts, dtype=np.int64)
    letter_tokens = np.zeros(n_texts, dtype=np.int64)
    n_cjk = np.zeros(n_texts, dtype=np.int64)
    digit_words = np.zeros(n_texts, dtype=np.int64)
    w = 0
    for t in range(n_texts):
        lo, hi = char_start[t], char_end[t]
        bounds[t] = w
        n_tok = n_let = n_han = n_dig = 0  # this text's counts (locals: kept in registers)
        in_token = False
        token_letter = False
        run_start = -1
        h = np.uint64(0)  # the running word's span_hashes sum, the next power of P, all digits?
        p = np.uint64(1)
        all_digits = True
        # body: a word character that is not Han/Kana; a joiner (' ’ -) between two is in the word
        body_prev = False
        body_here = lo < hi and (flags[lo] & _ALNUM) != 0 and (flags[lo] & _CJK) == 0
        for j in range(lo, hi):
            f = flags[j]
            body_next = j + 1 < hi and (flags[j + 1] & _ALNUM) != 0 and (flags[j + 1] & _CJK) == 0
            # whitespace tokens: maximal runs of non-space characters
            if (f & _SPACE) == 0:
                if not in_token:
                    in_token, token_letter = True, False
                    n_tok += 1
                if (f & _LETTER) != 0 and not token_letter:
                    token_letter = True
                    n_let += 1
            else:
                in_token = False
            in_word = body_here or ((f & _JOINER) != 0 and body_prev and body_next)
            if in_word:
                if run_start < 0:
                    run_start, h, p, all_digits = j, np.uint64(0), np.uint64(1), True
                h += np.uint64(cps[j]) * p
                p *= _P
                all_digits = all_digits and (f & _DECIMAL) != 0
            elif run_start >= 0:  # a run of word characters ended before j
                starts[w], ends[w] = run_start, j
                hashes[w] = h ^ (np.uint64(j - run_start) * _MULT)
                n_dig += all_digits
                w += 1
                run_start = -1
            if (f & _CJK) != 0:  # each Han/Kana character is a word
                n_han += 1
                starts[w], ends[w] = j, j + 1
                hashes[w] = np.uint64(cps[j]) ^ _MULT
                n_dig += (f & _DECIMAL) != 0
                w += 1
            body_prev, body_here = body_here, body_next
        if run_start >= 0:
            starts[w], ends[w] = run_start, hi
            hashes[w] = h ^ (np.uint64(hi - run_start) * _MULT)
            n_dig += all_digits
            w += 1
        tokens[t], letter_tokens[t], n_cjk[t], digit_words[t] = n_tok, n_let, n_han, n_dig
        bounds[t + 1] = w
    return starts[:w], ends[:w], hashes[:w], bounds, tokens, letter_tokens, n_cjk, digit_words


@njit(cache=True, nogil=True)
def _is_space(cps: np.ndarray, table: np.ndarray, j: int) -> bool:
    """str.isspace of cps[j], by the BMP flag table (no whitespace lies outside the BMP)."""
    return cps[j] < 0x10000 and (table[cps[j]] & _SPACE) != 0


@njit(cache=True, nogil=True)
def _strip(cps: np.ndarray, table: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """``str.strip()`` of the span [a, b): whitespace cut off both ends."""
    while a < b and _is_space(cps, table, a):
        a += 1
    while b > a and _is_space(cps, table, b - 1):
        b -= 1
    return a, b


@njit(cache=True, nogil=True)
def _span_hash(cps: np.ndarray, a: int, b: int) -> np.uint64:
    """A hash of the span's length and its first and last 8 characters: equal spans hash equal,
    and the rare unequal spans that collide are told apart by :func:`_same_span`."""
    h = np.uint64(b - a) * _MULT
    for j in range(a, min(b, a + 8)):
        h = (h ^ np.uint64(cps[j])) * _P
    for j in range(max(a + 8, b - 8), b):
        h = (h ^ np.uint64(cps[j])) * _P
    return h


@njit(cache=True, nogil=True)
def _same_span(cps: np.ndarray, a: int, b: int, c: int, d: int) -> bool:
    if b - a != d - c:
        return False
    for k in range(b - a):
        if cps[a + k] != cps[c + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _distinct(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray, lo: int, hi: int) -> tuple[int, int, int, int]:
    """(items, distinct items, characters of all, of the distinct ones) of the spans lo … hi - 1, equal
    spans found by hash and confirmed character by character (``set`` semantics)."""
    m = hi - lo
    total = 0
    for k in range(lo, hi):
        total += ends[k] - starts[k]
    if m < 2:
        return m, m, total, total
    keys, _, shift, mask = _new_table(m)
    item = np.full(len(keys), -1, dtype=np.int64)
    distinct, distinct_chars = 0, 0
    for k in range(lo, hi):
        key = _span_hash(cps, starts[k], ends[k])
        slot = np.int64((key * _MIX) >> shift)
        while item[slot] >= 0 and not (keys[slot] == key and _same_span(cps, starts[item[slot]], ends[item[slot]], starts[k], ends[k])):
            slot = (slot + 1) & mask
        if item[slot] < 0:
            keys[slot] = key
            item[slot] = k
            distinct += 1
            distinct_chars += ends[k] - starts[k]
    return m, distinct, total, distinct_chars


@njit(cache=True, nogil=True)
def lines_and_paragraphs(cps: np.ndarray, table: np.ndarray, char_start: np.ndarray, char_end: np.ndarray, newlines: np.ndarray):
    """The non-empty stripped lines (split on "\\n") and paragraphs (split on ``\\n[ \\t\\r\\f\\v]*\\n``)
    of every text of a batch, as spans of the original text's code points, and per text what the
    repeat rules need: (items, distinct items, characters, of the distinct items), of lines and of
    paragraphs (``stats.DocStats.lines`` / ``paragraphs`` / ``_dup_fractions``). ``table``: the
    BMP flags of ``pipeline.text``; ``newlines``: the positions of "\\n" in ``cps``, ascending —
    the work is per line, not per character."""
    n_texts = len(char_start)
    cap = len(newlines) + n_texts
    line_starts = np.empty(cap, dtype=np.int64)
    line_ends = np.empty(cap, dtype=np.int64)
    line_bounds = np.empty(n_texts + 1, dtype=np.int64)
    para_starts = np.empty(cap, dtype=np.int64)
    para_ends = np.empty(cap, dtype=np.int64)
    dup = np.zeros((n_texts, 8), dtype=np.int64)
    n_lines = 0
    first_nl = 0  # index into newlines of the first one inside the current text
    for t in range(n_texts):
        lo, hi = char_start[t], char_end[t]
        while first_nl < len(newlines) and newlines[first_nl] < lo:
            first_nl += 1
        last_nl = first_nl
        while last_nl < len(newlines) and newlines[last_nl] < hi:
            last_nl += 1
        line_bounds[t] = n_lines
        a = lo
        for i in range(first_nl, last_nl + 1):
            j = newlines[i] if i < last_nl else hi
            s, e = _strip(cps, table, a, j)
            if e > s:
                line_starts[n_lines], line_ends[n_lines] = s, e
                n_lines += 1
            a = j + 1
        line_bounds[t + 1] = n_lines
        # paragraphs: the regex's leftmost, non-overlapping matches of \n[ \t\r\f\v]*\n
        n_paras = 0
        a = lo
        i = first_nl
        while i < last_nl:
            j = newlines[i]
            if j < a:  # consumed as the second newline of the last match
                i += 1
                continue
            k = j + 1
            while k < hi and (cps[k] == 32 or cps[k] == 9 or cps[k] == 13 or cps[k] == 12 or cps[k] == 11):
                k += 1
            if k < hi and cps[k] == 10:
                s, e = _strip(cps, table, a, j)
                if e > s:
                    para_starts[n_paras], para_ends[n_paras] = s, e
                    n_paras += 1
                a = k + 1
            i += 1
        s, e = _strip(cps, table, a, hi)
        if e > s:
            para_starts[n_paras], para_ends[n_paras] = s, e
            n_paras += 1
        dup[t, 0], dup[t, 1], dup[t, 2], dup[t, 3] = _distinct(cps, line_starts, line_ends, line_bounds[t], n_lines)
        dup[t, 4], dup[t, 5], dup[t, 6], dup[t, 7] = _distinct(cps, para_starts, para_ends, 0, n_paras)
    return line_starts[:n_lines], line_ends[:n_lines], line_bounds, dup


@njit(cache=True, nogil=True)
def _span_has_affix(cps: np.ndarray, a: int, b: int, pat_cps: np.ndarray, pat_offs: np.ndarray, at_end: bool) -> bool:
    for p in range(len(pat_offs) - 1):
        pa, pb = pat_offs[p], pat_offs[p + 1]
        n = pb - pa
        if n > b - a:
            continue
        o = b - n if at_end else a
        k = 0
        while k < n and cps[o + k] == pat_cps[pa + k]:
            k += 1
        if k == n:
            return True
    return False


@njit(cache=True, nogil=True)
def count_affixed(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray, bounds: np.ndarray, pat_cps: np.ndarray, pat_offs: np.ndarray, at_end: bool) -> np.ndarray:
    """Per text (spans ``bounds[t]`` … ``bounds[t + 1] - 1``): how many spans start (or, ``at_end``,
    end) with one of the patterns ``pat_cps[pat_offs[p]:pat_offs[p + 1]]`` — ``str.startswith`` /
    ``str.endswith`` with a tuple."""
    out = np.zeros(len(bounds) - 1, dtype=np.int64)
    for t in range(len(bounds) - 1):
        for k in range(bounds[t], bounds[t + 1]):
            if _span_has_affix(cps, starts[k], ends[k], pat_cps, pat_offs, at_end):
                out[t] += 1
    return out


@njit(cache=True, nogil=True)
def ngram_first_failures(top: bool, hashes: np.ndarray, lens: np.ndarray, bounds: np.ndarray, texts: np.ndarray, ns: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ngram_first_failure` of each listed text of a batch (words ``bounds[t]`` … ``bounds[t + 1] - 1``): (table index or -1, value)."""
    ks = np.empty(len(texts), dtype=np.int64)
    values = np.empty(len(texts), dtype=np.float64)
    for i in range(len(texts)):
        a, b = bounds[texts[i]], bounds[texts[i] + 1]
        ks[i], values[i] = ngram_first_failure(top, hashes[a:b], lens[a:b], ns, limits)
    return ks, values


@njit(cache=True, nogil=True)
def _fill_set(values: np.ndarray, keys: np.ndarray, used: np.ndarray) -> None:
    mask = np.int64(len(keys) - 1)
    shift = np.uint64(64 - _table_bits(len(keys) // 2))
    for key in values:
        slot = _probe(keys, used, key, shift, mask)
        used[slot] = True
        keys[slot] = key


@njit(cache=True, nogil=True)
def _in_set(key: np.uint64, keys: np.ndarray, used: np.ndarray, shift: np.uint64, mask: np.int64) -> bool:
    return used[_probe(keys, used, key, shift, mask)]


@njit(cache=True, nogil=True)
def stop_word_counts(hashes: np.ndarray, bounds: np.ndarray, texts: np.ndarray, set_keys: np.ndarray, set_used: np.ndarray,
                     last_cps: np.ndarray, suffix_cps: np.ndarray, by_suffix: bool) -> np.ndarray:
    """Per listed text (words ``bounds[t]`` … ``bounds[t + 1] - 1``): its words whose hash is in the
    set (``pipeline.quality.compiled.hash_set``), or, ``by_suffix``, whose last character is one of the sorted
    ``suffix_cps`` — ``measures.m_stop_words``."""
    mask = np.int64(len(set_keys) - 1)
    shift = np.uint64(64 - _table_bits(len(set_keys) // 2))
    out = np.zeros(len(texts), dtype=np.int64)
    for i in range(len(texts)):
        for w in range(bounds[texts[i]], bounds[texts[i] + 1]):
            hit = _in_set(hashes[w], set_keys, set_used, shift, mask)
            if not hit and by_suffix and len(suffix_cps):
                k = np.searchsorted(suffix_cps, last_cps[w])
                hit = k < len(suffix_cps) and suffix_cps[k] == last_cps[w]
            if hit:
                out[i] += 1
    return out


def jit_kernel(name: str):
    """The numba dispatcher of an entry-point kernel (for :mod:`pipeline.compiled_kernels`)."""
    return _fill_set if name == "fill_set" else {"tokenise": tokenise, "lines_and_paragraphs": lines_and_paragraphs,
                                                 "count_affixed": count_affixed, "ngram_first_failures": ngram_first_failures,
                                                 "stop_word_counts": stop_word_counts}[name]
