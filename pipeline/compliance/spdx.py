"""SPDX normalisation and license-text matching against ScanCode's reference texts.

* :func:`normalize_expression` turns declared fields and ``SPDX-License-Identifier:`` values into
  SPDX expressions through ``license-expression`` (ScanCode's license index: ``GPL-2.0+`` →
  ``GPL-2.0-or-later``), with a name alias table ("Apache License 2.0" → ``Apache-2.0``) generated
  from the same database.
* :class:`LicenseMatcher` finds full or partial license texts and standard notices/headers in a
  document: both are tokenised to lower-case ASCII words, references are fingerprinted once as
  word 4-grams (each distinct 4-gram once, sorted, with the references that have it: a file the
  workers memory-map), and a document's 4-grams are looked up and counted per reference by compiled
  loops (:mod:`pipeline.compliance.kernels`; the NumPy reference path without numba); a reference
  matches when enough of its 4-grams occur. Overlapping
  matches are resolved greedily (the larger match wins, so the "how to apply" notice inside a full
  GPL text does not count on its own).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np
import zstandard

from pipeline.batching import char_runs

_TOKEN = re.compile(r"[a-z0-9]+")
_SPDX_ID_LINE = re.compile(r"SPDX-License-Identifier\s*:\s*([^\n\r*#;\"'<>]+?)\s*(?:\*/|-->|$)", re.I | re.M)
_LATER_VERSION = re.compile(r"\b(?:later|newer|greater|subsequent)\b")
_EXPR_CHARS = re.compile(r"^[A-Za-z0-9.+\-: ()]+$")


_NOTICE = 1
_KIND_CODES = {"text": 0, "notice": _NOTICE, "reference": 2, "pointer": 3}


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


# a word of at most _PACKED_CHARS characters of [a-z0-9] as one integer: base 37, a-z = 1…26,
# 0-9 = 27…36 (0: not a word character), so two such words get the same number only if they are equal
_PACKED_CHARS = 12  # 37**12 < 2**64
_PACK_CODE = np.zeros(129, dtype=np.uint64)  # code point (128: any larger one) -> digit
_PACK_CODE[ord("a") : ord("z") + 1] = np.arange(1, 27, dtype=np.uint64)
_PACK_CODE[ord("0") : ord("9") + 1] = np.arange(27, 37, dtype=np.uint64)
_INVERSE_37 = pow(37, -1, 1 << 64)  # 37 is odd: invertible modulo 2**64
_BATCH_CHARS = 1 << 21


class WordIds:
    """``[vocab.get(w, 0) for w in tokenize(text)]`` from the lower-cased text's code points, with no
    Python step per word: words are the runs of [a-z0-9] (``_TOKEN``). A word's packed number
    (sum of digit × 37**offset) is a difference of prefix sums of digit × 37**position, shifted back by the
    inverse power of its start (all modulo 2**64, exact below 2**64), looked up in the sorted packed
    vocabulary; the rare longer word is a dict lookup."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self._powers = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))
        short = {w: i for w, i in vocab.items() if len(w) <= _PACKED_CHARS and _TOKEN.fullmatch(w)}
        packed = self._packed(*word_bounds("\n".join(short)))  # one word per line: each one run
        order = np.argsort(packed)
        self.keys = packed[order]
        self.ids = np.array(list(short.values()), dtype=np.uint64)[order]

    def _powers_for(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """37**k and 37**-k modulo 2**64 for k < n at least: kept up to a run's size (grown by
        doubling; one tuple, so a thread never reads a new table with an old one), made for the
        call only for a longer text."""
        powers = self._powers
        if len(powers[0]) < n:
            size = max(n, min(2 * len(powers[0]), _BATCH_CHARS + 1))
            powers = (_power_table(37, size), _power_table(_INVERSE_37, size))
            if size <= _BATCH_CHARS + 1:
                self._powers = powers
        return powers

    def __call__(self, low: str) -> np.ndarray:
        """The vocabulary id (0: none) of each word of lower-cased ``low``, in text order."""
        return self._ids(low)[0]

    def batch(self, lows: list[str]) -> list[np.ndarray]:
        """:meth:`__call__` of each lower-cased text, computed together (joined by a newline, which no
        word crosses) in runs of up to ``_BATCH_CHARS`` characters (the arrays take ~40 bytes a character)."""
        out: list[np.ndarray] = []
        for lo, hi in char_runs(lows, _BATCH_CHARS):
            run = lows[lo:hi]
            ids, starts = self._ids("\n".join(run))
            offsets = np.zeros(len(run) + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, run), dtype=np.int64, count=len(run)) + 1, out=offsets[1:])
            bounds = np.searchsorted(starts, offsets).tolist()
            out += [ids[a:b] for a, b in zip(bounds, bounds[1:])]
        return out

    def _packed(self, cps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The packed number of each word ``cps[starts[i]:ends[i]]`` (exact for the short ones)."""
        powers, inverse_powers = self._powers_for(len(cps))
        prefix = np.zeros(len(cps) + 1, dtype=np.uint64)
        np.cumsum(_PACK_CODE[np.minimum(cps, 128)] * powers[: len(cps)], out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * inverse_powers[starts]

    def _ids(self, low: str) -> tuple[np.ndarray, np.ndarray]:
        """(id of each word, its first character's index) of ``low``."""
        cps, starts, ends = word_bounds(low)
        if not len(starts):
            return np.zeros(0, dtype=np.uint64), starts
        packed = self._packed(cps, starts, ends)
        long = (ends - starts) > _PACKED_CHARS
        at = np.searchsorted(self.keys, packed)
        np.minimum(at, len(self.keys) - 1, out=at)
        ids = np.where((self.keys[at] == packed) & ~long, self.ids[at], np.uint64(0))
        get = self.vocab.get
        for j in np.flatnonzero(long).tolist():
            ids[j] = get(low[starts[j] : ends[j]], 0)
        return ids, starts


def word_bounds(low: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points, word starts, word ends) of lower-cased ``low``: the words of :func:`tokenize`
    (``[a-z0-9]+``) from one vectorised pass instead of a match object per word."""
    if low.isascii():
        cps = np.frombuffer(low.encode("ascii"), dtype=np.uint8)
    else:  # lone surrogates (from JSON escapes) are code points like any other here
        cps = np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    edges = run_edges(((cps >= 97) & (cps <= 122)) | ((cps >= 48) & (cps <= 57)))
    return cps, edges[::2], edges[1::2]


def _power_table(base: int, n: int) -> np.ndarray:
    """base**k modulo 2**64 for k < n."""
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, out=out)


_ALIAS_TOKEN = re.compile(r"[a-z]+|[0-9]+|\+")
ALIAS_FILLER = frozenset(
    "the a an license licence licensed version ver v international unported generic public only".split()
)


def alias_tokens(text: str) -> list[str]:
    """Name tokens: letters, digit runs and "+"; "GPLv2" -> gpl 2 (a "v" glued to a version is dropped)."""
    toks = _ALIAS_TOKEN.findall(text.lower())
    for i in range(len(toks) - 1):
        t = toks[i]
        if len(t) > 2 and t.endswith("v") and toks[i + 1].isdigit():
            toks[i] = t[:-1]
    return toks


def alias_key_of(tokens: list[str]) -> str:
    """Key of a token run: fillers dropped, a lone major version completed ("2" -> "20", so
    "GPL version 2", "GPLv2" and "GPL-2.0" meet)."""
    out = []
    kept = [t for t in tokens if t not in ALIAS_FILLER]
    for i, t in enumerate(kept):
        out.append(t)
        if t.isdigit() and len(t) == 1 and not (i + 1 < len(kept) and kept[i + 1].isdigit()) and not (i and kept[i - 1].isdigit()):
            out.append("0")
    return "".join(out)


def alias_key(text: str) -> str:
    """Normalised license name: "GNU General Public License, Version 2.0" -> "gnugeneral20"."""
    return alias_key_of(alias_tokens(text))


def spdx_identifier_values(text: str) -> list[str]:
    """The raw values of every ``SPDX-License-Identifier:`` line in ``text``."""
    return [m.group(1).strip() for m in _SPDX_ID_LINE.finditer(text)]


@dataclass(slots=True)
class Match:
    expr: str  # SPDX expression of the reference
    kind: str  # "text" | "notice" | "reference" (a license name, URL or tag) | "pointer" ("see COPYING")
    start: int  # first matched token position
    end: int  # one past the last matched token
    matched: int  # matching 4-grams
    coverage: float  # matched / reference 4-grams
    ref: int  # reference index
    repeated: float = 0.0  # share of its matched 4-grams that occur more than once in the document
    covered: np.ndarray | None = None  # start positions of every document 4-gram this reference has
    missing_words: int = 0  # longest inner run of the reference's own words the document lacks (full texts)
    ref_words: int = 0  # words of that reference text


def remember(cache: dict, key, value):
    """``cache[key] = value``, the cache emptied first when it has grown to its bound (keys come
    from documents: an unbounded cache would grow with the corpus); returns ``value``."""
    if len(cache) >= _CACHE_BOUND:
        cache.clear()
    cache[key] = value
    return value


_CACHE_BOUND = 4096


class SpdxNormalizer:
    """Expression normalisation over license-expression's ScanCode index plus generated aliases."""

    def __init__(self, aliases: dict[str, str]) -> None:
        from license_expression import get_spdx_licensing

        self._licensing = get_spdx_licensing()
        self._aliases = aliases
        # parsing an expression is the slow part and the same few expressions recur in every
        # document: each answer is kept (bounded: values come from documents)
        self._normal: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        self._keys: dict[str, tuple[str, ...]] = {}
        self._combined: dict[tuple[tuple[str, ...], str], str | None] = {}

    def normalize(self, value: str | None) -> tuple[str | None, list[str]]:
        """(SPDX expression or None, unknown symbols). Never raises on bad input."""
        if not isinstance(value, str):
            return self._normalize(value)
        hit = self._normal.get(value)
        if hit is None:
            expr, unknown = self._normalize(value)
            hit = remember(self._normal, value, (expr, tuple(unknown)))
        return hit[0], list(hit[1])

    def _normalize(self, value: str | None) -> tuple[str | None, list[str]]:
        if value is None:
            return None, []
        value = str(value).strip()
        if not value:
            return None, []
        alias = self._aliases.get(alias_key(value))
        if alias:
            return alias, []
        candidate = re.sub(r"\s*/\s*", " OR ", value)  # "MIT/Apache-2.0" (Cargo's old style)
        if not _EXPR_CHARS.match(candidate):
            return None, [value[:64]]
        try:
            expr = self._licensing.parse(candidate, validate=False)
        except Exception:  # noqa: BLE001 - license_expression raises several error types
            return None, [value[:64]]
        if expr is None:
            return None, []
        unknown = [str(s) for s in self._licensing.unknown_license_keys(expr)]
        return expr.render("{symbol.key}"), unknown

    def keys(self, expression: str) -> list[str]:
        hit = self._keys.get(expression)
        if hit is None:
            hit = remember(self._keys, expression, tuple(self._parsed_keys(expression)))
        return list(hit)

    def _parsed_keys(self, expression: str) -> list[str]:
        try:
            return list(self._licensing.license_keys(self._licensing.parse(expression, validate=False)))
        except Exception:  # noqa: BLE001
            return []

    def combine(self, expressions: list[str], op: str) -> str | None:
        key = (tuple(expressions), op)
        if key not in self._combined:
            remember(self._combined, key, self._combine(expressions, op))
        return self._combined[key]

    def _combine(self, expressions: list[str], op: str) -> str | None:
        uniq = list(dict.fromkeys(e for e in expressions if e))
        if not uniq:
            return None
        if len(uniq) == 1:
            return uniq[0]
        joined = f" {op} ".join(f"({e})" if (" OR " in e or " AND " in e) else e for e in uniq)
        try:
            return self._licensing.parse(joined, validate=False).simplify().render("{symbol.key}")
        except Exception:  # noqa: BLE001
            return joined

    def parse(self, expression: str):
        return self._licensing.parse(expression, validate=False)


BUCKET_SHIFT = 48  # the compiled lookup groups 4-gram keys by their top 16 bits: a short search in one group
_INDEX_VERSION = 2  # bump when _build_index changes what it stores
_INDEX_MAGIC = b"CURLIDX2"
_ALIGN = 64


def _index_cache_path(refs: bytes, n: int) -> Path | None:
    """Where the built reference index is kept between processes: the user cache folder
    (``$XDG_CACHE_HOME/curation-pipeline/license-index``), named by the reference file's content
    and the n-gram size, so an edited reference file gets a new index. ``None`` when
    ``CURATE_NO_INDEX_CACHE`` is set."""
    import hashlib
    import os

    if os.environ.get("CURATE_NO_INDEX_CACHE"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(refs + f"|n={n}|v={_INDEX_VERSION}".encode()).hexdigest()[:24]
    return base / "curation-pipeline" / "license-index" / f"{digest}.idx"


def index_bytes(index) -> bytes:
    """One file: magic, header length, a JSON header (the index's small data and where each array
    lies), then the arrays, each at a 64-byte boundary, so a reader maps them in place."""
    meta, arrays = index
    layout = {}
    offset = 0
    for name, arr in arrays.items():
        layout[name] = [arr.dtype.str, int(arr.size), offset]
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"meta": meta, "arrays": layout}, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    head = len(_INDEX_MAGIC) + 8 + len(header)
    pad = -head % _ALIGN
    parts = [_INDEX_MAGIC, (head + pad).to_bytes(8, "little"), header, b" " * pad]
    for arr in arrays.values():
        data = np.ascontiguousarray(arr).tobytes()
        parts += [data, b"\0" * (-len(data) % _ALIGN)]
    return b"".join(parts)


def _load_index(path: Path):
    """The index in ``path``, its arrays memory-mapped read-only (workers share the pages); ``None``
    when the file is missing, partial or not one."""
    import mmap

    try:
        with open(path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if mapped[: len(_INDEX_MAGIC)] != _INDEX_MAGIC:
            return None
        body = int.from_bytes(mapped[len(_INDEX_MAGIC) : len(_INDEX_MAGIC) + 8], "little")
        header = json.loads(bytes(mapped[len(_INDEX_MAGIC) + 8 : body]).rstrip(b" "))
        arrays = {}
        for name, (dtype, size, offset) in header["arrays"].items():
            arrays[name] = np.frombuffer(mapped, dtype=np.dtype(dtype), count=size, offset=body + offset)
        return (header["meta"], arrays) if _consistent(header["meta"], arrays) else None
    except Exception:  # noqa: BLE001 - missing, partial or foreign file: rebuild it
        return None


def _consistent(meta: dict, arrays: dict[str, np.ndarray]) -> bool:
    """Whether every row and reference number in the arrays points inside them: the compiled loops
    index without bounds checks, so a damaged or foreign file must never reach them."""
    n_refs = len(meta["exprs"])
    keys, starts, refs = arrays["gram_keys"], arrays["gram_starts"], arrays["post_refs"]
    bounds, ids = arrays["text_bounds"], arrays["text_ids"]
    return (len(starts) == len(keys) + 1 and int(starts[0]) == 0 and int(starts[-1]) == len(refs)
            and bool(np.all(np.diff(starts) >= 0)) and bool(np.all(np.diff(keys) > 0))
            and (not len(refs) or int(refs.max()) < n_refs)
            and len(arrays["sizes"]) == n_refs == len(arrays["text_words"]) == len(bounds) - 1
            and int(bounds[0]) == 0 and int(bounds[-1]) == len(ids) and bool(np.all(np.diff(bounds) >= 0))
            and (not len(ids) or int(ids.max()) <= len(meta["words"])))


def _save_index(path: Path, index) -> None:
    """Written to a temporary name and renamed: concurrent workers never read a partial file."""
    import os
    import tempfile

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(index_bytes(index))
        os.replace(tmp, path)
    except OSError:  # read-only or full cache folder: the index is simply built again next time
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


_SCANCODE_REF = re.compile(r"LicenseRef-scancode-([A-Za-z0-9.+-]+)")


def scancode_renames() -> dict[str, str]:
    """ScanCode key -> SPDX id, for the keys the installed license-expression index gives an SPDX id
    that the reference set (built from an older ScanCode release) still writes as
    ``LicenseRef-scancode-<key>``: the label then agrees with ``license-expression`` and the SPDX list."""
    from license_expression import get_license_index

    return {d["license_key"]: d["spdx_license_key"] for d in get_license_index()
            if d.get("spdx_license_key") and not d["spdx_license_key"].startswith("LicenseRef-")}


def _renamed(expr: str, renamed: dict[str, str]) -> str:
    return _SCANCODE_REF.sub(lambda m: renamed.get(m.group(1), m.group(0)), expr)


def _kernels():
    """The compiled posting walks (their ahead-of-time build when there is one: no numba in the
    worker), or ``None`` without numba (the NumPy path then)."""
    from pipeline import compiled_kernels

    if compiled_kernels.available():
        return compiled_kernels.namespace(("find_slots", "count_postings", "select_postings"))
    try:
        from pipeline.compliance import kernels  # noqa: PLC0415 - numba: loaded on first use
    except Exception:  # noqa: BLE001 - no numba, or no writable place for its cache: the NumPy path
        return None
    return kernels


def find_slots_numpy(uniq: np.ndarray, gram_keys: np.ndarray, bucket_starts: np.ndarray) -> np.ndarray:
    """Reference of :func:`pipeline.compliance.kernels.find_slots`: one binary search over all keys."""
    if not len(gram_keys):
        return np.full(len(uniq), -1, dtype=np.int64)
    slots = np.searchsorted(gram_keys, uniq).astype(np.int64)
    np.minimum(slots, len(gram_keys) - 1, out=slots)
    slots[gram_keys[slots] != uniq] = -1
    return slots


def count_postings_numpy(slots: np.ndarray, starts: np.ndarray, post_refs: np.ndarray, n_refs: int):
    """Reference of :func:`pipeline.compliance.kernels.count_postings`: every posting pair at once."""
    idx = _posting_rows(slots, starts)
    return np.bincount(post_refs[idx], minlength=n_refs)


def select_postings_numpy(slots: np.ndarray, starts: np.ndarray, post_refs: np.ndarray, ok: np.ndarray,
                          counts: np.ndarray, first_pos: np.ndarray):
    """Reference of :func:`pipeline.compliance.kernels.select_postings`: every pair, then a sort."""
    idx = _posting_rows(slots, starts)
    lens = _posting_lens(slots, starts)
    pair_ref = post_refs[idx].astype(np.int64)
    sel = ok[pair_ref]
    pair_ref, pair_gram = pair_ref[sel], np.repeat(np.arange(len(slots)), lens)[sel]
    order = np.lexsort((first_pos[pair_gram], pair_ref))
    return pair_ref[order], pair_gram[order]


def _posting_lens(slots: np.ndarray, starts: np.ndarray) -> np.ndarray:
    safe = np.maximum(slots, 0)
    return np.where(slots >= 0, starts[safe + 1] - starts[safe], 0).astype(np.int64)


def _posting_rows(slots: np.ndarray, starts: np.ndarray) -> np.ndarray:
    lens = _posting_lens(slots, starts)
    lo = starts[np.maximum(slots, 0)].astype(np.int64)
    total = int(lens.sum())
    return np.repeat(lo - np.cumsum(np.r_[0, lens[:-1]]), lens) + np.arange(total)


# Thresholds of a rules file whose ``matching`` section leaves a key out: the values shipped in
# rules/licenses.yaml (a test holds the two equal, so a missing key never means another threshold).
MATCHING_DEFAULTS = {
    "ngram": 4,
    "notice_min_coverage": 0.75,
    "text_min_coverage": 0.8,
    "partial_text_min_coverage": 0.3,
    "partial_text_min_ngrams": 60,
    "short_ref_ngrams": 12,
    "removed_edge_share": 0.1,
    "removed_edge_min_words": 250,
    "short_text_words": 40,
}


class LicenseMatcher:
    """Fingerprint matcher over the generated reference set (``rules/license_refs.json.zst``).

    ``fast``: walk the posting lists with the compiled kernels (default when numba is there);
    ``False`` keeps the NumPy reference path (the same findings)."""

    def __init__(self, refs_path: Path, matching: dict, fast: bool | None = None) -> None:
        raw = Path(refs_path).read_bytes()
        matching = {**MATCHING_DEFAULTS, **matching}
        self.n = int(matching["ngram"])
        self.notice_cov = float(matching["notice_min_coverage"])
        self.text_cov = float(matching["text_min_coverage"])
        self.partial_cov = float(matching["partial_text_min_coverage"])
        self.partial_min = int(matching["partial_text_min_ngrams"])
        self.short = int(matching["short_ref_ngrams"])
        self.removed_edge_share = float(matching["removed_edge_share"])
        self.removed_edge_min_words = int(matching["removed_edge_min_words"])
        cache = _index_cache_path(raw, self.n)
        index = _load_index(cache) if cache is not None else None
        if index is None:
            index = self._build_index(json.loads(zstandard.ZstdDecompressor().decompress(raw)))
            if cache is not None:
                _save_index(cache, index)
        meta, arrays = index
        self.source = meta["source"]
        # full texts keep their words (as vocabulary ids): which part of one a document lacks (a
        # removed clause) is asked
        self.text_ids = arrays["text_ids"]
        self.text_bounds = arrays["text_bounds"]
        text_words = arrays["text_words"]
        # full texts of a sentence or two ("this program is distributed in the hope that it will be
        # useful ..."): a fragment of a longer license when anything else is found next to them
        short_text = int(matching["short_text_words"])
        self.kinds = meta["kinds"]
        self.is_text = np.array([k == "text" for k in self.kinds])
        self.kinds_array = np.array([_KIND_CODES.get(k, -1) for k in self.kinds], dtype=np.int8)
        self.fragment_texts = frozenset(np.flatnonzero(self.is_text & (text_words < short_text)).tolist())
        self._text_words = text_words
        # references that offer "any later version": a match of one whose document lacks those words
        # is the "-only" license (pipeline.stages.license)
        self.says_later = frozenset(meta["says_later"])
        renamed = scancode_renames()
        self.exprs = [_renamed(e, renamed) for e in meta["exprs"]]
        families: dict[str, int] = {}  # same id: same_license() of the two expressions holds
        self.family_ids = np.array([families.setdefault(_VERSION_TAIL.sub("", e), len(families)) for e in self.exprs],
                                   dtype=np.int32)
        self.aliases: dict[str, str] = {k: _renamed(v, renamed) for k, v in meta["aliases"].items()}
        # full texts that may also match in part (a truncated copy); some only match whole
        self.partial_text = self.is_text & np.array(meta["partial"], dtype=bool)
        # ScanCode's own conditions of a rule: phrases that must all be there, a minimum coverage
        self.required = {int(i): v for i, v in meta["required"].items()}
        min_cov = np.array(meta["min_coverage"], dtype=np.float64)
        self.vocab: dict[str, int] = dict(zip(meta["words"], range(1, len(meta["words"]) + 1)))
        self.word_ids = WordIds(self.vocab)
        self.gram_keys = arrays["gram_keys"]  # every distinct reference 4-gram, sorted
        self.gram_starts = arrays["gram_starts"]  # its references: post_refs[gram_starts[i]:gram_starts[i + 1]]
        self.post_refs = arrays["post_refs"]
        sizes = arrays["sizes"].astype(np.int64)
        self.ref_sizes = sizes
        # minimum matched 4-grams per reference
        cov = np.where(self.is_text, self.text_cov, self.notice_cov)
        need = np.ceil(sizes * cov).astype(np.int64)
        need = np.where(sizes < self.short, sizes, need)
        self.need = np.maximum(np.maximum(need, 1), np.ceil(sizes * min_cov).astype(np.int64))
        # the one threshold a count is compared with in match(): whole (need) or, for a text that may
        # match in part, the partial one if lower; counts are integers, so ">= x" is ">= ceil(x)"
        partial_need = np.maximum(self.partial_min, np.ceil(sizes * self.partial_cov)).astype(np.int64)
        self.match_need = np.maximum(1, np.where(self.partial_text, np.minimum(self.need, partial_need), self.need))
        kernels = _kernels() if fast is not False else None
        if fast and kernels is None:
            raise ImportError("the license matcher's fast path needs numba")
        # first row of each group of keys sharing their top 16 bits (the compiled lookup's entry points)
        self.bucket_starts = np.r_[0, np.cumsum(np.bincount(
            (self.gram_keys >> np.uint64(BUCKET_SHIFT)).astype(np.int64), minlength=1 << (64 - BUCKET_SHIFT)))].astype(np.int64)
        self._find = kernels.find_slots if kernels else find_slots_numpy
        self._count = kernels.count_postings if kernels else count_postings_numpy
        self._select = kernels.select_postings if kernels else select_postings_numpy
        if kernels:  # compiled (or loaded from numba's disk cache) here, in setup, not in the first document
            none = np.zeros(0, dtype=np.int64)
            slots = self._find(np.zeros(0, dtype=np.uint64), self.gram_keys, self.bucket_starts)
            counts = self._count(slots, self.gram_starts, self.post_refs, len(sizes))
            self._select(none, self.gram_starts, self.post_refs, counts > 0, counts, none)

    def _build_index(self, data: dict):
        """(small data, arrays) of the reference set: the vocabulary in id order, each distinct
        4-gram (sorted) with the references that have it, distinct 4-grams per reference, and the
        full texts' words as vocabulary ids."""
        refs = data["refs"]
        vocab: dict[str, int] = {}
        keys: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        sizes = np.zeros(len(refs), dtype=np.int64)
        text_ids: list[np.ndarray] = []
        text_bounds = np.zeros(len(refs) + 1, dtype=np.int64)
        text_words = np.zeros(len(refs), dtype=np.int64)
        for i, r in enumerate(refs):
            ids = np.array([vocab.setdefault(t, len(vocab) + 1) for t in r["text"].split()], dtype=np.uint64)
            grams = np.unique(self._grams(ids))
            sizes[i] = len(grams)
            keys.append(grams)
            owners.append(np.full(len(grams), i, dtype=np.int32))
            if r["kind"] == "text":
                text_ids.append(ids)
                text_words[i] = r["text"].count(" ") + 1
            text_bounds[i + 1] = text_bounds[i] + (len(ids) if r["kind"] == "text" else 0)
        all_keys = np.concatenate(keys)
        all_owners = np.concatenate(owners)
        order = np.argsort(all_keys, kind="stable")
        all_keys, all_owners = all_keys[order], all_owners[order]
        gram_keys, first = np.unique(all_keys, return_index=True)
        offsets = np.r_[first, len(all_keys)]
        ref_type = np.uint16 if len(refs) <= np.iinfo(np.uint16).max else np.int32
        id_type = np.uint16 if len(vocab) <= np.iinfo(np.uint16).max else np.uint32
        row_type = np.int32 if len(all_keys) < np.iinfo(np.int32).max else np.int64
        meta = {
            "source": data.get("source", {}),
            "aliases": data.get("aliases", {}),
            "words": list(vocab),
            "exprs": [r["expr"] for r in refs],
            "kinds": [r["kind"] for r in refs],
            "partial": [bool(r.get("partial", True) and not r.get("min_coverage")) for r in refs],
            "required": {str(i): r["required"] for i, r in enumerate(refs) if r.get("required")},
            "min_coverage": [float(r.get("min_coverage") or 0.0) for r in refs],
            "says_later": [i for i, r in enumerate(refs) if _LATER_VERSION.search(r["text"])],
        }
        arrays = {
            "gram_keys": gram_keys,
            "gram_starts": offsets.astype(row_type),
            "post_refs": all_owners.astype(ref_type),
            "sizes": sizes,
            "text_ids": (np.concatenate(text_ids) if text_ids else np.zeros(0)).astype(id_type),
            "text_bounds": text_bounds,
            "text_words": text_words,
        }
        return meta, arrays

    def _grams(self, ids: np.ndarray) -> np.ndarray:
        n = self.n
        if len(ids) < n:
            return np.zeros(0, dtype=np.uint64)
        h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
        mult = np.uint64(0x9E3779B97F4A7C15)
        for k in range(n):
            h = h * mult + ids[k : len(ids) - n + 1 + k]
        return h

    def _text_grams(self, ref: int) -> np.ndarray:
        """The 4-grams of full text ``ref``, in text order."""
        return self._grams(self.text_ids[self.text_bounds[ref] : self.text_bounds[ref + 1]].astype(np.uint64))

    def reference_ok(self, counts: np.ndarray) -> np.ndarray:
        """Which references have enough matched 4-grams: the whole-match threshold, or the partial
        one for a text that may match in part (the rule :attr:`match_need` folds into one array)."""
        ok = counts >= self.need
        ok |= self.partial_text & (counts >= self.partial_min) & (counts >= self.ref_sizes * self.partial_cov)
        return ok & (counts > 0)

    def match(self, text: str, reference: bool = False, low: str | None = None, ids: np.ndarray | None = None) -> list[Match]:
        """The references found in ``text``, by document position; ``low``: ``text.lower()``, ``ids``:
        ``word_ids(low)`` if the caller has them. ``reference=True`` resolves overlaps with :func:`_resolve` over every
        candidate and looks words up one by one (the plain path the tests compare
        :func:`_resolve_candidates` and :class:`WordIds` with)."""
        if reference:
            toks = tokenize(text)
            ids = np.fromiter(map(self.vocab.get, toks, repeat(0)), dtype=np.uint64, count=len(toks))
        else:
            toks = None
            if ids is None:
                ids = self.word_ids(text.lower() if low is None else low)
        if len(ids) < self.n:
            return []
        grams = self._grams(ids)
        zero = ids == 0
        if zero.any():  # a 4-gram containing a word no reference has matches nothing
            bad = np.convolve(zero.astype(np.int8), np.ones(self.n, dtype=np.int8), "valid") > 0
            positions = np.nonzero(~bad)[0]
            grams = grams[positions]
        else:
            positions = np.arange(len(grams))
        if not len(grams):
            return []
        uniq, first, inverse, mult = np.unique(grams, return_index=True, return_inverse=True, return_counts=True)
        first_pos = positions[first]
        slots = self._find(uniq, self.gram_keys, self.bucket_starts)
        counts = self._count(slots, self.gram_starts, self.post_refs, len(self.ref_sizes))
        # the thresholds of reference_ok() in one comparison (the reference path keeps the rule's own form)
        ok = self.reference_ok(counts) if reference else counts >= self.match_need
        if self.required:
            joined = None
            for ref in np.flatnonzero(ok).tolist():
                if ref in self.required:
                    toks = tokenize(text) if toks is None else toks
                    joined = joined or " " + " ".join(toks) + " "
                    ok[ref] = all(f" {phrase} " in joined for phrase in self.required[ref])
        if not ok.any():
            return []
        # by reference, then by document position
        pair_ref, pair_gram = self._select(slots, self.gram_starts, self.post_refs, ok, counts, first_pos)
        pair_pos = first_pos[pair_gram]
        pair_rep = (mult > 1)[pair_gram]
        seg_start = np.r_[0, np.nonzero(np.diff(pair_ref))[0] + 1]
        seg_end = np.r_[seg_start[1:], len(pair_ref)]
        refs_found = pair_ref[seg_start]
        span_start, span_end = _densest_spans(pair_ref, pair_pos, seg_start, self.ref_sizes)
        repeated = np.add.reduceat(pair_rep.astype(np.int64), seg_start) / (seg_end - seg_start)
        bounds = np.r_[seg_start, len(pair_ref)]
        whole_only = self.is_text & ~self.partial_text

        def beyond(m: Match, text: Match) -> float:
            return self._share_beyond(m, text.ref, uniq, mult)

        if reference:
            matches: list[Match] = []
            exprs, kinds, n = self.exprs, self.kinds, self.n
            found = refs_found.tolist()
            # Python numbers for the loop (a NumPy scalar per field is slow), the same values
            sizes, matched_counts = self.ref_sizes[refs_found].tolist(), counts[refs_found].tolist()
            starts, ends, shares = span_start.tolist(), span_end.tolist(), repeated.tolist()
            for k, ref in enumerate(found):
                matched = matched_counts[k]
                m = Match(exprs[ref], kinds[ref], starts[k], ends[k] + n, matched, matched / max(1, sizes[k]), ref, shares[k])
                m.covered = pair_gram[bounds[k] : bounds[k + 1]]  # the reference's document 4-grams; positions below
                matches.append(m)
            kept = _resolve(matches, self.short, beyond, whole_only)
        else:
            kept = _resolve_candidates(self, refs_found, counts[refs_found], span_start, span_end + self.n, repeated,
                                       pair_gram, bounds, beyond, whole_only)
        for m in kept:
            # every occurrence, not only the first: a repeated 4-gram covers each place it stands
            m.covered = positions[in_subset(inverse, m.covered, len(uniq))]
            if m.kind == "text" and m.coverage < 1.0:
                m.missing_words = self._longest_missing(m.ref, uniq)
                m.ref_words = int(self._text_words[m.ref])
        return kept

    def _share_beyond(self, m: Match, text_ref: int, uniq: np.ndarray, mult: np.ndarray) -> float:
        """Share of ``m``'s 4-grams the document has more often than full text ``text_ref`` does."""
        ref_grams = np.sort(self._text_grams(text_ref))
        grams = uniq[m.covered]
        in_text = np.searchsorted(ref_grams, grams, "right") - np.searchsorted(ref_grams, grams, "left")
        return float(np.mean(mult[m.covered] > in_text)) if len(grams) else 0.0

    def _longest_missing(self, ref: int, doc_grams: np.ndarray) -> int:
        """Words in the longest run of reference ``ref``'s text whose 4-grams the document lacks."""
        grams = self._text_grams(ref)
        if not len(grams):
            return 0
        absent = ~in_sorted(grams, doc_grams)
        edges = run_edges(absent)
        starts, ends = edges[::2], edges[1::2]
        # inside only: a text cut short at either end (a partial copy) lacks no clause of its own; nor
        # does a long text whose copy lacks only some of its first or last lines (a title block, an
        # "effective date" line, closing contact notes)
        edge = int(len(grams) * self.removed_edge_share) if len(grams) >= self.removed_edge_min_words else 0
        inner = (starts > edge) & (ends < len(grams) - edge)
        longest = int((ends[inner] - starts[inner]).max()) if inner.any() else 0
        return longest - self.n + 1 if longest >= self.n else 0  # n-1 absent 4-grams per changed word

    @staticmethod
    def _densest_span(pos: np.ndarray, size: int) -> tuple[int, int]:
        """Start/end positions of the matched run, ignoring far-away stray hits."""
        if len(pos) == 1:
            return int(pos[0]), int(pos[0])
        gap = max(8, size // 4)
        breaks = np.nonzero(np.diff(pos) > gap)[0]
        bounds = np.r_[0, breaks + 1, len(pos)]
        sizes = np.diff(bounds)
        best = int(np.argmax(sizes))
        return int(pos[bounds[best]]), int(pos[bounds[best + 1] - 1])


def run_edges(mask: np.ndarray) -> np.ndarray:
    """Start, end, start, end ... of the runs of True in boolean ``mask``: what
    ``np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))`` gives, without ``np.r_``'s
    per-call cost (it is called for every finding)."""
    padded = np.zeros(len(mask) + 2, dtype=np.int8)
    padded[1:-1] = mask
    return np.flatnonzero(padded[1:] != padded[:-1])


def in_subset(values: np.ndarray, subset: np.ndarray, size: int) -> np.ndarray:
    """``np.isin(values, subset)`` for indexes below ``size``: one mask lookup instead of sorting
    both arrays."""
    mask = np.zeros(size, dtype=bool)
    mask[subset] = True
    return mask[values]


def in_sorted(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_unique)`` for a sorted array without repeats (``np.unique``'s):
    a binary search per value instead of sorting both arrays."""
    if not len(sorted_unique):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_unique, values)
    np.minimum(at, len(sorted_unique) - 1, out=at)
    return sorted_unique[at] == values


def _densest_spans(pair_ref: np.ndarray, pair_pos: np.ndarray, seg_start: np.ndarray, ref_sizes: np.ndarray):
    """:meth:`LicenseMatcher._densest_span` for every reference at once (one pass over all hits,
    not one numpy call per candidate reference): ``pair_pos`` sorted within each reference's
    segment. Returns the first and last position of each segment's longest run (first on ties)."""
    gap = np.maximum(8, ref_sizes[pair_ref] // 4)
    new_run = np.ones(len(pair_pos), dtype=bool)
    new_run[1:] = (np.diff(pair_pos) > gap[1:]) | (pair_ref[1:] != pair_ref[:-1])
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], len(pair_pos)]  # one past
    run_len = run_end - run_start
    run_seg = np.searchsorted(seg_start, run_start, "right") - 1
    # per segment the longest run, the first one on ties: order by (segment, -length, start)
    order = np.lexsort((run_start, -run_len, run_seg))
    first = np.r_[True, run_seg[order][1:] != run_seg[order][:-1]]
    best = order[first]
    return pair_pos[run_start[best]], pair_pos[run_end[best] - 1]


_VERSION_TAIL = re.compile(r"-(?:only|or-later)$|\+$")


def same_license(a: str, b: str) -> bool:
    """Whether two ids name one license, apart from "-only" / "-or-later" (GPL-2.0-only text,
    GPL-2.0-or-later notice)."""
    return _VERSION_TAIL.sub("", a) == _VERSION_TAIL.sub("", b)


def _resolve_candidates(matcher: "LicenseMatcher", refs: np.ndarray, matched: np.ndarray, start: np.ndarray,
                        end: np.ndarray, repeated: np.ndarray, pair_gram: np.ndarray, bounds: np.ndarray, beyond,
                        whole_only: np.ndarray) -> list[Match]:
    """:func:`_resolve` over candidates given as arrays (one entry per reference), with the same
    result: a document holding a full license text has hundreds of candidates, nearly all inside
    an earlier kept one, so a :class:`Match` is only built for a candidate that may be kept.

    Same order (the sort key of :func:`_resolve` as arrays: float products and quotients round as
    Python's do). A candidate that overlaps a kept match by more than half its span and cannot be a
    standalone notice is dropped by :func:`_resolve` whatever else holds; that test is done for all
    later candidates at once when a match is kept. Every other candidate goes through
    :func:`_resolve`'s own per-candidate logic (:func:`_keep_candidate`)."""
    count = len(refs)
    sizes = matcher.ref_sizes[refs]
    coverage = matched / np.maximum(1, sizes)
    kind_not_text = ~matcher.is_text[refs]
    order = np.lexsort((refs, kind_not_text, -coverage, -(matched * coverage)))
    refs, matched, coverage = refs[order], matched[order], coverage[order]
    start, end, repeated = start[order], end[order], repeated[order]
    seg_lo, seg_hi = bounds[:-1][order], bounds[1:][order]
    half_span = 0.5 * np.maximum(1, end - start)
    maybe_standalone = ((matcher.kinds_array[refs] == _NOTICE) & (matched >= matcher.short) & (repeated >= 0.8)).tolist()
    exprs, kinds = matcher.exprs, matcher.kinds
    ref_l, matched_l, cov_l = refs.tolist(), matched.tolist(), coverage.tolist()
    start_l, end_l, rep_l, lo_l, hi_l = start.tolist(), end.tolist(), repeated.tolist(), seg_lo.tolist(), seg_hi.tolist()
    built: dict[int, Match] = {}

    def candidate(i: int) -> Match:
        m = built.get(i)
        if m is None:
            m = Match(exprs[ref_l[i]], kinds[ref_l[i]], start_l[i], end_l[i], matched_l[i], cov_l[i], ref_l[i], rep_l[i])
            m.covered = pair_gram[lo_l[i] : hi_l[i]]
            built[i] = m
        return m

    def larger_sharing(i: int) -> list[Match]:
        # _resolve's whole-only test looks at every other candidate with more matched 4-grams that overlaps
        others = np.flatnonzero((matched > matched_l[i]) & (np.minimum(end_l[i], end) > np.maximum(start_l[i], start)))
        return [candidate(j) for j in others.tolist()]

    family = matcher.family_ids[refs]
    inside_kept = np.zeros(count, dtype=bool)  # more than half inside a kept match
    inside_other = np.zeros(count, dtype=bool)  # ... that is not a full text of the same license: never standalone
    kept: list[Match] = []
    for i in range(count):
        if inside_kept[i] and (inside_other[i] or not maybe_standalone[i]):
            continue
        m = candidate(i)
        if _keep_candidate(m, kept, matcher.short, beyond, bool(whole_only[ref_l[i]]), lambda i=i: larger_sharing(i)):
            kept.append(m)
            later = slice(i + 1, None)
            inside = (np.minimum(end[later], m.end) - np.maximum(start[later], m.start)) > half_span[later]
            inside_kept[later] |= inside
            inside_other[later] |= inside & ((family[later] != family[i]) if m.kind == "text" else True)
    kept.sort(key=lambda m: m.start)
    return kept


def _keep_candidate(m: Match, kept: list[Match], short: int, beyond, whole_only: bool, larger_sharing) -> bool:
    """:func:`_resolve`'s decision for one candidate, given the matches kept so far;
    ``larger_sharing()``: the candidates with more matched 4-grams overlapping ``m``."""
    span = max(1, m.end - m.start)
    inside = [k for k in kept if min(m.end, k.end) - max(m.start, k.start) > 0.5 * span]
    # a notice that also stands outside the full text it is part of (a GPL "or later" header
    # above the GPL text, whose appendix holds the same words) still counts on its own; a short
    # phrase ("distributed under the terms of this general public license") repeats inside anyway
    standalone = m.kind == "notice" and m.matched >= short and m.repeated >= 0.8
    # ... but only a notice of that text's own license: a text quoting another license whole
    # (OpenSSL's SSLeay part, twice in the document) is named as the containing license
    standalone = standalone and all(k.kind == "text" and same_license(k.expr, m.expr) for k in inside)
    if inside and standalone and beyond is not None:
        # repeated only as often as the text itself repeats it (OpenSSL's acknowledgement clause
        # stands twice in the OpenSSL license): part of the text, not a notice of its own
        standalone = all(beyond(m, k) >= 0.8 for k in inside)
    if inside and not standalone:
        return False
    # a whole-only text whose every matched 4-gram another, larger match also has is no evidence of
    # its own: an MIT grant is not the "permission is hereby NOT granted" text it shares most words with
    return not (whole_only and any(np.isin(m.covered, k.covered, assume_unique=True).all() for k in larger_sharing()))


def _resolve(matches: list[Match], short: int, beyond=None, whole_only: np.ndarray | None = None) -> list[Match]:
    """Greedy: larger, more complete matches first; drop a match mostly inside an already kept one.
    ``beyond(m, text)``: share of ``m``'s 4-grams the document has more often than ``text``'s reference."""
    matches.sort(key=lambda m: (-m.matched * m.coverage, -m.coverage, m.kind != "text", m.ref))
    kept: list[Match] = []
    for m in matches:
        def larger_sharing(m=m) -> list[Match]:
            return [k for k in matches if k.matched > m.matched and min(m.end, k.end) > max(m.start, k.start)]

        if _keep_candidate(m, kept, short, beyond, whole_only is not None and bool(whole_only[m.ref]), larger_sharing):
            kept.append(m)
    kept.sort(key=lambda m: m.start)
    return kept
