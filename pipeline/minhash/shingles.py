"""Text normalisation and shingle hashing, vectorised with NumPy.

Two normalisations, both starting from Unicode NFKC + casefold:

* the **exact key** (``exact_key``): whitespace collapsed, punctuation kept — two documents with the
  same key are the same text up to Unicode form, case and spacing;
* the **shingle tokens**: maximal runs of word characters (``str.isalnum()`` or ``_``, what ``re``'s
  ``\\w`` matches) of the NFKC-casefolded text, found by a code-point lookup table in NumPy — so
  punctuation and spacing edits do not change the shingles.

Shingles are n-grams of *tokens*. Space-separated languages use word n-grams; languages written
without spaces between words (or, like Korean, with unreliable spacing) use character n-grams of the
text with spaces and punctuation removed. Either way every token is hashed exactly once, in NumPy, and the n-gram
hashes are combined from the token hashes with a few array operations — no Python loop over
shingles, no string per shingle:

* a character's hash is ``fmix64(codepoint ^ (position_in_word << 32) ^ K)``;
* a word's hash is ``fmix64(sum of its characters' hashes + length)`` (``np.add.reduceat``);
* an n-gram's hash is the polynomial ``sum(h[j+i] * C**(n-1-i)) mod 2**64``, finalised with
  ``fmix64`` and cut to the top 32 bits (the input width of datasketch's ``affine32`` scheme).

A document with fewer than n tokens has one shingle: all its tokens. A document with no word
characters has no shingles (its MinHash is datasketch's empty MinHash).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np



_U64 = np.uint64
_M1 = _U64(0xFF51AFD7ED558CCD)
_M2 = _U64(0xC4CEB9FE1A85EC53)
_S33 = _U64(33)
_S32 = _U64(32)
_CHAR_KEY = _U64(0x9E3779B97F4A7C15)
_NGRAM_MUL = _U64(0xA0761D6478BD642F)  # odd 64-bit multiplier (wyhash constant)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection) on a uint64 array; wraps modulo 2**64."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def _fmix64_inplace(h: np.ndarray) -> np.ndarray:
    """:func:`fmix64` computed in ``h`` itself (uint64, modified and returned): the batch path's
    arrays hold millions of values, and each temporary is one more pass over memory."""
    t = h >> _S33
    h ^= t
    h *= _M1
    np.right_shift(h, _S33, out=t)
    h ^= t
    h *= _M2
    np.right_shift(h, _S33, out=t)
    h ^= t
    return h


def normalize(text: str) -> str:
    """NFKC + casefold: the form both the exact key and the shingles start from."""
    return nfkc(text).casefold()


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)`` (tested equal). A text that is not in NFKC as a
    whole is normalised line by line, each line only if it needs it: "\n" neither decomposes nor
    composes with a neighbour nor moves in reordering, so NFKC of the lines joined is NFKC of the
    text, and most lines of such a text are already normalised."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return "\n".join([unicodedata.normalize("NFKC", line) for line in text.split("\n")])


def exact_key(text: str) -> str:
    """Hash of the normalised text (NFKC, casefold, whitespace collapsed); 32 hex characters."""
    return exact_key_of_normalized(normalize(text))


def exact_key_of_normalized(norm: str) -> str:
    """:func:`exact_key` of a text already through :func:`normalize` (the batch path normalises once
    for both the exact key and the shingles)."""
    return hashlib.blake2b(collapse_whitespace(norm).encode("utf-8"), digest_size=16).hexdigest()


# Every whitespace character but " " (what str.split() splits on: str.isspace(); none above U+3000).
_OTHER_SPACES = tuple(ch for ch in map(chr, range(0x3001)) if ch.isspace() and ch != " ")


def collapse_whitespace(text: str) -> str:
    """``" ".join(text.split())``: runs of whitespace become one space, none at either end (tested
    equal). By C-level scans and replaces instead of one string object per word."""
    for ch in _OTHER_SPACES:
        if ch in text:
            text = text.replace(ch, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip(" ")


_WORD_TABLE: np.ndarray | None = None


def word_char_table() -> np.ndarray:
    """bool per code point: a word character (``str.isalnum()`` or ``_``, i.e. what ``re``'s ``\\w``
    matches in a str). Built once per process, then looked up for whole documents at once."""
    global _WORD_TABLE
    if _WORD_TABLE is None:
        # re's \w is str.isalnum() or "_" per code point; one C-level scan of every code point
        # instead of a million Python calls per worker process (equality is tested).
        every = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
        table = np.zeros(0x110000, dtype=bool)
        for run in re.finditer(r"\w+", every):
            table[run.start() : run.end()] = True
        _WORD_TABLE = table
    return _WORD_TABLE


def base_lang(lang: str | None) -> str | None:
    """``zh-cn`` / ``zh_Hans`` / ``ZH`` → ``zh``."""
    if not lang:
        return None
    return re.split(r"[-_]", lang, maxsplit=1)[0].lower()


def codepoints(norm: str) -> np.ndarray:
    """uint32 code points of a string (one C-level encode, no Python loop)."""
    return np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def looks_unspaced(cps: np.ndarray) -> bool:
    """True when at least 30% of the word characters are Han, kana, Hangul or Thai."""
    word = word_char_table()[cps]
    letters = int(np.count_nonzero(word))
    if not letters:
        return False
    return int(np.count_nonzero(_unspaced_script(cps[word]))) >= 0.3 * letters


def _unspaced_script(c: np.ndarray) -> np.ndarray:
    """bool per code point: Han, kana, Hangul or Thai."""
    return (
        ((c >= 0x0E00) & (c <= 0x0E7F))  # Thai
        | ((c >= 0x1100) & (c <= 0x11FF))  # Hangul Jamo
        | ((c >= 0x3040) & (c <= 0x30FF))  # kana
        | ((c >= 0x3130) & (c <= 0x318F))  # Hangul compatibility Jamo
        | ((c >= 0x3400) & (c <= 0x9FFF))  # CJK ideographs
        | ((c >= 0xAC00) & (c <= 0xD7AF))  # Hangul syllables
        | ((c >= 0xF900) & (c <= 0xFAFF))  # CJK compatibility ideographs
        | ((c >= 0x20000) & (c <= 0x3FFFF))  # CJK extension planes
    )


def word_hashes(cps: np.ndarray) -> np.ndarray:
    """One uint64 hash per word (maximal run of word characters) of normalised code points."""
    word = word_char_table()[cps]
    c = cps[word].astype(np.uint64)
    if c.size == 0:
        return np.empty(0, dtype=np.uint64)
    prev = np.empty_like(word)
    prev[0] = False
    prev[1:] = word[:-1]
    first = (word & ~prev)[word]  # True at the first character of each word
    starts = np.flatnonzero(first)
    idx = np.arange(c.size, dtype=np.int64)
    pos = (idx - np.maximum.accumulate(np.where(first, idx, 0))).astype(np.uint64)
    h = fmix64(c ^ (pos << _S32) ^ _CHAR_KEY)
    sums = np.add.reduceat(h, starts)
    lengths = np.diff(np.append(starts, c.size)).astype(np.uint64)
    return fmix64(sums + lengths)


def char_hashes(cps: np.ndarray) -> np.ndarray:
    """One uint64 hash per word character (spaces and punctuation removed)."""
    c = cps[word_char_table()[cps]].astype(np.uint64)
    return fmix64(c ^ _CHAR_KEY)


def ngram_hashes(tokens: np.ndarray, n: int) -> np.ndarray:
    """uint32 hashes of the token n-grams (one shingle of all tokens when fewer than n)."""
    m = tokens.size
    if m == 0:
        return np.empty(0, dtype=np.uint32)
    if m < n:
        n = m
    k = m - n + 1
    acc = tokens[:k].copy()
    for i in range(1, n):
        acc *= _NGRAM_MUL
        acc += tokens[i : i + k]
    acc += _U64(n)
    return (fmix64(acc) >> _S32).astype(np.uint32)


def _batch_tokens(
    c: np.ndarray, word_at: np.ndarray, word_end: np.ndarray, char_tok: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token hashes of a batch's word characters ``c`` (at code-point positions ``word_at``; ``word_end``
    of them before each document's end; ``char_tok`` True in char-mode documents): returns
    ``(tokens, tok_char, tok_count)`` — each token's hash, whether it is a character token, and the
    number of tokens per document."""
    # a token starts at a word's first character (its code point does not follow the previous
    # word character's) and at every word character of a char-mode document
    tok_first = np.empty(c.size, dtype=bool)
    tok_first[0] = True
    np.not_equal(word_at[1:] - word_at[:-1], 1, out=tok_first[1:])
    tok_first |= char_tok
    tok_start = np.flatnonzero(tok_first)
    tok_len = np.diff(np.append(tok_start, c.size))
    # position of each character in its token (a character token's is 0): a running sum of 1s
    # that each token start brings back to 0 (uint64 wraparound is exact)
    h = np.ones(c.size, dtype=np.uint64)
    h[tok_start[1:]] = (1 - tok_len[:-1]).astype(np.uint64)
    h[0] = 0
    np.cumsum(h, out=h)
    # the character hashes fmix64(c ^ (pos << 32) ^ K), built in place from the positions
    h <<= _S32
    np.bitwise_xor(h, c, out=h)
    h ^= _CHAR_KEY
    _fmix64_inplace(h)
    # tokens: every word of a word-mode document, every word character of a char-mode document;
    # each token's sum of character hashes (a character token's is its own hash), as differences
    # of a running sum (uint64 wraparound is exact): cheaper than np.add.reduceat's segments
    np.cumsum(h, out=h)
    tok_last = tok_start + (tok_len - 1)
    tokens = h[tok_last]
    tokens[1:] -= h[tok_last[:-1]]
    tok_char = char_tok[tok_start]
    words = ~tok_char
    if words.any():  # a word's hash: fmix64(sum of its characters' hashes + length)
        summed = tokens[words]
        summed += tok_len[words].astype(np.uint64)
        tokens[words] = _fmix64_inplace(summed)
    tok_count = np.diff(np.searchsorted(tok_start, word_end), prepend=0)  # tokens per document
    return tokens, tok_char, tok_count


def batch_shingle_hashes(
    norms: list[str], char_mode: list[bool | None], word_n: int, char_n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shingle hashes of a whole batch of normalised texts in a few NumPy passes.

    ``char_mode[i]`` is True for character shingles, False for word shingles, None to decide by
    script (:func:`looks_unspaced`). Returns ``(hv, docs, lengths)``: ``hv`` holds segment after
    segment, segment ``k`` being every shingle of document ``docs[k]`` (``lengths[k]`` values, in
    document order) — exactly what :func:`ngram_hashes` of :func:`word_hashes` or :func:`char_hashes`
    gives that document alone (tested); documents without shingles have no segment.
    """
    n_docs = len(norms)
    empty = (np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))
    if not n_docs:
        return empty
    # one encode for the batch; a separator (not a word character) after each document keeps
    # words inside documents and gives every document a non-empty stretch of code points
    cps = codepoints("\x00".join(norms) + "\x00")
    doc_end = np.cumsum(np.fromiter((len(t) + 1 for t in norms), dtype=np.intp, count=n_docs))
    # the word characters, compressed once: their positions, code points and documents
    word_at = np.flatnonzero(word_char_table()[cps])
    c = cps[word_at]
    word_end = np.searchsorted(word_at, doc_end)  # word characters before the end of each document
    word_count = np.diff(word_end, prepend=0)
    mode = np.array([bool(m) for m in char_mode], dtype=bool)
    undecided = np.array([m is None for m in char_mode], dtype=bool)
    if undecided.any():
        wdoc = np.repeat(np.arange(n_docs, dtype=np.intp), word_count)
        unspaced = np.bincount(wdoc[_unspaced_script(c)], minlength=n_docs)
        mode[undecided] = ((word_count > 0) & (unspaced >= 0.3 * word_count))[undecided]
    if c.size == 0:
        return empty
    if mode.all():  # character shingles only: every word character is a token at position 0
        tokens = c.astype(np.uint64)
        tokens ^= _CHAR_KEY
        _fmix64_inplace(tokens)
        tok_char, tok_count, both_modes = None, word_count, False
    else:
        tokens, tok_char, tok_count = _batch_tokens(c, word_at, word_end, np.repeat(mode, word_count))
        both_modes = bool(tok_char.any() and not tok_char.all())
    hv_parts, doc_parts, len_parts = [], [], []
    for is_char, n in ((False, word_n), (True, char_n)):
        docs = np.flatnonzero((mode == is_char) & (tok_count > 0))
        if not docs.size:
            continue
        t = tokens[tok_char == is_char] if both_modes else tokens
        count = tok_count[docs]
        full = count >= n
        if full.any():
            # n-grams over the concatenated tokens, then keep those that start and end in one document
            d = np.repeat(docs, count)
            k = t.size - n + 1
            acc = t[:k].copy()
            for i in range(1, n):
                acc *= _NGRAM_MUL
                acc += t[i : i + k]
            acc += _U64(n)
            keep = d[:k] == d[n - 1 :]
            kept = _fmix64_inplace(acc[keep])
            kept >>= _S32
            hv_parts.append(kept.astype(np.uint32))
            doc_parts.append(docs[full])
            len_parts.append(count[full] - n + 1)
        first_tok = np.cumsum(count) - count  # each document's first token in t
        for doc, lo, m in zip(docs[~full].tolist(), first_tok[~full].tolist(), count[~full].tolist()):
            # fewer tokens than n: one shingle of all of them
            hv_parts.append(ngram_hashes(t[lo : lo + m], n))
            doc_parts.append(np.array([doc], dtype=np.intp))
            len_parts.append(np.array([1], dtype=np.intp))
    if not hv_parts:
        return empty
    return np.concatenate(hv_parts), np.concatenate(doc_parts), np.concatenate(len_parts).astype(np.intp)
