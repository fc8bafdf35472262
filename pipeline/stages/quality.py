"""Stage `quality`: drop documents that are not natural prose — too short, symbol soup, repeated
lines, boilerplate — by the Gopher / C4 / FineWeb heuristics, in every supported language.

What it decides: a record is dropped with the ``name`` of the first rule in ``rules/quality.yaml``
that it fails (``word_count``, ``dup_lines``, ``top_ngram``, ``lorem_ipsum`` …); the decisions
detail holds the measured value and the threshold it broke (``{"value": 0.41, "max": 0.3}``, plus
``"n"`` for n-gram rules). Kept records carry no detail.

Why this way: these are the published, widely reproduced web-text filters; their thresholds are data
(``rules/quality.yaml``, per-language overrides, an ``enabled`` flag per rule) so tuning needs no code.
They are made CJK-aware through :func:`pipeline.text.split_words`: Han and Kana characters are words
(zh, ja), Korean words are eojeol with their own thresholds and a particle-suffix stop-word check
(``rules/stopwords.yaml``). The record's ``lang`` (from langid) picks the overrides; a record without
one gets ja / zh / ko from its script when the script decides it.

Speed: one pass per document, no Python loop over words or characters. The lower-cased text's code
points get bit flags from a per-process table (space, letter, Han/Kana, word character, digit);
word spans, lengths, all-digit words, whitespace tokens and the Han/Kana count follow with a few
array operations (equal to the regex definitions, tested), words are hashed in one vectorised pass,
and n-gram hashes are built each from the one before. ``top_ngram`` sorts n-grams only when a
bucketed upper bound does not already prove the limit holds; ``dup_ngram`` sorts once per n and
stops at the first n whose coverage is under every remaining limit. Rules run cheap-first with the
first failure deciding, so junk is rejected before the repetition checks.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import regex
import yaml

from pipeline.saferegex import RulePatternError, compile_rule
from pipeline.stages.base import StageCore, Verdict, drop, keep
from pipeline.text import (
    CJK,
    DECIMAL,
    LETTER,
    SPACE,
    WORD_RE,
    codepoints,
    flags_of_codepoints,
    guess_lang_from_script,
    span_hashes,
    word_spans,
)
from pipeline.verdicts import RecordStage

_PARAGRAPH_SPLIT = re.compile(r"\n[ \t\r\f\v]*\n")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # 64-bit golden-ratio multiplier for n-gram hash combining


# --- per-document statistics (computed lazily, once) ----------------------------------------------
class cached_property:  # noqa: N801 - functools.cached_property without its per-access lock (3.11)
    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)  # later reads find the instance attribute
        return value


class DocStats:
    """Everything the rules measure, each computed on first use and cached."""

    def __init__(self, text: str, lang: str | None) -> None:
        self.text = text
        self.lang = lang
        self._c: dict[str, Any] = {}

    def _get(self, key: str, fn: Callable[[], Any]) -> Any:
        c = self._c
        if key not in c:
            c[key] = fn()
        return c[key]

    # cached_property: after the first use, a plain attribute read (these are read many times)
    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def lines(self) -> list[str]:
        """Non-empty lines, stripped."""
        return [s for s in (ln.strip() for ln in self.text.split("\n")) if s]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [s for s in (p.strip() for p in _PARAGRAPH_SPLIT.split(self.text)) if s]

    @cached_property
    def codepoints(self) -> np.ndarray:
        """Code points of the lower-cased text."""
        return codepoints(self.lower)

    @cached_property
    def char_flags(self) -> np.ndarray:
        """Per character of the lower-cased text: SPACE | LETTER | CJK | ALNUM | DECIMAL | JOINER
        (:func:`pipeline.text.char_flags`). Lower-casing keeps every character's space-ness,
        whether it holds a letter and the count of Han/Kana characters (tested over all of Unicode),
        so whitespace tokens, letters and CJK counts are those of the text itself."""
        return flags_of_codepoints(self.codepoints)

    @cached_property
    def word_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the words in the lower-cased text: the spans of :attr:`words`."""
        return word_spans(self.char_flags)

    @cached_property
    def n_words(self) -> int:
        return len(self.word_spans[0])

    @cached_property
    def words(self) -> list[str]:
        """Lower-cased words (Han/Kana characters one by one) — the rules use their spans, lengths
        and hashes; the strings are for callers (``split_words`` of the lower-cased text)."""
        return WORD_RE.findall(self.lower)

    @cached_property
    def word_lengths(self) -> np.ndarray:
        starts, ends = self.word_spans
        return (ends - starts).astype(np.int64)

    @cached_property
    def cum_lengths(self) -> np.ndarray:
        """Characters of words[:i] at index i (n-gram characters = cum[i + n] - cum[i])."""
        return np.concatenate(([0], np.cumsum(self.word_lengths)))

    @cached_property
    def word_hashes(self) -> np.ndarray:
        """64-bit hash per word (:func:`pipeline.text.span_hashes`); only equality matters."""
        return span_hashes(self.codepoints, *self.word_spans)

    def dup_stats(self, what: str) -> tuple[float, float]:
        """(share of items, share of their characters) repeating an earlier item, for "lines" or
        "paragraphs" — one pass serves both rules."""
        return self._get(f"dup_{what}", lambda: _dup_fractions(getattr(self, what)))

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Hash of every word n-gram: h(n)[i] = h(n-1)[i] * MULT + word_hash[i + n - 1] (so each n
        costs two array operations, built on the one before and cached)."""
        if n <= 1:
            return self.word_hashes

        def build():
            h = self.word_hashes
            m = len(h) - n + 1
            if m <= 0:
                return np.empty(0, dtype=np.uint64)
            g = self.ngram_hashes(n - 1)[:m] * _MULT
            g += h[n - 1 :]
            return g

        return self._get(f"ngrams{n}", build)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# --- measurements: (stats, params) → value ------------------------------------------------------
def m_word_count(s: DocStats, p: dict) -> float:
    return s.n_words


def m_mean_word_length(s: DocStats, p: dict) -> float | None:
    """Mean length of space-separated words; Han/Kana characters (one-character words) are left
    out, so an English page quoting Japanese is not "short-worded". None: no such words."""
    n_cjk = int(np.count_nonzero(s.char_flags & CJK))  # each Han/Kana character is one word
    n = s.n_words - n_cjk
    return (float(s.word_lengths.sum()) - n_cjk) / n if n > 0 else None


def m_symbol_word_ratio(s: DocStats, p: dict) -> float:
    text = s.text
    return _ratio(sum(text.count(sym) for sym in p["symbols"]), s.n_words)


def m_alpha_words(s: DocStats, p: dict) -> float:
    """Share of whitespace tokens (or words, ``unit: words``) holding at least one letter."""
    if p.get("unit") == "words":
        # words are letter runs, digit runs or single Han/Kana characters; count the all-digit ones
        n = s.n_words
        if not n:
            return 0.0
        starts, ends = s.word_spans
        digits = np.concatenate(([0], np.cumsum((s.char_flags & DECIMAL) != 0)))
        return 1.0 - int(np.count_nonzero(digits[ends] - digits[starts] == ends - starts)) / n
    # whitespace tokens (maximal runs of non-space characters) and those holding a letter
    f = s.char_flags
    nonspace = (f & SPACE) == 0
    starts = nonspace.copy()
    starts[1:] &= ~nonspace[:-1]
    n_tokens = int(np.count_nonzero(starts))
    if not n_tokens:
        return 0.0
    token_of_letter = np.cumsum(starts)[(f & LETTER) != 0]  # non-decreasing: count its distinct values
    with_letter = int(np.count_nonzero(token_of_letter[1:] != token_of_letter[:-1])) + 1 if token_of_letter.size else 0
    return with_letter / n_tokens


def m_bullet_lines(s: DocStats, p: dict) -> float:
    bullets = p["_bullets"]
    lines = s.lines
    return _ratio(sum(1 for ln in lines if ln.startswith(bullets)), len(lines))


def m_ellipsis_lines(s: DocStats, p: dict) -> float:
    endings = p["_endings"]
    lines = s.lines
    return _ratio(sum(1 for ln in lines if ln.endswith(endings)), len(lines))


def m_line_punct(s: DocStats, p: dict) -> float:
    endings = p["_endings"]
    lines = s.lines
    return _ratio(sum(1 for ln in lines if ln.endswith(endings)), len(lines)) if lines else 0.0


def m_short_lines(s: DocStats, p: dict) -> float:
    k = int(p["chars"])
    lines = s.lines
    return _ratio(sum(1 for ln in lines if len(ln) <= k), len(lines))


def m_line_pattern(s: DocStats, p: dict) -> float:
    pat = p["_pattern"]
    if not pat.search(s.text):  # one C scan decides most documents
        return 0.0
    lines = s.lines
    return _ratio(sum(1 for ln in lines if pat.search(ln)), len(lines))


def m_contains(s: DocStats, p: dict) -> float:
    low = s.lower
    return float(sum(low.count(pat) for pat in p["_patterns"]))


def _dup_fractions(items: list[str]) -> tuple[float, float]:
    if len(items) < 2:
        return 0.0, 0.0
    seen: set[str] = set()
    dup = dup_chars = total = 0
    for it in items:
        n = len(it)
        total += n
        if it in seen:
            dup += 1
            dup_chars += n
        else:
            seen.add(it)
    return dup / len(items), _ratio(dup_chars, total)


def m_dup_lines(s: DocStats, p: dict) -> float:
    return s.dup_stats("lines")[0]


def m_dup_line_chars(s: DocStats, p: dict) -> float:
    return s.dup_stats("lines")[1]


def m_dup_paragraphs(s: DocStats, p: dict) -> float:
    return s.dup_stats("paragraphs")[0]


def m_dup_paragraph_chars(s: DocStats, p: dict) -> float:
    return s.dup_stats("paragraphs")[1]


def ngram_groups(s: DocStats, n: int):
    """Groups of equal word n-grams: (first position of each group, its count, dup positions).

    One stable ``argsort`` per n: the first occurrence of a group is the first of its run in sorted
    order; every other occurrence is a duplicate.
    """
    def build():
        g = s.ngram_hashes(n)
        m = len(g)
        if m < 2:
            return None
        order = np.argsort(g, kind="stable")  # equal hashes keep position order: a group's first is its first
        gs = g[order]
        edge = np.empty(m + 1, dtype=bool)  # where a run of equal hashes starts (and the end)
        edge[0] = edge[m] = True
        np.not_equal(gs[1:], gs[:-1], out=edge[1:m])
        bounds = np.flatnonzero(edge)
        starts = bounds[:-1]
        return order[starts], bounds[1:] - starts

    return s._get(f"groups{n}", build)


def top_ngram_fraction(s: DocStats, n: int) -> float:
    """Characters of the most frequent word n-gram × its count ÷ characters of all words (spaces
    and punctuation not counted)."""
    groups = ngram_groups(s, n)
    if groups is None:
        return 0.0
    first, counts = groups
    best = int(counts.max())
    if best < 2:
        return 0.0
    pos = int(first[counts == best].min())  # ties: the n-gram seen first (as Counter.most_common)
    lens = s.word_lengths
    return best * float(lens[pos : pos + n].sum()) / float(lens.sum())


_BUCKET_BITS = 12  # 4096 buckets


def _top_ngram_bound(s: DocStats, n: int) -> float:
    """An upper bound of ``top_ngram_fraction(s, n)`` without sorting: the n-grams are put in
    buckets by their hash and each bucket sums count × characters of the n-grams in it, so the
    largest bucket is at least the top n-gram's count × characters."""
    g = s.ngram_hashes(n)
    m = len(g)
    total = float(s.cum_lengths[-1])
    if m < 2 or total <= 0:
        return 0.0
    cum = s.cum_lengths
    buckets = (g >> np.uint64(64 - _BUCKET_BITS)).astype(np.intp)  # the top bits are the well-mixed ones
    return float(np.bincount(buckets, weights=cum[n:] - cum[:m], minlength=1 << _BUCKET_BITS).max()) / total


def top_ngram_first_failure(s: DocStats, table: list[tuple[int, float]]) -> tuple[int, float, float] | None:
    """The first (n, value, limit) of ``table`` with ``top_ngram_fraction(s, n) > limit``, or None.

    Exact, but the n-grams are sorted only when a cheap upper bound (:func:`_top_ngram_bound`)
    does not already prove the fraction under its limit — on the Debian-docs corpus, for under 1%
    of the documents and n.
    """
    for n, limit in table:
        if _top_ngram_bound(s, n) <= limit:
            continue
        value = top_ngram_fraction(s, n)
        if value > limit:
            return n, value, limit
    return None


def dup_ngram_fraction(s: DocStats, n: int) -> float:
    """Characters of words covered by any repeated (2nd, 3rd, …) occurrence of a word n-gram ÷ all."""
    groups = ngram_groups(s, n)
    if groups is None:
        return 0.0
    first, counts = groups
    if counts.max() < 2:
        return 0.0
    m = int(counts.sum())
    dup = np.ones(m, dtype=bool)
    dup[first] = False
    dup_starts = np.flatnonzero(dup)
    lens = s.word_lengths
    total = len(lens)
    edge = np.bincount(dup_starts, minlength=total + 1) - np.bincount(dup_starts + n, minlength=total + 1)
    covered = np.cumsum(edge[:total]) > 0
    return float(lens[covered].sum()) / float(lens.sum())


def m_stop_words(s: DocStats, p: dict) -> float | None:
    spec = p["_stopwords"].get(s.lang or "")
    if spec is None:
        return None  # no list for this language: not judged
    mode = spec["mode"]
    if mode == "chars":
        chars = spec["_chars"]
        low = s.lower
        return float(sum(low.count(c) for c in chars))
    hashes = s.word_hashes
    if not len(hashes):
        return 0.0
    hits = _member(hashes, spec["_hashes"])
    if mode == "suffix":  # Korean: a listed word, or an eojeol ending in a particle/ending syllable
        hits |= _member(s.codepoints[s.word_spans[1] - 1], spec["_suffix_cps"])
    return float(np.count_nonzero(hits))


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values ∈ sorted_set, elementwise (one binary search each; np.isin would sort both)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    idx = np.searchsorted(sorted_set, values)
    np.minimum(idx, len(sorted_set) - 1, out=idx)
    return sorted_set[idx] == values


MEASURES: dict[str, Callable[[DocStats, dict], Any]] = {
    "word_count": m_word_count,
    "mean_word_length": m_mean_word_length,
    "symbol_word_ratio": m_symbol_word_ratio,
    "alpha_words": m_alpha_words,
    "stop_words": m_stop_words,
    "bullet_lines": m_bullet_lines,
    "ellipsis_lines": m_ellipsis_lines,
    "line_punct": m_line_punct,
    "short_lines": m_short_lines,
    "line_pattern": m_line_pattern,
    "contains": m_contains,
    "dup_lines": m_dup_lines,
    "dup_line_chars": m_dup_line_chars,
    "dup_paragraphs": m_dup_paragraphs,
    "dup_paragraph_chars": m_dup_paragraph_chars,
    "top_ngram": None,  # tables {n: max}: handled in QualityRules.check
    "dup_ngram": None,
}
NGRAM_MEASURES = {"top_ngram": top_ngram_fraction, "dup_ngram": dup_ngram_fraction}
RULE_KEYS = {"name", "check", "enabled", "min", "max", "languages"}


# --- rules --------------------------------------------------------------------------------------
class RulesError(ValueError):
    pass


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"quality rules file {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise RulesError(f"quality rules file {path}: top level must be a mapping")
    return data


def _compile_params(params: dict, where: str, rule_id: str = "") -> dict:
    """Precompute what measurements need (tuples, regexes) — once per rule and language."""
    p = dict(params)
    check = p["check"]
    if check == "bullet_lines":
        p["_bullets"] = tuple(p.get("bullets") or ())
    if check in ("ellipsis_lines", "line_punct"):
        p["_endings"] = tuple(p.get("endings") or ())
    if check == "line_pattern":
        if not isinstance(p.get("pattern"), str):
            raise RulesError(f"{where}: 'pattern' missing or not a string")
        try:  # a user pattern: under a time limit, named by its rule (saferegex)
            p["_pattern"] = compile_rule(rule_id or str(p["name"]), p["pattern"], regex.IGNORECASE)
        except RulePatternError as exc:
            raise RulesError(f"{where}: 'pattern' invalid ({exc})") from None
    if check == "contains":
        p["_patterns"] = [str(x).lower() for x in p.get("patterns") or ()]
    if check == "symbol_word_ratio":
        p.setdefault("symbols", ["#", "...", "…"])
    if check == "short_lines":
        p.setdefault("chars", 30)
    if check in NGRAM_MEASURES:
        table = p.get("max")
        if not isinstance(table, dict) or not table:
            raise RulesError(f"{where}: 'max' must be a table {{n: max_fraction}}")
        p["_table"] = sorted((int(n), float(v)) for n, v in table.items())
    return p


class QualityRules:
    """``rules/quality.yaml`` (+ its stop-word file) resolved per language, ready to check documents."""

    def __init__(self, data: dict, stopwords: dict, source: str = "quality.yaml") -> None:
        self.source = source
        self.groups = {str(k): [str(x) for x in v] for k, v in (data.get("groups") or {}).items()}
        rules = data.get("rules")
        if not isinstance(rules, list) or not rules:
            raise RulesError(f"{source}: 'rules' must be a non-empty list")
        self.rules: list[dict] = []
        names = set()
        for i, rule in enumerate(rules):
            where = f"{source}: rules[{i}]"
            if not isinstance(rule, dict) or "name" not in rule or "check" not in rule:
                raise RulesError(f"{where}: each rule needs 'name' and 'check'")
            if rule["check"] not in MEASURES:
                raise RulesError(f"{where} ({rule['name']}): unknown check '{rule['check']}'")
            if rule["name"] in names:
                raise RulesError(f"{where}: duplicate rule name '{rule['name']}'")
            names.add(rule["name"])
            overrides = rule.get("languages") or {}
            if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
                raise RulesError(f"{where} ({rule['name']}): 'languages' must map a language or group to settings")
            self.rules.append(rule)
        self.stopwords = self._compile_stopwords(stopwords)
        self._by_lang: dict[str | None, list[dict]] = {}
        self.for_lang(None)  # validate the defaults now
        for lang in {k for r in self.rules for k in (r.get("languages") or {})}:
            for member in self.groups.get(lang, [lang]):
                self.for_lang(member)

    @classmethod
    def from_config(cls, config) -> "QualityRules":
        path = Path(config.quality.rules) if config.quality.rules else config.rule_file("quality.yaml")
        return cls.from_file(path, config)

    @classmethod
    def from_file(cls, path: Path, config=None) -> "QualityRules":
        data = _load_yaml(path)
        sw_name = next((r.get("file") for r in data.get("rules") or [] if isinstance(r, dict) and r.get("check") == "stop_words"), None)
        stopwords: dict = {}
        if sw_name:
            sw_path = path.parent / sw_name
            if not sw_path.is_file() and config is not None:
                sw_path = config.rules_path() / sw_name
            if not sw_path.is_file():
                raise RulesError(f"{path}: stop-word file not found: {sw_name}")
            stopwords = _load_yaml(sw_path).get("languages") or {}
        return cls(data, stopwords, source=str(path))

    @staticmethod
    def _compile_stopwords(spec: dict) -> dict:
        out = {}
        for lang, s in spec.items():
            s = dict(s or {})
            s.setdefault("mode", "words")
            s["_words"] = frozenset(str(w).lower() for w in s.get("words") or ())
            s["_chars"] = tuple(dict.fromkeys(str(s.get("chars") or "")))
            s["_suffixes"] = frozenset(str(s.get("suffixes") or ""))
            # the vectorised check: hashes of the listed words (as the word hashes of a text would
            # give them), code points of the suffix characters
            words = sorted(w for w in s["_words"] if w)
            s["_hashes"] = np.unique(np.array([int(span_hashes(codepoints(w), np.array([0]), np.array([len(w)]))[0]) for w in words], dtype=np.uint64))
            s["_suffix_cps"] = np.array(sorted(map(ord, s["_suffixes"])), dtype=np.uint32)
            out[str(lang)] = s
        return out

    def for_lang(self, lang: str | None) -> list[dict]:
        """Enabled rules with this language's overrides applied (groups first, then the language)."""
        hit = self._by_lang.get(lang)
        if hit is not None:
            return hit
        resolved = []
        for i, rule in enumerate(self.rules):
            params = {k: v for k, v in rule.items() if k != "languages"}
            overrides = rule.get("languages") or {}
            if lang is not None:
                for group, members in self.groups.items():
                    if lang in members and group in overrides:
                        params.update(overrides[group])
                if lang in overrides:
                    params.update(overrides[lang])
            if not params.get("enabled", True):
                continue
            params = _compile_params(params, f"{self.source}: rules[{i}] ({rule['name']})", f"{Path(self.source).name}:{rule['name']}")
            if params["check"] == "stop_words":
                params["_stopwords"] = self.stopwords
            resolved.append(params)
        self._by_lang[lang] = resolved
        return resolved

    def check(self, text: str, lang: str | None, all_failures: bool = False) -> list[tuple[str, dict]]:
        """Failing rules as (name, detail); the first only unless ``all_failures``."""
        stats = DocStats(text, lang)
        failures: list[tuple[str, dict]] = []
        for p in self.for_lang(lang):
            check = p["check"]
            if check == "top_ngram":
                hit = top_ngram_first_failure(stats, p["_table"])
                if hit is not None:
                    n, value, limit = hit
                    failures.append((p["name"], {"n": n, "value": round(value, 4), "max": limit}))
            elif check == "dup_ngram":
                table = p["_table"]
                for i, (n, limit) in enumerate(table):
                    value = dup_ngram_fraction(stats, n)
                    if value > limit:
                        failures.append((p["name"], {"n": n, "value": round(value, 4), "max": limit}))
                        break
                    # Repeated (n+1)-grams lie inside repeated n-grams: coverage only shrinks with n,
                    # so once it is under every remaining limit the larger n cannot fail.
                    if value <= min(l for _, l in table[i:]):
                        break
            else:
                value = MEASURES[check](stats, p)
                if value is None:
                    continue
                lo, hi = p.get("min"), p.get("max")
                if lo is not None and value < lo:
                    failures.append((p["name"], {"value": round(float(value), 4), "min": lo}))
                elif hi is not None and value > hi:
                    failures.append((p["name"], {"value": round(float(value), 4), "max": hi}))
            if failures and not all_failures:
                break
        return failures

    def measure(self, text: str, lang: str | None) -> dict[str, Any]:
        """Every enabled rule's measured value (for tuning thresholds and docs), by rule name."""
        stats = DocStats(text, lang)
        out: dict[str, Any] = {}
        for p in self.for_lang(lang):
            check = p["check"]
            if check in NGRAM_MEASURES:
                out[p["name"]] = {n: round(NGRAM_MEASURES[check](stats, n), 4) for n, _ in p["_table"]}
            else:
                v = MEASURES[check](stats, p)
                out[p["name"]] = None if v is None else round(float(v), 4)
        return out


def effective_lang(record_lang: str | None, text: str) -> str | None:
    """The record's language, or one decided by its script when langid did not label it."""
    if record_lang and record_lang != "und":
        return record_lang
    return guess_lang_from_script(text)


# --- the stage ----------------------------------------------------------------------------------
class QualityFilter(StageCore):
    name = "quality"
    version = "1"

    def __init__(self, config) -> None:
        super().__init__(config)
        self._rules: QualityRules | None = None

    def setup(self) -> None:
        self._rules = QualityRules.from_config(self.config)

    def process(self, record: dict) -> Verdict:
        if self._rules is None:
            self.setup()
        text = record.get("text")
        if not isinstance(text, str):
            text = ""
        failures = self._rules.check(text, effective_lang(record.get("lang"), text))
        if failures:
            name, detail = failures[0]
            return drop(name, detail)
        return keep()


@__import__("pipeline.stages.registry", fromlist=["register_stage"]).register_stage(name="quality", order=30, config_section="quality", reasons=[])  # reasons: the rule names of rules/quality.yaml
class QualityStage(RecordStage):
    core_class = QualityFilter

    def __init__(self, config, run_id: str) -> None:
        self.check_rules(config)
        super().__init__(config, run_id)

    @staticmethod
    def check_rules(config) -> None:
        """Validate the rules on the driver: a broken rules file is a usage error (exit 2)."""
        from pipeline.config import ConfigError

        if config.quality.rules and not Path(config.quality.rules).is_file():
            raise ConfigError(f"config key 'quality.rules': file not found: {config.quality.rules}")
        try:
            QualityRules.from_config(config)
        except RulesError as exc:
            raise ConfigError(str(exc)) from None
