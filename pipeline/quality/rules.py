"""``rules/quality.yaml`` (+ its stop-word file) loaded, validated and resolved per language, and the
check that runs a document through the rules (first failure decides)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import regex
import yaml

from pipeline import ruleyaml
from pipeline.batching import char_runs
from pipeline.quality.measures import MEASURES, NGRAM_MEASURES
from pipeline.quality.ngrams import dup_ngram_first_failure, top_ngram_first_failure
from pipeline.quality.stats import DocStats
from pipeline.saferegex import RulePatternError, compile_rule
from pipeline.text import codepoints, guess_lang_from_script, span_hashes


class RulesError(ValueError):
    pass


def _load_yaml(path: Path) -> dict:
    try:
        data = ruleyaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"quality rules file {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise RulesError(f"quality rules file {path}: top level must be a mapping")
    return data


BATCH_CHARS = 1 << 21  # characters tokenised together (their arrays take ~30 bytes a character)
_CLASS_SPECIAL = set("\\[]^-:&|~")  # inside [...]: escapes, ranges, nesting, set operations
_LITERAL_SPECIAL = set("\\.^$*+?{}[]|()#")
_MAX_NEEDLES = 8


@functools.lru_cache(maxsize=256)
def required_chars(pattern: str, flags: int) -> tuple[tuple[str, ...], bool] | None:
    """(characters at least one of which every match of ``pattern`` holds, whether holding one is
    also enough for a match), or None when that is not simple to prove (or there are too many
    characters for a cheap test).

    Proven for two shapes only: a class of plain characters (``[{}]``: one of them *is* a match) and
    a plain literal (``javascript``: its first character is needed), with no flags but IGNORECASE.
    The characters are those the one-character pattern itself matches among all of Unicode (so
    ``s`` under IGNORECASE gives ``S s ſ``, as the regex module folds case), which makes "none of
    them in the text" exactly "no match in the text" — a few ``str`` scans instead of a regex one."""
    if flags & ~regex.IGNORECASE or not pattern:
        return None
    if len(pattern) >= 3 and pattern[0] == "[" and pattern[-1] == "]" and not _CLASS_SPECIAL & set(pattern[1:-1]):
        atom, sufficient = pattern, True
    elif not _LITERAL_SPECIAL & set(pattern) and not any(c.isspace() for c in pattern):
        atom, sufficient = regex.escape(pattern[0]), len(pattern) == 1
    else:
        return None
    every = np.concatenate((np.arange(0xD800, dtype=np.uint32), np.arange(0xE000, 0x110000, dtype=np.uint32)))
    hits = regex.compile(atom, flags).findall(every.tobytes().decode("utf-32-le"))
    if not hits or len(hits) > _MAX_NEEDLES or any(len(h) != 1 for h in hits):
        return None
    return tuple(hits), sufficient


@functools.lru_cache(maxsize=256)
def required_lowercase(pattern: str, flags: int) -> str | None:
    """A lower-case string that the lower-cased text of every match of ``pattern`` contains (so a
    text whose ``lower()`` lacks it holds no match), or None when that is not simple to prove.

    For a plain literal: its longest run of characters each of which is matched (under ``flags``:
    case-insensitively, by the regex module's simple case folding) only by characters that
    lower-case to one and the same single character — checked against all of Unicode. ``java`` of
    ``javascript``: ``s`` is left out (``ſ`` matches it and stays ``ſ`` in ``lower()``), and so is
    ``i`` (``İ`` lower-cases to two characters). ``str.lower`` maps these characters one by one,
    so the run's lower-cased text stays contiguous."""
    if flags & ~regex.IGNORECASE or not pattern or _LITERAL_SPECIAL & set(pattern) or any(c.isspace() for c in pattern):
        return None
    every = np.concatenate((np.arange(0xD800, dtype=np.uint32), np.arange(0xE000, 0x110000, dtype=np.uint32)))
    chars = sorted(set(pattern))
    hits = regex.compile("[" + "".join(regex.escape(c) for c in chars) + "]", flags).findall(every.tobytes().decode("utf-32-le"))
    clean = set()
    for x in chars:
        atom = regex.compile(regex.escape(x), flags)
        if len(x.lower()) == 1 and all(h.lower() == x.lower() for h in hits if atom.fullmatch(h)):
            clean.add(x)
    runs = regex.findall("[" + "".join(regex.escape(c) for c in clean) + "]+", pattern) if clean else []
    best = max(runs, key=len, default="")
    return best.lower() if len(best) >= 2 else None


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
            p["_needles"] = required_chars(p["pattern"], regex.IGNORECASE)
            p["_lowercase_run"] = required_lowercase(p["pattern"], regex.IGNORECASE)
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
        p["_ns"] = np.array([n for n, _ in p["_table"]], dtype=np.int64)  # the compiled kernels' form
        p["_limits"] = np.array([v for _, v in p["_table"]], dtype=np.float64)
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
        return self.check_stats(DocStats(text, lang), all_failures)

    def check_batch(self, texts: list[str], langs: list[str | None], all_failures: bool = False) -> list[list[tuple[str, dict]]]:
        """:meth:`check` for each text, the texts checked together (each rule over the whole run,
        :func:`pipeline.quality.batch.check_batch`) in runs of up to ``BATCH_CHARS`` characters, so
        a batch of huge records needs no more memory than one of them at a time."""
        from pipeline.quality.batch import check_batch  # noqa: PLC0415 - kernels: loaded on first use

        out: list[list[tuple[str, dict]]] = []
        for lo, hi in char_runs(texts, BATCH_CHARS):
            out += check_batch(self.for_lang, texts[lo:hi], langs[lo:hi], all_failures)
        return out

    def check_stats(self, stats: DocStats, all_failures: bool = False) -> list[tuple[str, dict]]:
        """:meth:`check` of the document ``stats`` describes (its language is ``stats.lang``)."""
        failures: list[tuple[str, dict]] = []
        for p in self.for_lang(stats.lang):
            check = p["check"]
            if check == "top_ngram":
                hit = top_ngram_first_failure(stats, p["_table"])
                if hit is not None:
                    n, value, limit = hit
                    failures.append((p["name"], {"n": n, "value": round(value, 4), "max": limit}))
            elif check == "dup_ngram":
                hit = dup_ngram_first_failure(stats, p["_table"])
                if hit is not None:
                    n, value, limit = hit
                    failures.append((p["name"], {"n": n, "value": round(value, 4), "max": limit}))
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

