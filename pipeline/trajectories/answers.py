"""Final-answer checking: Math-Verify's own ``parse`` and ``verify`` on both sides.

The reference (gold) and the teacher's answer text (prediction) are parsed with Math-Verify and
compared with its ``verify(gold, prediction)``, using the extraction configs its README recommends:
a gold that is a plain number with ``ExprExtractionConfig()``, any other gold as LaTeX with
``LatexExtractionConfig()``; the prediction with ``LatexExtractionConfig(boxed_match_priority=0)``
and ``ExprExtractionConfig()``. Before that, a small pre-normalisation supplies only what
Math-Verify has no rule for:

- answer markers from ``rules/trajectories/checks.yaml`` (``정답은 12입니다``, ``답: 3이다``,
  ``答え：``, ``答案：``, ``Answer: x^2-1``): the value after the last marker, up to the end of its
  sentence, is what is handed over, with Korean/Japanese/Chinese copulas and particles (``입니다``,
  ``이다``, ``です``) and units (``cm``, ``개``, ``명``, ``원``) removed; a value that is not a plain
  number is wrapped in ``$…$`` so it is read as LaTeX (``(0,9)`` is an interval, ``1/3`` a fraction,
  ``2\\sqrt{2}`` a product), while ``1,234`` stays one number;
- full-width digits and signs, mixed numbers (``1 1/2``), a number glued to Hangul (``총84개``).

With a ``\\boxed{}`` in the answer, or without any marker, the (lightly normalised) text goes to
Math-Verify whole and its own extraction decides. A reference that is words rather than math
(``Seoul``, ``서울``) is compared as normalised text and must be equal: when unsure, reject.

Both Math-Verify calls run in a child process (:mod:`pipeline.trajectories.mathverify_process`)
that is killed when our own time limit passes: an overrun is a rejection with ``compare: timeout``,
never a hang.
"""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from pipeline.saferegex import compile_rule
from pipeline.trajectories.mathverify_process import TIMED_OUT, shared_process

_LOG = logging.getLogger(__name__)

# English markers matter only for values Math-Verify cannot read bare ("Answer: x^2 - 1"): its own
# "answer"/"final answer is" anchors handle the rest.
DEFAULT_MARKERS = [
    r"(?i)final\s+answer\s*[:：]",
    r"(?i)\banswer\s*[:：]",
    r"최종\s*(?:정)?답\s*[:：]",
    r"정답\s*[:：]",
    r"(?<![가-힣])답\s*[:：]",
    r"(?:정)?답은",
    r"答え\s*(?:は|[:：])",
    r"答案\s*(?:是|为|為|[:：])",
]
DEFAULT_UNITS = [
    "원", "개", "명", "km", "m", "cm", "mm", "kg", "g", "L", "mL", "달러", "dollars", "dollar", "won", "시간", "분", "초", "살", "권",
    "장", "마리", "번", "대", "쪽", "페이지", "점", "hours", "minutes", "km/h", "個", "人", "本", "枚", "円", "元", "个", "岁",
]  # the same as rules/trajectories/checks.yaml

_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x2212: 0x2D}
_LATEX_ENV = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\(?:boxed|fbox)\b")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_CJK = r"가-힣\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_MAX_CACHED_CHARS = 200
# A number and one word the unit list does not have ("18 apples", "3 사과"); one or two Latin
# letters are variables ("2x"), and function names are math, not units.
_COUNTED = re.compile(
    rf"([^A-Za-z{_CJK}]+?)\s*(?:(?!(?:arc)?(?:sin|cos|tan|cot|sec|csc)h?$|log$|exp$|sqrt$)[A-Za-z]{{3,12}}|[{_CJK}]{{1,6}})"
)
_HAS_CJK = re.compile(f"[{_CJK}]")
_TAIL_PUNCT = " \t\n.。!！?？,*"
_SENTENCE_END = re.compile(r"[.!?](?=\s)|[。！？]|\n")
# One number as Math-Verify's ExprExtractionConfig reads it: thousands separated by "," or " ",
# a decimal point or a decimal comma ("1,22"), a currency sign, a percent sign.
_PLAIN_NUMBER = re.compile(r"[-+]?[$₩€£¥]?\s?(?:[1-9]\d{0,2}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)\s?%?")
_MIXED_NUMBER = re.compile(r"(?<![\d.,/])(\d{1,9})\s+([1-9]\d{0,8})\s*/\s*([1-9]\d{0,8})(?![\d/.,])")
_HANGUL_DIGIT = re.compile(r"(?<=[가-힣])(?=[\d$])")
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_WORDY = re.compile(rf"[A-Za-z]{{3,}}|[{_CJK}]")
_KO_COPULA = re.compile(r"(?:입니다|이다|예요|이에요|에요|이요|임|요|です|だ|である)?\s*[.。!]*\s*$")
_EN_ARTICLES = re.compile(r"\b(?:the|a|an)\b", re.I)


@dataclass
class Extraction:
    """What is handed to Math-Verify (``value``) and how it was found.

    ``method``: ``boxed`` (the text has a ``\\boxed{}``), ``marker`` (the value after an answer
    marker), ``text`` (no marker: the whole text, Math-Verify extracts), ``none`` (nothing usable).
    ``answer`` is the isolated answer (marker value, boxed content, or the whole short text) used
    when the reference is words, not math.
    """

    value: str | None
    method: str
    answer: str | None = None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (or ``\\fbox{…}``), braces balanced."""
    matches = list(_BOXED.finditer(text))
    if not matches:
        return None
    start = matches[-1].end() - 1
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i].strip()
    return None


def _cjk_tail_start(s: str) -> int | None:
    """Where a trailing run of CJK words (copula, particles, unit: "개입니다.") starts, if any.
    A backwards scan: a regex anchored at the end would retry from every position of a long reply."""
    i = len(s)
    while i and s[i - 1] in _TAIL_PUNCT:
        i -= 1
    j, seen = i, False
    while j and (_HAS_CJK.match(s[j - 1]) or s[j - 1] in " \t*"):
        seen = seen or s[j - 1] not in " \t*"
        j -= 1
    return j if seen else None


def _mixed_to_fraction(m: re.Match) -> str:
    whole, num, den = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if num >= den:  # "3 4/2" is not a mixed number: leave it alone
        return m.group(0)
    return f"{whole * den + num}/{den}"


def _light(text: str) -> str:
    """Normalisation safe on any text: full-width forms, mixed numbers, a number glued to Hangul."""
    text = text.translate(_FULLWIDTH)
    text = _MIXED_NUMBER.sub(_mixed_to_fraction, text)
    return _HANGUL_DIGIT.sub(" ", text)


_MATH_SPAN = re.compile(rf"\$[^$]*\$|\\\(.*?\\\)|(?P<cjk>[{_CJK}])")
_NUMBER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*")


def _leading_math(s: str) -> str | None:
    """The math a sentence starts with, up to its first CJK character outside ``$…$``; else None."""
    s = s.lstrip(" *")
    if not s or not re.match(r"[-+\d$\\(\[{.]", s):
        return None
    for m in _MATH_SPAN.finditer(s):
        if m.group("cjk"):
            return s[: m.start()]
    return s


def _math_chunks(s: str) -> int:
    """LaTeX spans plus the numbers outside them."""
    spans = [m for m in _MATH_SPAN.finditer(s) if not m.group("cjk")]
    outside = _MATH_SPAN.sub(lambda m: m.group(0) if m.group("cjk") else " ", s)
    return len(spans) + len(_NUMBER_TOKEN.findall(outside))


def _is_wordy(s: str) -> bool:
    """Words rather than math: a Latin word of 3+ letters outside LaTeX commands, or any CJK."""
    s = re.sub(r"\\(?:text|mathrm|textbf|mbox|operatorname|begin|end)\s*\{[^{}]*\}", " ", s)
    return bool(_WORDY.search(_LATEX_CMD.sub(" ", s)))


class AnswerMatcher:
    """Extracts and compares answers. Build once per worker: compiles the rules' patterns and keeps
    the parsed references (one per seed) in a cache."""

    def __init__(
        self,
        markers: Sequence[str] = DEFAULT_MARKERS,
        units: Sequence[str] = DEFAULT_UNITS,
        float_rounding: int = 6,
        strict: bool = True,
        allow_set_relation_comp: bool = False,
        prediction_targets: Sequence[str] = ("latex", "expr"),
        timeout_seconds: float = 2.0,
        max_answer_chars: int = 20000,
        max_whole_chars: int = 80,
        cache_size: int = 4096,
    ) -> None:
        # Markers and units come from rules/ YAML: compiled as user patterns under a time limit.
        self.markers = [compile_rule(f"checks.yaml:answer.markers[{i}]", m) for i, m in enumerate(markers)]
        self.units = sorted(set(units), key=len, reverse=True)
        alt = "|".join(re.escape(u) for u in self.units) or "(?!)"
        # A unit right after a number (one optional space), not the start of a longer word: "12 cm",
        # "3개입니다", "45km" — but never the "m" of "m2" or the "g" of "go".
        self._unit_after = compile_rule("checks.yaml:answer.units", rf"(?<=\d)\s?(?:{alt})[²³]?(?![A-Za-z0-9])")
        self.verify_options = {"float_rounding": float_rounding, "strict": strict, "allow_set_relation_comp": allow_set_relation_comp}
        unknown = set(prediction_targets) - {"latex", "expr"}
        if unknown or not prediction_targets:
            raise ValueError(f"prediction_targets: use 'latex' and/or 'expr', not {sorted(unknown)}")
        self.prediction_targets = tuple(prediction_targets)
        self.max_answer_chars = max_answer_chars
        self.max_whole_chars = max_whole_chars
        self.timeout_seconds = timeout_seconds
        self._cache_size = cache_size
        self._make_caches()

    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("_verdict", "_process"):
            state.pop(key)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._make_caches()

    def _make_caches(self) -> None:
        # Starts (or reuses) the worker's Math-Verify child: importing sympy and building the LaTeX
        # parser takes seconds, so it happens here, not inside the first bounded comparison.
        self._process = shared_process(self.timeout_seconds)
        # Verdicts of short answers are cached: the n samples of one prompt often give the same
        # answer. Long texts are not (memory).
        self._verdict = functools.lru_cache(maxsize=self._cache_size)(self._ask)

    def clear_cache(self) -> None:
        """Forget cached verdicts (benchmarks that validate the same candidates again)."""
        self._verdict.cache_clear()

    def _ask(self, kind: str, gold: str, pred: str) -> tuple[bool, str]:
        got = self._process.call(
            {"op": "verify", "kind": kind, "gold": gold, "pred": pred, "targets": list(self.prediction_targets), "options": self.verify_options}
        )
        if got is TIMED_OUT:
            raise TimeoutError
        return bool(got[0]), str(got[1])

    # -- pre-normalisation ------------------------------------------------------------------
    def _clean_value(self, value: str) -> str:
        """A marker's value or a reference: bold, copula/particles, units, trailing punctuation off."""
        inner = _BOLD.search(value)
        s = (inner.group(1) if inner else value).strip().strip("*").strip()
        cut = _cjk_tail_start(s)
        if cut is not None and re.search(r"[\d\\$]", s[:cut]):  # "12개입니다" → "12", but "서울" stays
            s = s[:cut]
        if not _LATEX_ENV.search(s):  # inside LaTeX, Math-Verify's own unit handling applies
            s = self._unit_after.sub("", s)
        return s.strip().rstrip(".,;:。、").strip()

    def _as_math(self, value: str) -> str:
        """A value Math-Verify can read: as is in a LaTeX environment or as a plain number, else ``$…$``."""
        if _LATEX_ENV.search(value) or _PLAIN_NUMBER.fullmatch(value):
            return value
        return f"${value}$"

    def extract(self, answer: str) -> Extraction:
        # The answer is at the end; the limit bounds the work on a runaway reply.
        text = _light(answer.strip()[-self.max_answer_chars :])
        if not text:
            return Extraction(None, "none")
        if _BOXED.search(text):
            return Extraction(text, "boxed", last_boxed(text))
        best: re.Match | None = None
        for pat in self.markers:
            for m in pat.finditer(text):
                if best is None or m.start() > best.start():
                    best = m
        if best is not None:
            rest = text[best.end() :].lstrip(" \t*:：")
            end = _SENTENCE_END.search(rest)
            sentence = rest[: end.start()] if end else rest
            cjk_marker = not best.group(0).isascii()
            if cjk_marker:
                # "정답은 12개이고 검산하면 12 × 2 = 24입니다": the answer is the math right after the
                # marker, up to the first CJK character outside $…$.
                sentence = _leading_math(sentence) or sentence
            value = self._clean_value(sentence)
            if value and not _is_wordy(value):
                return Extraction(self._as_math(value), "marker", value)
            if value and cjk_marker:
                # Math-Verify has no anchor for a CJK marker. CJK words around one number or formula:
                # that is the answer; around several ("사과 3개와 배 12개"), which one is meant is a
                # guess, so the answer counts as not found. English words: Math-Verify reads them.
                if _math_chunks(value) == 1 or not _HAS_CJK.search(value):
                    return Extraction(value, "marker", value)
                return Extraction(None, "none", value)
            if value:  # English prose after the marker: Math-Verify's own "answer" anchors read it
                return Extraction(text, "marker", value)
        short = text if len(text) <= self.max_whole_chars else None
        return Extraction(text, "text", short)

    def reference_kind(self, reference: str) -> tuple[str, str]:
        """(kind, text): ``number`` (Expr config), ``latex`` (LaTeX config) or ``text`` (words)."""
        s = _light(reference.strip())
        if _LATEX_ENV.search(s):
            return "latex", s
        s = self._clean_value(s)
        if _PLAIN_NUMBER.fullmatch(s):
            return "number", s
        counted = _COUNTED.fullmatch(s)
        if counted and _PLAIN_NUMBER.fullmatch(counted.group(1).strip()):
            return "number", counted.group(1).strip()  # "18 apples": a unit the rules do not list
        if not s or _is_wordy(s):
            return "text", s
        return "latex", f"${s}$"

    # -- comparison -------------------------------------------------------------------------
    @staticmethod
    def text_key(s: str) -> str:
        s = unicodedata.normalize("NFKC", s).strip()
        b = last_boxed(s)
        s = b if b is not None else s
        s = re.sub(r"\\(?:text|mathrm|textbf)\s*\{([^{}]*)\}", r"\1", s).replace("$", " ")
        s = _KO_COPULA.sub("", s).casefold()
        s = _EN_ARTICLES.sub(" ", s)
        s = "".join(c for c in s if not unicodedata.category(c).startswith("P"))
        return " ".join(s.split())

    def judge(self, ext: Extraction, reference: str) -> tuple[bool, str]:
        """(equal, how): how is math_verify | text | mismatch | unparsed | unparsed_reference | timeout."""
        kind, gold = self.reference_kind(reference)
        if kind == "text":
            if not gold or not ext.answer:
                return False, "unparsed"
            return (True, "text") if self.text_key(ext.answer) == self.text_key(gold) else (False, "mismatch")
        if ext.value is None:
            return False, "unparsed"
        compare = self._verdict if len(ext.value) <= _MAX_CACHED_CHARS else self._ask
        try:
            ok, how = compare(kind, gold, ext.value)
        except TimeoutError:
            return False, "timeout"
        if how.startswith("error:"):
            _LOG.warning("answer comparison failed: %s", how[len("error:") :])
            return False, "error"
        return ok, how

    def findable(self, ext: Extraction) -> bool:
        """Without a reference: a boxed or marked answer, a short reply, or text Math-Verify parses."""
        if ext.method in ("boxed", "marker") or (ext.method == "text" and ext.answer is not None):
            return True
        if ext.value is None:
            return False
        got = self._process.call({"op": "parse", "pred": ext.value, "targets": list(self.prediction_targets)})
        return got is not TIMED_OUT and bool(got[0])

    def compare(self, predicted: str, reference: str) -> tuple[bool, str]:
        """Extract the answer from ``predicted`` and compare it with ``reference``."""
        return self.judge(self.extract(predicted), reference)
