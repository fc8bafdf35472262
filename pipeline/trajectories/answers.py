"""Final-answer extraction and comparison with a reference answer.

Extraction (first that matches, on the text after ``</think>``): the last ``\\boxed{…}``; the last
answer marker from ``rules/trajectories/checks.yaml`` (``Final answer:``, ``Answer:``, ``정답:``,
``답:``, ``정답은 … 입니다`` …); the last bold ``**…**``; the last number with its unit (원, 개, km…);
else the whole (short) answer.

Comparison, in order: numbers (thousands separators, decimals, fractions ``3/4``, mixed numbers
``1 1/2``, LaTeX ``\\frac``, percentages — ``25%`` equals ``0.25`` and ``25``), within a relative
tolerance; normalised text (case, punctuation, articles, Korean copulas); then symbolic equivalence
through Math-Verify, run with its own timeouts disabled (``parsing_timeout=None``,
``timeout_seconds=None``: its signal-based timeouts only work in the main thread and Beam runs DoFns
in threads) inside a worker thread bounded by our own time limit; a guarded sympy comparison is the
fallback when Math-Verify is unavailable or fails.
"""
from __future__ import annotations

import ast
import concurrent.futures as cf
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

from pipeline.trajectories.arith import evaluate

_LOG = logging.getLogger(__name__)

DEFAULT_MARKERS = [
    r"(?i)final\s+answer\s*[:：]",
    r"(?i)\banswer\s*[:：]",
    r"최종\s*(?:정)?답\s*[:：]",
    r"정답\s*[:：]",
    r"(?<![가-힣])답\s*[:：]",
    r"(?i)the\s+answer\s+is",
    r"(?:정)?답은",
]
DEFAULT_UNITS = ["원", "개", "명", "km", "m", "cm", "kg", "g", "L", "mL", "달러", "dollars", "dollar", "won", "시간", "분", "초", "살", "권", "장", "마리"]

_NUM_TOKEN = re.compile(
    r"[-−]?[$₩€£]?(?:\d+\s+\d+/\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:\s*/\s*\d+)?\s*%?"
)
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_KO_TAIL = re.compile(r"(?:입니다|이다|예요|이에요|에요|이요|입니당|임|요)?\s*[.。!]*\s*$")
_EN_ARTICLES = re.compile(r"\b(?:the|a|an)\b", re.I)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (or ``\\fbox{…}``), braces balanced."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    start = text.find("{", idx)
    if start < 0:
        return None
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


@dataclass
class Extraction:
    value: str | None
    method: str  # boxed | marker | bold | last_number | whole | none


class AnswerMatcher:
    """Extracts and compares answers. Build once per worker (compiles the rules' patterns)."""

    def __init__(
        self,
        markers: Sequence[str] = DEFAULT_MARKERS,
        units: Sequence[str] = DEFAULT_UNITS,
        rel_tol: float = 1e-6,
        abs_tol: float = 1e-9,
        symbolic_timeout_seconds: float = 2.0,
        max_symbolic_chars: int = 300,
        max_whole_chars: int = 80,
    ) -> None:
        self.markers = [re.compile(m) for m in markers]
        self.units = sorted(set(units), key=len, reverse=True)
        alt = "|".join(re.escape(u) for u in self.units) or "(?!)"
        self._unit_after = re.compile(rf"(?<=\d)\s?(?:{alt})(?![A-Za-z])")
        self._num_unit = re.compile(rf"({_NUM_TOKEN.pattern})\s?(?:{alt})?", re.I)
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.max_whole_chars = max_whole_chars
        self._symbolic = SymbolicComparer(symbolic_timeout_seconds, max_symbolic_chars)

    # -- extraction -------------------------------------------------------------------------
    def extract(self, answer: str) -> Extraction:
        text = answer.strip()
        if not text:
            return Extraction(None, "none")
        boxed = last_boxed(text)
        if boxed:
            return Extraction(boxed, "boxed")
        best: tuple[int, str] | None = None
        for pat in self.markers:
            for m in pat.finditer(text):
                rest = text[m.end() :].split("\n", 1)[0].strip()
                if rest and (best is None or m.start() > best[0]):
                    best = (m.start(), rest)
        if best is not None:
            value = best[1]
            inner = _BOLD.search(value)
            return Extraction(inner.group(1).strip() if inner else value.strip("* "), "marker")
        bolds = _BOLD.findall(text)
        if bolds:
            return Extraction(bolds[-1].strip(), "bold")
        nums = list(self._num_unit.finditer(text))
        if nums:
            return Extraction(nums[-1].group(0).strip(), "last_number")
        if len(text) <= self.max_whole_chars:
            return Extraction(text, "whole")
        return Extraction(None, "none")

    # -- comparison -------------------------------------------------------------------------
    def _clean(self, s: str) -> str:
        s = unicodedata.normalize("NFKC", s).strip()
        s = s.replace("$", " ").replace("\\(", " ").replace("\\)", " ").replace("\\[", " ").replace("\\]", " ")
        b = last_boxed(s)
        if b:
            s = b
        s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
        s = re.sub(r"\\(?:,|;|!|quad)", " ", s)
        s = s.replace("\\%", "%").replace("*", " ").strip()
        s = _KO_TAIL.sub("", s).strip()
        return s.strip(" .。,")

    def number(self, s: str) -> tuple[Fraction, bool] | None:
        """(value, written as percent) of a string that is one number, else None."""
        s = self._unit_after.sub("", self._clean(s)).strip()
        s = s.replace("−", "-")
        s = re.sub(r"^[$₩€£]|^(?:USD|KRW)\s*", "", s).strip()
        pct = s.endswith("%")
        core = s[:-1].strip() if pct else s
        m = re.fullmatch(r"(-?)(\d+)\s+(\d+)\s*/\s*(\d+)", core)  # mixed number 1 1/2
        if m:
            if int(m.group(4)) == 0:
                return None
            v = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return (-v if m.group(1) else v), pct
        if not re.fullmatch(r"[-+]?[\d.,\s/()]+|[-+]?\\d?frac\{[^{}]+\}\{[^{}]+\}", core):
            return None
        if re.search(r"\d\s+\d", core):
            return None
        v = evaluate(core)
        return (v, pct) if v is not None else None

    def first_number(self, s: str) -> tuple[Fraction, bool] | None:
        whole = self.number(s)
        if whole is not None:
            return whole
        cleaned = self._clean(s)
        for m in _NUM_TOKEN.finditer(cleaned):
            got = self.number(m.group(0))
            if got is not None:
                return got
        return None

    def _num_equal(self, a: Fraction, b: Fraction) -> bool:
        diff = abs(a - b)
        return diff <= Fraction(self.abs_tol) or diff <= Fraction(self.rel_tol) * max(abs(a), abs(b))

    def text_key(self, s: str) -> str:
        s = self._clean(s).casefold()
        s = _EN_ARTICLES.sub(" ", s)
        s = "".join(c for c in s if not unicodedata.category(c).startswith("P"))
        return " ".join(s.split())

    def compare(self, predicted: str, reference: str) -> tuple[bool, str]:
        """(equal, how): how is numeric | text | symbolic | mismatch | unparsed."""
        ref_num = self.number(reference)
        if ref_num is not None:
            got = self.first_number(predicted)
            if got is None:
                return False, "unparsed"
            (pv, pp), (rv, rp) = got, ref_num
            options = [(pv, rv)]
            if pp != rp:  # 25% vs 0.25 (and vs 25)
                options += [(pv / 100, rv) if pp else (pv, rv / 100), (pv, rv)]
            if any(self._num_equal(a, b) for a, b in options):
                return True, "numeric"
            return False, "mismatch"
        pk, rk = self.text_key(predicted), self.text_key(reference)
        if pk and rk and (pk == rk or re.search(rf"(?:^|\s){re.escape(rk)}(?:\s|$)", pk) and len(pk) <= 4 * len(rk) + 8):
            return True, "text"
        sym = self._symbolic.equivalent(self._clean(reference), self._clean(predicted))
        if sym:
            return True, "symbolic"
        return False, "mismatch"


class SymbolicComparer:
    """Math-Verify (timeouts off) in a worker thread under our own time limit; sympy as fallback.

    A call that overruns the limit is abandoned (its thread cannot be killed) and a fresh worker
    thread takes over; after ``max_abandoned`` overruns symbolic comparison is switched off for this
    worker, so a pathological input can cost at most that many threads.
    """

    def __init__(self, timeout_seconds: float = 2.0, max_chars: int = 300, max_abandoned: int = 4) -> None:
        self.timeout = timeout_seconds
        self.max_chars = max_chars
        self.max_abandoned = max_abandoned
        self._pool: cf.ThreadPoolExecutor | None = None
        self._abandoned = 0
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"timeout": self.timeout, "max_chars": self.max_chars, "max_abandoned": self.max_abandoned, "_pool": None, "_abandoned": 0}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _bounded(self, fn: Callable[[], bool]) -> bool | None:
        with self._lock:
            if self._abandoned >= self.max_abandoned:
                return None
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="symbolic")
            fut = self._pool.submit(fn)
            try:
                return fut.result(timeout=self.timeout)
            except cf.TimeoutError:
                self._abandoned += 1
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                _LOG.warning("symbolic comparison exceeded %.1fs; abandoned (%d so far)", self.timeout, self._abandoned)
                return None
            except Exception:  # noqa: BLE001 - a comparison error is "not equal"
                return None

    def equivalent(self, gold: str, pred: str) -> bool:
        if not gold or not pred or len(gold) > self.max_chars or len(pred) > self.max_chars:
            return False
        got = self._bounded(lambda: _math_verify(gold, pred))
        if got is None:
            got = self._bounded(lambda: _sympy_equal(gold, pred))
        return bool(got)


def _math_verify(gold: str, pred: str) -> bool:
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from math_verify import parse, verify

    def wrap(s: str) -> str:
        return s if "$" in s else f"${s}$"

    g = parse(wrap(gold), parsing_timeout=None)
    p = parse(wrap(pred), parsing_timeout=None)
    if not g or not p:
        raise ValueError("unparsed")
    return bool(verify(g, p, timeout_seconds=None))


_SYMPY_FUNCS = {"sqrt", "log", "exp", "sin", "cos", "tan", "pi", "E", "I"}


def _safe_sympy_source(s: str) -> str | None:
    s = s.replace("^", "**").replace("×", "*").replace("÷", "/")
    s = re.sub(r"\\sqrt\{([^{}]+)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\frac\{([^{}]+)\}\{([^{}]+)\}", r"((\1)/(\2))", s)
    s = re.sub(r"(\d)\s*([a-zA-Z(])", r"\1*\2", s)  # 2x → 2*x
    try:
        tree = ast.parse(s, mode="eval")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if len(node.id) > 1 and node.id not in _SYMPY_FUNCS:
                return None
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _SYMPY_FUNCS or node.keywords:
                return None
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                return None
        elif not isinstance(
            node,
            (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd),
        ):
            return None
    return s


def _sympy_equal(gold: str, pred: str) -> bool:
    import sympy

    a, b = _safe_sympy_source(gold), _safe_sympy_source(pred)
    if a is None or b is None:
        return False
    # The AST was whitelisted above (numbers, one-letter symbols, a few functions), so sympify is safe.
    ea, eb = sympy.sympify(a), sympy.sympify(b)
    return sympy.simplify(ea - eb) == 0
