"""Vectorised MinHash signatures, bit-for-bit equal to datasketch's.

datasketch 2.0.0 changed the default permutation scheme from ``"legacy"`` —
``((a * h + b) % (2**61 - 1)) & (2**32 - 1)`` in uint64, stored as uint64 — to ``"affine32"``:
the 32-bit input hash is pre-mixed once with the MurmurHash3 32-bit finaliser, then permuted with
``a * h + b mod 2**32`` (``a`` odd, so a bijection), stored as uint32. Legacy's fold from the 61-bit
prime range to 32 bits is not a bijection and inflates similarity estimates on large sets
(datasketch issue 212); affine32 is collision-free and half the size. We use **affine32**
(``SCHEME``), the datasketch 2.0 default; the manifest records it. ``"legacy"`` is available for
comparing with sketches made by datasketch < 2.0.

Equality contract (tested): for the same ``num_perm``, ``seed`` and scheme, and the same shingle hash
values ``hv``, ``MinHasher(...).signature_from_hashes(hv)`` equals
``datasketch.MinHash(num_perm, seed, hashfunc=lambda x: x, scheme=SCHEME)`` after
``update_batch(hv)`` — its ``hashvalues``. Our shingle hash values come from
:mod:`pipeline.minhash.shingles` (words hashed once, n-grams combined in NumPy) instead of
datasketch's per-shingle ``sha1_hash32``; that is where the speed comes from.

``signatures`` computes a whole batch at once: all shingles of all documents are permuted and
reduced per document in one compiled pass per chunk (:mod:`pipeline.minhash.kernels`; for the
legacy scheme, one (shingles × num_perm) NumPy array per chunk reduced with ``np.minimum.reduceat``).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from pipeline.compiled_kernels import dispatch
from pipeline.minhash.shingles import (
    base_lang,
    batch_shingle_hashes,
    char_hashes,
    codepoints,
    looks_unspaced,
    normalize,
    ngram_hashes,
    word_hashes,
)

SCHEME = "affine32"
SCHEMES = ("affine32", "legacy")

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
# Shingles permuted per NumPy call, into one reused (num_perm x chunk) buffer: small enough
# (4096 x 128 x 4 B = 2 MiB) to stay in the CPU cache between the multiply and the segmented min.
_CHUNK_SHINGLES = 4096
# Documents shingled together, up to this many code points: the batch's per-code-point arrays
# (at most 512 KiB each) stay in the CPU cache and in reused heap memory; larger ones cost more in
# fresh pages and cache misses than in arithmetic.
_GROUP_CODEPOINTS = 1 << 16


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


# the affine32 permute-and-min kernel: its compiled build, else numba's JIT (compiled on first use)
_permute_min_affine32 = dispatch("permute_min_affine32")


def _writable_contiguous(values: np.ndarray, dtype) -> np.ndarray:
    """``values`` as a writable C-contiguous array of ``dtype`` (integers cast as ``astype`` does),
    copied only when it is not one: the kernel's compiled variants take these."""
    out = np.asarray(values).astype(dtype, copy=False)
    if not (out.flags.c_contiguous and out.flags.writeable):
        out = out.copy()
    return out


def permutations(num_perm: int, seed: int, scheme: str = SCHEME) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) permutation parameters datasketch draws for ``num_perm``, ``seed``, ``scheme``."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array(
            [
                (gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                for _ in range(num_perm)
            ],
            dtype=np.uint64,
        ).T
        return ab[0].copy(), ab[1].copy()
    if scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        return a, b
    raise ValueError(f"unsupported MinHash scheme {scheme!r}; use one of {SCHEMES}")


class MinHasher:
    """Shingles a document by language and computes its datasketch-equal MinHash signature.

    Cheap to build and to pickle; the permutation parameters are drawn on first use.
    """

    def __init__(
        self,
        num_perm: int = 128,
        seed: int = 1,
        shingle_words: int = 5,
        shingle_chars: int = 5,
        char_shingle_langs: Sequence[str] = ("ko", "ja", "zh", "th"),
        scheme: str = SCHEME,
    ) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"unsupported MinHash scheme {scheme!r}; use one of {SCHEMES}")
        self.num_perm = int(num_perm)
        self.seed = int(seed)
        self.shingle_words = int(shingle_words)
        self.shingle_chars = int(shingle_chars)
        self.char_shingle_langs = frozenset(base_lang(x) for x in char_shingle_langs)
        self.scheme = scheme
        self._ab: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_config(cls, dedup_config) -> "MinHasher":
        return cls(
            num_perm=dedup_config.num_perm,
            seed=dedup_config.seed,
            shingle_words=dedup_config.shingle_words,
            shingle_chars=dedup_config.shingle_chars,
            char_shingle_langs=tuple(dedup_config.char_shingle_langs),
        )

    @property
    def dtype(self) -> type:
        return np.uint32 if self.scheme == "affine32" else np.uint64

    @property
    def empty_value(self):
        return self.dtype((1 << 32) - 1)

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ab is None:
            self._ab = permutations(self.num_perm, self.seed, self.scheme)
        return self._ab

    # -- shingles -------------------------------------------------------------------------
    def uses_chars(self, cps: np.ndarray, lang: str | None) -> bool:
        """Character shingles for the configured languages; unlabelled text decides by its script."""
        code = base_lang(lang)
        if code is None:
            return looks_unspaced(cps)
        return code in self.char_shingle_langs

    def shingle_hashes(self, text: str, lang: str | None) -> np.ndarray:
        """uint32 hash of every shingle of ``text`` (duplicates included, document order)."""
        cps = codepoints(normalize(text))
        if self.uses_chars(cps, lang):
            return ngram_hashes(char_hashes(cps), self.shingle_chars)
        return ngram_hashes(word_hashes(cps), self.shingle_words)

    # -- signatures -----------------------------------------------------------------------
    def _permute_min(self, hv: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Min over each segment [starts[i], starts[i+1]) of the permuted hashes → (len(starts), P):
        for affine32 the compiled kernel (:mod:`pipeline.minhash.kernels`), else NumPy."""
        if self.scheme != "affine32" or len(starts) == 0:
            return self._permute_min_numpy(hv, starts)
        a, b = self._params()
        x = _writable_contiguous(hv, np.uint32)
        out = np.empty((len(starts), self.num_perm), dtype=np.uint32)
        _permute_min_affine32(x, _writable_contiguous(starts, np.int64), a, b, out)
        return out

    def _permute_min_numpy(self, hv: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """:meth:`_permute_min` in NumPy (the reference the kernel is tested equal to, and the
        legacy scheme's path).

        Laid out (num_perm, shingles) so that both the outer product and the segmented min run
        along contiguous memory (faster than reducing over axis 0).
        """
        a, b = self._params()
        if self.scheme == "affine32":
            x = _fmix32(hv.astype(np.uint32))
        else:
            x = hv.astype(np.uint64)
        phv, b_rows = self._buffers(x.size)
        np.multiply.outer(a, x, out=phv)
        phv += b_rows  # same-shape add: NumPy's broadcast of b[:, None] is several times slower
        if self.scheme == "legacy":  # exactly datasketch's uint64 arithmetic, including the wraparound of a * h
            phv %= _MERSENNE
            phv &= _MAX32
        return np.minimum.reduceat(phv, starts, axis=1).T

    def _buffers(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(num_perm, size) views of a buffer reused across calls (no fresh pages per block) and of
        ``b`` repeated along each row."""
        buf = self.__dict__.get("_buf")
        if buf is None or buf.shape[1] < size:
            width = max(size, _CHUNK_SHINGLES)
            buf = np.empty((self.num_perm, width), dtype=self.dtype)
            self._buf = buf
            self._b_rows = np.repeat(self._params()[1][:, None], width, axis=1)
        return buf[:, :size], self._b_rows[:, :size]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_ab"] = None
        state.pop("_buf", None)
        state.pop("_b_rows", None)
        return state

    def signature_from_hashes(self, hv: np.ndarray) -> np.ndarray:
        """Signature of one set of shingle hash values (datasketch ``update_batch`` semantics)."""
        hv = np.asarray(hv)
        if hv.size == 0:
            return np.full(self.num_perm, self.empty_value, dtype=self.dtype)
        out = np.full(self.num_perm, self.empty_value, dtype=self.dtype)
        for lo in range(0, hv.size, _CHUNK_SHINGLES):
            part = self._permute_min(hv[lo : lo + _CHUNK_SHINGLES], np.zeros(1, dtype=np.intp))[0]
            np.minimum(out, part, out=out)
        return out

    def signature(self, text: str, lang: str | None = None) -> np.ndarray:
        """(num_perm,) signature; uint32 for affine32 (datasketch's dtype), uint64 for legacy."""
        return self.signature_from_hashes(self.shingle_hashes(text, lang))

    def signatures(self, texts: Iterable[str], langs: Iterable[str | None] | None = None) -> np.ndarray:
        """(n, num_perm) signatures of a batch (equal, row by row, to :meth:`signature`)."""
        texts = list(texts)
        return self.signatures_of_normalized([normalize(t) for t in texts], langs)

    def signatures_of_normalized(
        self, norms: list[str], langs: Iterable[str | None] | None = None
    ) -> np.ndarray:
        """:meth:`signatures` of texts already through :func:`normalize`: documents are shingled
        many at once (:func:`batch_shingle_hashes`), then permuted and reduced in blocks."""
        langs = [None] * len(norms) if langs is None else list(langs)
        modes = []
        for lang in langs:
            code = base_lang(lang)
            modes.append(None if code is None else code in self.char_shingle_langs)
        # character-shingle documents first, then the rest: a group of one mode skips the other's steps
        order = sorted(range(len(norms)), key=lambda i: modes[i] is not True)
        norms = [norms[i] for i in order]
        modes = [modes[i] for i in order]
        ordered = np.full((len(norms), self.num_perm), self.empty_value, dtype=self.dtype)
        lo = 0
        while lo < len(norms):  # groups of documents of at most _GROUP_CODEPOINTS (or one document)
            hi, size = lo + 1, len(norms[lo])
            while hi < len(norms) and size + len(norms[hi]) <= _GROUP_CODEPOINTS:
                size += len(norms[hi])
                hi += 1
            self._fill(ordered[lo:hi], norms[lo:hi], modes[lo:hi])
            lo = hi
        out = np.empty_like(ordered)
        out[order] = ordered
        return out

    def _fill(self, out: np.ndarray, norms: list[str], modes: list[bool | None]) -> None:
        """Signatures of one group of documents into ``out`` (rows without shingles untouched)."""
        hv, docs, lengths = batch_shingle_hashes(norms, modes, self.shingle_words, self.shingle_chars)
        ends = np.cumsum(lengths)
        block: list[int] = []  # segment indices permuted together
        size = 0

        def flush() -> None:
            nonlocal block, size
            if block:
                first, last = block[0], block[-1]
                lo = int(ends[first] - lengths[first])
                starts = (ends[first : last + 1] - lengths[first : last + 1]) - lo
                out[docs[first : last + 1]] = self._permute_min(hv[lo : int(ends[last])], starts)
            block, size = [], 0

        for k, length in enumerate(lengths.tolist()):
            if length > _CHUNK_SHINGLES:
                flush()
                lo = int(ends[k]) - length
                out[docs[k]] = self.signature_from_hashes(hv[lo : lo + length])
                continue
            if size + length > _CHUNK_SHINGLES:
                flush()
            block.append(k)
            size += length
        flush()


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of equal signature values (datasketch ``jaccard``)."""
    return float(np.count_nonzero(sig_a == sig_b)) / float(len(sig_a))
