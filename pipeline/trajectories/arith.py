"""A safe arithmetic evaluator and the finder of explicit arithmetic claims in reasoning text.

``evaluate("1,200 × 7 + 350")`` parses the expression with :mod:`ast` (never ``eval``), accepts only
numbers, ``+ - × ÷ * / ^ **``, unary signs, parentheses and percentages, and computes exactly with
:class:`fractions.Fraction`. Anything else (names, calls, huge powers, division by zero, over-long
input) returns ``None``: "not checkable", never an exception.

``find_claims(text)`` pulls every explicit claim such as ``12 × 7 = 84``, ``3/4 = 0.75`` or
``1,200원 + 350원 = 1,550원`` out of free text (English, Korean, LaTeX-ish markup). A claim is a chain
of ``=``-separated segments, at least one of which contains an operator; ``check_claim`` verifies
that every segment of the chain has the same value, allowing the rounding a written decimal implies
(``10 / 3 = 3.33`` is right, ``10 / 3 = 3.4`` is wrong) and a looser tolerance after ``≈``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable

MAX_EXPR_CHARS = 200
MAX_POW_EXPONENT = 64
MAX_MAGNITUDE = Fraction(10) ** 60

_THOUSANDS_RE = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d])")

_LATEX_SUBS = [
    (re.compile(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"((\1)/(\2))"),
    (re.compile(r"\\d?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"((\1)/(\2))"),
    (re.compile(r"\\(?:times|cdot)"), "×"),
    (re.compile(r"\\div"), "÷"),
    (re.compile(r"\\approx"), "≈"),
    (re.compile(r"\\(?:left|right|[,;!]|quad|qquad)"), " "),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\[()\[\]]"), " "),
    (re.compile(r"[{}]"), " "),
]
_CHAR_SUBS = str.maketrans({"−": "-", "–": "-", "·": "×", "∙": "×", "⋅": "×", "＝": "=", "＋": "+", "＊": "*", "／": "/", "（": "(", "）": ")", "％": "%"})
_X_MUL = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])")
# A run of characters that may form an arithmetic chain. Newlines end a run.
_RUN = re.compile(r"[0-9.,+\-×*/÷^()%=≈$₩€£ \t]+")
_OPERATOR = re.compile(r"(?<=[\d)%])\s*[+\-×*/÷^]\s*(?=[\d(.$₩€£-])")


@dataclass(frozen=True, slots=True)
class Claim:
    text: str  # the normalised claim, e.g. "12 × 7 = 84" (numbers only: safe to log)
    ok: bool


def _num(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        return _num(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a = _eval(node.left)
        b = _eval(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            r = a + b
        elif isinstance(op, ast.Sub):
            r = a - b
        elif isinstance(op, ast.Mult):
            r = a * b
        elif isinstance(op, ast.Div):
            if b == 0:
                raise ZeroDivisionError
            r = a / b
        elif isinstance(op, ast.Mod):  # only produced by our own percent rewrite
            raise ValueError("modulo not supported")
        elif isinstance(op, ast.Pow):
            if b.denominator != 1 or abs(b) > MAX_POW_EXPONENT or (a == 0 and b < 0):
                raise ValueError("unsupported power")
            r = a ** int(b)
        else:
            raise ValueError("operator not allowed")
        if abs(r) > MAX_MAGNITUDE:
            raise ValueError("too large")
        return r
    raise ValueError(f"node not allowed: {type(node).__name__}")


def normalize_expression(expr: str) -> str:
    """Unicode/LaTeX operators → Python operators; thousands separators and currency dropped."""
    s = expr.translate(_CHAR_SUBS)
    for pat, rep in _LATEX_SUBS:
        s = pat.sub(rep, s)
    s = _X_MUL.sub(" × ", s)
    s = _THOUSANDS_RE.sub(lambda m: m.group(1).replace(",", ""), s)
    s = re.sub(r"[$₩€£]", "", s)
    s = s.replace("×", "*").replace("÷", "/").replace("^", "**")
    s = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", s)
    return s.strip()


def evaluate(expr: str) -> Fraction | None:
    """Exact value of an arithmetic expression, or None when it is not a checkable expression."""
    if not expr or len(expr) > MAX_EXPR_CHARS:
        return None
    s = normalize_expression(expr)
    if not s or "," in s or re.search(r"\d\s+\d", s) or re.search(r"\d\.(?!\d)|(?<!\d)\.\d", s):
        return None  # lists, "1 2", dangling dots: not one number/expression
    try:
        tree = ast.parse(s, mode="eval")
        return _eval(tree)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError, TypeError):
        return None


def has_operator(segment: str) -> bool:
    s = segment.translate(_CHAR_SUBS)
    for pat, rep in _LATEX_SUBS:
        s = pat.sub(rep, s)
    s = _X_MUL.sub(" × ", s)
    return bool(_OPERATOR.search(s.strip()))


def shown_decimals(segment: str) -> int | None:
    """Decimals written in a bare-number segment ("3.33" → 2); None when the segment is an expression."""
    s = segment.strip().replace(",", "")
    m = re.fullmatch(r"[-+]?[$₩€£]?\d+(?:\.(\d+))?\s*%?", s)
    if not m:
        return None
    return len(m.group(1) or "")


def _strip_units(text: str, units: Iterable[str]) -> str:
    units = sorted({u for u in units if u}, key=len, reverse=True)
    if not units:
        return text
    alt = "|".join(re.escape(u) for u in units)
    # A unit right after a number (optionally one space), not followed by more letters (except Hangul
    # particles after Hangul units, e.g. "8,400원입니다").
    return re.sub(rf"(?<=\d)\s?(?:{alt})(?![A-Za-z])", "", text)


def _balance(seg: str) -> str:
    seg = seg.strip().strip(",").strip()
    seg = seg.rstrip(".").strip()
    while seg.startswith("(") and seg.count("(") > seg.count(")"):
        seg = seg[1:].strip()
    while seg.endswith(")") and seg.count(")") > seg.count("("):
        seg = seg[:-1].strip()
    return seg


def find_claims(text: str, units: Iterable[str] = (), rel_tol: float = 1e-9, approx_rel_tol: float = 0.01) -> list[Claim]:
    """Every explicit arithmetic chain in ``text``, each recomputed. Unparseable chains are skipped."""
    s = text.translate(_CHAR_SUBS)
    for pat, rep in _LATEX_SUBS:
        s = pat.sub(rep, s)
    s = _X_MUL.sub(" × ", s)
    s = _strip_units(s, units)
    s = s.replace("**", " ")  # markdown bold around claims
    claims: list[Claim] = []
    for m in _RUN.finditer(s):
        run = m.group(0)
        if "=" not in run and "≈" not in run:
            continue
        line_start = s.rfind("\n", 0, m.start()) + 1
        prefix = s[line_start : m.start()]
        # ", " separates list items; thousands separators never have a space after them.
        pieces = re.split(r"[,.]\s+", run)
        for k, piece in enumerate(pieces):
            if "=" not in piece and "≈" not in piece:
                continue
            piece = _leading(piece, prefix if k == 0 else ",")
            if piece is None:
                continue
            claim = check_chain(piece, rel_tol=rel_tol, approx_rel_tol=approx_rel_tol)
            if claim is not None:
                claims.append(claim)
    return claims


def _leading(piece: str, prefix: str) -> str | None:
    """Resolve what the start of a run means given the text before it on the same line.

    "- 12 × 7 = 84" at the start of a line is a bullet; "total - 5 × 2 = 69" continues a worded
    expression (not checkable); "Step 2 = ..." labels, so a bare leading number after a word is dropped.
    """
    lead = re.match(r"^[\s.,]*", piece).group(0)  # a sentence end before the claim: "합니다. 3 × 4 = 12"
    if "." in lead or "," in lead:
        prefix = prefix + lead
    body = piece[len(lead) :]
    spaced = piece[:1].isspace() or prefix.endswith((" ", "\t"))
    before = prefix.rstrip()
    after_word = bool(before) and (before[-1].isalnum() or before[-1] == "_")
    if re.match(r"^[-*•]\s", body):
        if after_word:
            return None
        return body[1:].lstrip()
    if re.match(r"^[+*/×÷^]", body):
        return None
    if body.startswith("-") and after_word and not spaced:
        return None  # "x-5 = 3"
    if after_word:
        first = re.split(r"(=|≈)", body, maxsplit=1)
        if shown_decimals(first[0]) is not None and len(first) == 3 and not prefix.endswith(("(", "[")):
            return first[2] if (first[2].count("=") + first[2].count("≈")) >= 1 else None
    return body


def _close(a: Fraction, b: Fraction, decimals: int | None, rel_tol: float, approx: bool, approx_rel_tol: float) -> bool:
    if a == b:
        return True
    diff = abs(a - b)
    scale = max(abs(a), abs(b), Fraction(1))
    if diff <= scale * Fraction(rel_tol):
        return True
    if decimals is not None:
        # "10 / 3 = 3.33": the written value is the exact one rounded to the shown decimals.
        half_ulp = Fraction(1, 2 * 10**decimals) + Fraction(1, 10 ** (decimals + 6))
        if diff <= half_ulp:
            return True
    return approx and diff <= scale * Fraction(approx_rel_tol)


def check_chain(run: str, rel_tol: float = 1e-9, approx_rel_tol: float = 0.01) -> Claim | None:
    """Check one ``a = b [= c ...]`` chain; None when it is not a checkable arithmetic claim."""
    parts = re.split(r"(=|≈)", run)
    segs = [_balance(p) for p in parts[0::2]]
    seps = parts[1::2]
    # Drop empty leading/trailing pieces ("= 84" at the start of a run after a word).
    while segs and not segs[0]:
        segs.pop(0)
        seps.pop(0) if seps else None
    while segs and not segs[-1]:
        segs.pop()
        seps.pop() if seps else None
    if len(segs) < 2 or any(not x for x in segs):
        return None
    if re.match(r"^[+*/×÷^]", segs[0]) or re.search(r"[+\-*/×÷^]$", segs[-1]):
        return None  # the run starts/ends mid-expression: the claim continues into words
    if not any(has_operator(x) for x in segs):
        return None  # "1 = 1000" (unit conversions with stripped units), restatements
    values = [evaluate(x) for x in segs]
    if any(v is None for v in values):
        return None
    ok = True
    for i in range(len(values) - 1):
        dec = shown_decimals(segs[i + 1])
        if dec is None:
            dec = shown_decimals(segs[i])
        if not _close(values[i], values[i + 1], dec, rel_tol, seps[i] == "≈", approx_rel_tol):
            ok = False
            break
    text = " ".join(f"{segs[i]} {seps[i]}" for i in range(len(seps))) + f" {segs[-1]}"
    return Claim(" ".join(text.split()), ok)


def format_number(value: Fraction, lang: str | None = None) -> str:
    """Display form used by the programmatic teacher: thousands separators, exact decimals, else a/b."""
    if value.denominator == 1:
        return f"{value.numerator:,}"
    d = value.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:  # terminating decimal
        whole = abs(value.numerator) // value.denominator
        rest = abs(value) - whole
        digits = ""
        while rest and len(digits) < 12:
            rest *= 10
            digits += str(int(rest))
            rest -= int(rest)
        sign = "-" if value < 0 else ""
        return f"{sign}{whole:,}.{digits}"
    return f"{value.numerator}/{value.denominator}"
