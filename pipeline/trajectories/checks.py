"""Named validators of thinking-trajectory candidates (thresholds in rules/trajectories/checks.yaml).

Every candidate goes through every check listed in ``order`` (all failures are reported); the first
failure is the reject reason (mapped through ``reasons``: ``answer`` → ``answer_mismatch``,
``contamination`` → ``contaminated``; the others keep their name):

- ``format``: exactly one ``<think>`` and one ``</think>``, in that order, nothing but whitespace
  before ``<think>``, non-empty thinking, non-empty final answer after ``</think>``;
- ``answer``: the final answer extracted and compared with the reference (:mod:`.answers`); without
  a reference, an answer must at least be extractable;
- ``steps``: every explicit arithmetic claim in thinking and answer recomputed (:mod:`.arith`);
- ``language``: thinking and answer, chunk by chunk, in the prompt's language (the langid stage's
  ``LanguageIdentifier``);
- ``repetition``: repeated lines, repeated word n-grams, a looping tail;
- ``length``: token counts of prompt, thinking and answer within bounds (fast estimate, or a
  ``tokenizers`` tokenizer.json named by ``trajectories.tokenizer``);
- ``pii``: the PII stage's engine finds nothing in prompt, thinking or answer;
- ``contamination``: word n-gram (13 by default) overlap with ``trajectories.decontaminate`` files.

Details never carry raw text: counts, positions, check names, and arithmetic claims (numbers only).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.saferegex import RulePattern, compile_rule
from pipeline.trajectories.answers import DEFAULT_MARKERS, DEFAULT_UNITS, AnswerMatcher
from pipeline.trajectories.arith import find_claims

ALL_CHECKS = ("format", "answer", "steps", "language", "repetition", "length", "pii", "contamination")
_WORD = re.compile(r"\w+", re.UNICODE)
_MATH = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[a-zA-Z]+|[0-9.,:;+\-−×*/÷^=≈%()<>{}\[\]_|#`~\"'“”‘’!?]")
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u0e00-\u0e7f]")


@dataclass
class Outcome:
    checks: dict[str, bool]
    failed: list[str]
    details: dict = field(default_factory=dict)
    thinking: str = ""
    answer: str = ""

    @property
    def accepted(self) -> bool:
        return not self.failed


def split_completion(text: str, open_tag: str = "<think>", close_tag: str = "</think>") -> tuple[str, str, list[str]]:
    """(thinking, answer, problems). Best effort on malformed input so the other checks still run."""
    problems: list[str] = []
    n_open, n_close = text.count(open_tag), text.count(close_tag)
    if n_open != 1:
        problems.append("missing_open_tag" if n_open == 0 else "multiple_open_tags")
    if n_close != 1:
        problems.append("missing_close_tag" if n_close == 0 else "multiple_close_tags")
    close = text.rfind(close_tag)
    if close >= 0:
        open_ = text.rfind(open_tag, 0, close)
        if n_open and open_ < 0:
            problems.append("tags_out_of_order")
        if open_ >= 0 and text[:open_].strip():
            problems.append("text_before_think")
        start = open_ + len(open_tag) if open_ >= 0 else 0
        thinking = text[start:close]
        answer = text[close + len(close_tag) :]
    else:
        thinking = ""
        answer = text.replace(open_tag, "")
    thinking = thinking.replace(open_tag, "").replace(close_tag, "").strip()
    answer = answer.replace(open_tag, "").replace(close_tag, "").strip()
    return thinking, answer, problems


def estimate_tokens(text: str) -> int:
    """Fast estimate: about 4 ASCII characters per token, one token per other character."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)


def normalize_for_overlap(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def _unspaced(text: str) -> bool:
    letters = sum(1 for c in text if c.isalpha())
    return letters > 0 and len(_UNSPACED.findall(text)) / letters >= 0.3


class OverlapIndex:
    """Hashed word n-grams (character n-grams for ja/zh/th text) of benchmark items."""

    def __init__(self, n: int = 13, char_n: int = 30, min_item_tokens: int = 8) -> None:
        self.n = n
        self.char_n = char_n
        self.min_item_tokens = min_item_tokens
        self.grams: set[int] = set()
        self.short: dict[int, set[int]] = {}  # items shorter than n tokens, by length (must appear whole)
        self.items = 0

    @staticmethod
    def _h(tokens) -> int:
        import xxhash

        return xxhash.xxh64_intdigest("\x1f".join(tokens).encode("utf-8"))

    def _tokens(self, text: str) -> tuple[list[str], int, str]:
        norm = normalize_for_overlap(text)
        if _unspaced(norm):
            return list(norm.replace(" ", "")), self.char_n, "c"
        return norm.split(), self.n, "w"

    def add(self, text: str) -> None:
        tokens, n, kind = self._tokens(text)
        if not tokens:
            return
        self.items += 1
        if len(tokens) < n:
            if len(tokens) >= self.min_item_tokens:
                self.short.setdefault(len(tokens), set()).add(self._h([kind, *tokens]))
            return
        for i in range(len(tokens) - n + 1):
            self.grams.add(self._h([kind, *tokens[i : i + n]]))

    def overlap(self, text: str, limit: int = 1) -> int:
        """Number of the text's n-grams (and whole short items) found in the index, up to ``limit``."""
        tokens, n, kind = self._tokens(text)
        hits = 0
        if self.grams and len(tokens) >= n:
            for i in range(len(tokens) - n + 1):
                if self._h([kind, *tokens[i : i + n]]) in self.grams:
                    hits += 1
                    if hits >= limit:
                        return hits
        for length, hashes in self.short.items():
            for i in range(len(tokens) - length + 1):
                if self._h([kind, *tokens[i : i + length]]) in hashes:
                    hits += 1
                    if hits >= limit:
                        return hits
        return hits

    def add_file(self, path: str, max_line_bytes: int) -> None:
        for number, text, problem in decontamination_items(path, max_line_bytes):
            if problem:
                from pipeline.config import ConfigError

                raise ConfigError(f"trajectories.decontaminate {path}: line {number}: {problem}")
            self.add(text)


DECONTAMINATE_JSON_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst")
DECONTAMINATE_JSON_FIELDS = ("question", "problem", "prompt", "input")


def decontamination_items(path: str, max_line_bytes: int):
    """(1-based line number, item text, problem) for each non-blank line of a decontamination file:
    JSONL lines give ``text`` (or the joined question/problem/prompt/input fields, or the string
    itself), other files the line. A line over ``max_line_bytes`` is never held whole; it, and a line
    that is not valid JSON or holds no text, gives a problem (never its content): a benchmark item
    left out of the index would let its contamination through unseen."""
    from pipeline.trajectories.seeds import bounded_lines, open_binary

    jsonl = path.lower().endswith(DECONTAMINATE_JSON_SUFFIXES)
    with open_binary(path) as stream:
        for index, line in enumerate(bounded_lines(stream, max_line_bytes)):
            number = index + 1
            if line is None:
                yield number, None, f"longer than {max_line_bytes} bytes (run.max_record_bytes)"
                continue
            if not line.strip():
                continue
            if not jsonl:
                yield number, line, None
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                yield number, None, "not valid JSON"
                continue
            text = None
            if isinstance(obj, str):
                text = obj
            elif isinstance(obj, dict):
                text = obj.get("text")
                if not isinstance(text, str):
                    text = "\n".join(obj[k] for k in DECONTAMINATE_JSON_FIELDS if isinstance(obj.get(k), str))
            if text and text.strip():
                yield number, text, None
            else:
                yield number, None, f"no text (a JSON string, or an object with text or one of {', '.join(DECONTAMINATE_JSON_FIELDS)})"


def load_checks(path: str | Path) -> dict:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    order = data.get("order", list(ALL_CHECKS))
    unknown = [c for c in order if c not in ALL_CHECKS]
    if unknown:
        from pipeline.config import ConfigError

        raise ConfigError(f"rules file {path}: unknown check(s) in 'order': {unknown}")
    data["order"] = order
    return data


def answer_markers(rules: dict) -> list[RulePattern]:
    """The ``answer.markers`` of checks.yaml: user patterns, each under a time limit and named
    ``checks.yaml:answer.markers[i]`` (a pattern that does not compile raises ``RulePatternError``)."""
    markers = (rules.get("answer") or {}).get("markers", DEFAULT_MARKERS)
    return [compile_rule(f"checks.yaml:answer.markers[{i}]", str(m)) for i, m in enumerate(markers)]


class Validator:
    """All checks. Cheap to build and pickle; ``setup()`` loads rules, models and the overlap index."""

    def __init__(self, config, checks_path: str | None = None, order: list[str] | None = None) -> None:
        self.config = config
        self._checks_path = checks_path
        self._order_override = order
        self._ready = False

    def __getstate__(self):
        return {"config": self.config, "_checks_path": self._checks_path, "_order_override": self._order_override, "_ready": False}

    def setup(self) -> None:
        if self._ready:
            return
        path = self._checks_path or self.config.rule_file("trajectories/checks.yaml")
        rules = load_checks(path)
        self.rules = rules
        self.order = list(self._order_override or rules["order"])
        self.reasons = {c: rules.get("reasons", {}).get(c, c) for c in ALL_CHECKS}
        fmt = rules.get("format", {})
        self.open_tag = fmt.get("open_tag", "<think>")
        self.close_tag = fmt.get("close_tag", "</think>")
        a = rules.get("answer", {})
        self.units = a.get("units", DEFAULT_UNITS)
        self.matcher = AnswerMatcher(
            markers=a.get("markers", DEFAULT_MARKERS),
            units=self.units,
            float_rounding=int(a.get("float_rounding", 6)),
            timeout_seconds=float(a.get("timeout_seconds", 2.0)),
            max_answer_chars=int(a.get("max_answer_chars", 20000)),
        )
        self.langid = None
        if "language" in self.order:
            from pipeline.lang.identifier import LanguageIdentifier

            self.langid = LanguageIdentifier.from_config(self.config)
        self.pii = None
        if "pii" in self.order:
            from pipeline.pii.engine import PiiEngine

            self.pii = PiiEngine.from_config(self.config)
        self.tokenizer = None
        tok = getattr(self.config.trajectories, "tokenizer", None)
        if tok and "length" in self.order:
            try:
                from tokenizers import Tokenizer
            except ImportError:
                from pipeline.config import ConfigError

                raise ConfigError("config key 'trajectories.tokenizer' needs the 'tokenizers' package") from None
            if not Path(tok).is_file():
                from pipeline.config import ConfigError

                raise ConfigError(f"config key 'trajectories.tokenizer': file not found: {tok}")
            self.tokenizer = Tokenizer.from_file(tok)
        c = rules.get("contamination", {})
        self.index = OverlapIndex(
            n=int(self.config.trajectories.contamination_ngram),
            char_n=int(c.get("char_ngram", 30)),
            min_item_tokens=int(c.get("min_item_tokens", 8)),
        )
        if "contamination" in self.order:
            for p in self.config.trajectories.decontaminate:
                self.index.add_file(p, int(self.config.run.max_record_bytes))
        self._ready = True

    # -- entry point ----------------------------------------------------------------------
    def validate(self, cand: dict) -> Outcome:
        if not self._ready:
            self.setup()
        completion = cand.get("completion") or ""
        thinking, answer, problems = split_completion(completion, self.open_tag, self.close_tag)
        ctx = {
            "prompt": cand.get("prompt") or "",
            "thinking": thinking,
            "answer": answer,
            "problems": problems,
            "reference": cand.get("reference_answer"),
            "lang": cand.get("lang"),
        }
        checks: dict[str, bool] = {}
        failed: list[str] = []
        details: dict = {}
        for name in self.order:
            ok, detail = getattr(self, f"check_{name}")(ctx)
            checks[name] = ok
            if not ok:
                failed.append(name)
            if detail:
                details[name] = detail
        return Outcome(checks, failed, details, thinking, answer)

    def reason(self, check: str) -> str:
        return self.reasons.get(check, check)

    # -- checks: each returns (ok, detail) --------------------------------------------------
    def check_format(self, ctx) -> tuple[bool, dict | None]:
        fmt = self.rules.get("format", {})
        problems = list(ctx["problems"])
        if fmt.get("allow_text_before_think", False) and "text_before_think" in problems:
            problems.remove("text_before_think")
        if len(ctx["thinking"]) < int(fmt.get("min_thinking_chars", 1)):
            problems.append("empty_thinking")
        if len(ctx["answer"]) < int(fmt.get("min_answer_chars", 1)):
            problems.append("empty_answer")
        return (not problems), ({"problems": problems} if problems else None)

    def check_answer(self, ctx) -> tuple[bool, dict | None]:
        ext = self.matcher.extract(ctx["answer"])
        ref = ctx["reference"]
        if ref is None or str(ref).strip() == "":
            found = self.matcher.findable(ext)
            return found, {"extracted": ext.method if found else "none", "reference": "none"}
        if ext.value is None and ext.answer is None:
            return False, {"extracted": "none"}
        ok, how = self.matcher.judge(ext, str(ref))
        return ok, {"extracted": ext.method, "compare": how}

    def check_steps(self, ctx) -> tuple[bool, dict | None]:
        s = self.rules.get("steps", {})
        claims = find_claims(
            ctx["thinking"] + "\n" + ctx["answer"],
            self.units,
            rel_tol=float(s.get("rel_tol", 1e-9)),
            approx_rel_tol=float(s.get("approx_rel_tol", 0.01)),
        )[: int(s.get("max_claims", 500))]
        wrong = [c.text for c in claims if not c.ok]
        detail = {"claims": len(claims)}
        if wrong:
            detail["wrong"] = wrong[:3]
        return (not wrong), detail

    def _expected_lang(self, ctx) -> str | None:
        lang = ctx["lang"]
        if not lang and self.langid is not None and ctx["prompt"]:
            lang, _ = self.langid.predict(ctx["prompt"])
        return lang.split("-")[0].split("_")[0].lower() if lang else None

    def _chunks(self, text: str, min_letters: int, max_chars: int) -> list[str]:
        """Sentences/lines with math removed; each long enough one alone (so a switched sentence is
        judged on its own), short ones pooled until they are long enough together."""
        out: list[str] = []
        pool = ""
        for piece in re.split(r"\n+|(?<=[.!?。])\s+", text):
            piece = " ".join(_MATH.sub(" ", piece).split())
            if not piece:
                continue
            if sum(ch.isalpha() for ch in piece) >= min_letters:
                out.append(piece[:max_chars])
                continue
            pool = f"{pool} {piece}".strip()
            if sum(ch.isalpha() for ch in pool) >= min_letters:
                out.append(pool[:max_chars])
                pool = ""
        if pool and not out and sum(ch.isalpha() for ch in pool) >= min_letters // 2:
            out.append(pool[:max_chars])  # a short reply is still judged, as one chunk
        return out

    def check_language(self, ctx) -> tuple[bool, dict | None]:
        cfg = self.rules.get("language", {})
        expected = self._expected_lang(ctx)
        if not expected:
            return True, {"expected": None}
        min_letters = int(cfg.get("min_letters", 24))
        min_score = float(cfg.get("min_score", 0.6))
        max_chars = int(cfg.get("max_chunk_chars", 600))
        switched: dict[str, list[str]] = {}
        for fname in cfg.get("fields", ["thinking", "answer"]):
            for chunk in self._chunks(ctx[fname], min_letters, max_chars):
                lang, score = self.langid.predict(chunk)
                base = (lang or "").split("-")[0].split("_")[0].lower()
                if base and base != expected and score >= min_score:
                    switched.setdefault(fname, []).append(base)
        if switched:
            return False, {"expected": expected, "found": {k: sorted(set(v)) for k, v in switched.items()}}
        return True, None

    def check_repetition(self, ctx) -> tuple[bool, dict | None]:
        r = self.rules.get("repetition", {})
        text = ctx["thinking"]
        why: dict = {}
        words = _WORD.findall(text.casefold())
        n = int(r.get("ngram", 4))
        if len(words) >= int(r.get("min_words", 30)) and len(words) >= n:
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            frac = 1.0 - len(set(grams)) / len(grams)
            if frac > float(r.get("max_dup_ngram_frac", 0.45)):
                why["dup_ngram_frac"] = round(frac, 3)
        lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 8]
        if lines:
            counts: dict[str, int] = {}
            for ln in lines:
                counts[ln] = counts.get(ln, 0) + 1
            if len(lines) >= 4:
                frac = 1.0 - len(counts) / len(lines)
                if frac > float(r.get("max_dup_line_frac", 0.35)):
                    why["dup_line_frac"] = round(frac, 3)
            top = max(counts.values())
            if top > int(r.get("max_line_repeats", 3)):
                why["max_line_repeats"] = top
        tail = text[-int(r.get("tail_chars", 400)) :]
        k_min = int(r.get("min_tail_repeats", 4))
        for p in range(1, int(r.get("max_tail_period", 80)) + 1):
            k = max(k_min, -(-60 // p))
            if p * k > len(tail):
                break
            seg = tail[-p * k :]
            if seg == seg[:p] * k and any(ch.isalnum() for ch in seg[:p]):
                why["tail_loop_period"] = p
                break
        return (not why), (why or None)

    def _tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return estimate_tokens(text)

    def check_length(self, ctx) -> tuple[bool, dict | None]:
        L = self.rules.get("length", {})
        t, a, p = self._tokens(ctx["thinking"]), self._tokens(ctx["answer"]), self._tokens(ctx["prompt"])
        bad = []
        if t < int(L.get("min_thinking_tokens", 4)):
            bad.append("thinking_too_short")
        if t > int(L.get("max_thinking_tokens", 16000)):
            bad.append("thinking_too_long")
        if a < int(L.get("min_answer_tokens", 1)):
            bad.append("answer_too_short")
        if a > int(L.get("max_answer_tokens", 2048)):
            bad.append("answer_too_long")
        if p > int(L.get("max_prompt_tokens", 8000)):
            bad.append("prompt_too_long")
        detail = {"thinking_tokens": t, "answer_tokens": a}
        if bad:
            detail["problems"] = bad
        return (not bad), detail

    def check_pii(self, ctx) -> tuple[bool, dict | None]:
        found: dict[str, dict[str, int]] = {}
        for fname in self.rules.get("pii", {}).get("fields", ["prompt", "thinking", "answer"]):
            text = ctx[fname]
            if text:
                counts = self.pii.find(text, ctx["lang"])
                if counts:
                    found[fname] = dict(counts)
        return (not found), ({"found": found} if found else None)

    def check_contamination(self, ctx) -> tuple[bool, dict | None]:
        if not self.index.items:
            return True, None
        c = self.rules.get("contamination", {})
        limit = int(c.get("min_overlap", 1))
        hits = {}
        for fname in c.get("fields", ["prompt", "thinking", "answer"]):
            got = self.index.overlap(ctx[fname], limit)
            if got >= limit:
                hits[fname] = got
        return (not hits), ({"overlap": hits, "ngram": self.index.n} if hits else None)
