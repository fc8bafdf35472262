"""The programmatic teacher: correct-by-construction step-by-step solutions, offline.

It solves prompts whose ``task`` it can read — an arithmetic ``expression`` (word problems from
templates.yaml, seeds carrying ``expression``, calculation prompts over a document's numbers) or a
``max`` over listed numbers — and, failing that, a prompt that *is* an arithmetic expression
("Compute 12 × 7 + 5", "계산하세요: 3/4 + 1/8"). The thinking walks the expression tree bottom-up,
one explicit claim per operation ("First, 12 × 7 = 84."), in the prompt's language with the wording
of ``solution`` in rules/trajectories/templates.yaml; every claim is exact (Fractions), so the
samples pass the ``steps`` and ``answer`` checks by construction. Prompts it cannot read get
``no_completion``.
"""
from __future__ import annotations

import ast
from fractions import Fraction

from pipeline.trajectories.arith import _CHAR_SUBS, _RUN, evaluate, format_number, has_operator, normalize_expression
from pipeline.trajectories.teachers import Result
from pipeline.trajectories.templates import load_templates

VERSION = "v1"
_OPS = {ast.Add: ("+", 1), ast.Sub: ("−", 1), ast.Mult: ("×", 2), ast.Div: ("÷", 2), ast.Pow: ("^", 3)}
_SPACED_UNIT_LANGS = {"en"}


def _operand(v: Fraction) -> str:
    s = format_number(v)
    return f"({s})" if v < 0 or "/" in s else s


class ProgrammaticTeacher:
    def __init__(self, solution: dict, fallback_lang: str = "en") -> None:
        self.solution = solution
        self.fallback_lang = fallback_lang
        self.name = f"programmatic:{VERSION}"

    @classmethod
    def from_config(cls, config) -> "ProgrammaticTeacher":
        return cls(load_templates(config.rule_file("trajectories/templates.yaml")).get("solution", {}))

    def setup(self) -> None:
        pass

    def complete(self, prompts: list[dict]) -> list[Result]:
        out = []
        for p in prompts:
            text = self.solve(p)
            out.append(Result([text]) if text else Result(error="no_completion", detail={"teacher": self.name}))
        return out

    # -- solving --------------------------------------------------------------------------
    def _words(self, lang: str | None) -> tuple[str, dict]:
        lang = (lang or self.fallback_lang).split("-")[0].lower()
        if lang not in self.solution:
            lang = self.fallback_lang
        return lang, self.solution[lang]

    def solve(self, prompt: dict) -> str | None:
        task = prompt.get("task") or self._task_from_text(prompt.get("prompt") or "")
        if not task:
            return None
        lang, w = self._words(prompt.get("lang"))
        if task.get("kind") == "max":
            return self._solve_max(task, w)
        if task.get("kind") == "expression":
            return self._solve_expression(task, lang, w)
        return None

    @staticmethod
    def _task_from_text(text: str) -> dict | None:
        """The longest arithmetic expression written in the prompt, if it has an operator."""
        best = None
        for m in _RUN.finditer(text.translate(_CHAR_SUBS)):
            cand = m.group(0).strip().rstrip("=").strip().rstrip(".").strip()
            if "=" in cand or not has_operator(cand) or evaluate(cand) is None:
                continue
            if best is None or len(cand) > len(best):
                best = cand
        return {"kind": "expression", "expression": best, "unit": None} if best else None

    def _solve_max(self, task: dict, w: dict) -> str | None:
        values = [evaluate(str(n)) for n in task.get("numbers", [])]
        if len(values) < 2 or any(v is None for v in values):
            return None
        lines = [w["max_intro"].format(numbers=", ".join(format_number(v) for v in values))]
        best = values[0]
        for v in values[1:]:
            a, b = (v, best) if v > best else (best, v)
            if v != best:
                lines.append(w["max_step"].format(a=format_number(a), b=format_number(b)))
            best = max(best, v)
        result = format_number(best)
        lines.append(w["max_conclude"].format(result=result))
        return self._compose(lines, w["answer"].format(result=result))

    def _solve_expression(self, task: dict, lang: str, w: dict) -> str | None:
        expr = task.get("expression")
        if not expr:
            return None
        try:
            tree = ast.parse(normalize_expression(expr), mode="eval").body
        except SyntaxError:
            return None
        steps: list[str] = []
        try:
            value = self._walk(tree, steps)
        except (ValueError, ZeroDivisionError):
            return None
        if value is None or evaluate(expr) != value:
            return None
        unit = task.get("unit")
        result = format_number(value)
        if unit:
            result = f"{result} {unit}" if lang in _SPACED_UNIT_LANGS else f"{result}{unit}"
        lines = []
        if task.get("plan"):
            lines.append(task["plan"])
        lines.append(w["restate"].format(expression=self._render(tree)))
        for i, step in enumerate(steps):
            key = "first" if i == 0 else ("last" if i == len(steps) - 1 else "next")
            lines.append(w[key].format(step=step))
        lines.append(w["conclude"].format(result=result))
        return self._compose(lines, w["answer"].format(result=result))

    @staticmethod
    def _compose(lines: list[str], answer: str) -> str:
        return "<think>\n" + "\n".join(lines) + "\n</think>\n\n" + answer

    def _walk(self, node: ast.AST, steps: list[str]) -> Fraction | None:
        if isinstance(node, ast.Constant):
            return evaluate(repr(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self._walk(node.operand, steps)
            return None if v is None else -v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            a = self._walk(node.left, steps)
            b = self._walk(node.right, steps)
            if a is None or b is None:
                return None
            sym = _OPS[type(node.op)][0]
            v = evaluate(f"({_operand(a).replace('−', '-')}) {sym.replace('−', '-')} ({_operand(b)})")
            if v is None:
                return None
            steps.append(f"{_operand(a)} {sym} {_operand(b)} = {format_number(v)}")
            return v
        return None

    def _render(self, node: ast.AST, parent_prec: int = 0, right: bool = False) -> str:
        if isinstance(node, ast.Constant):
            v = evaluate(repr(node.value))
            return _operand(v) if v is not None else repr(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"(-{self._render(node.operand, 9)})"
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            sym, prec = _OPS[type(node.op)]
            s = f"{self._render(node.left, prec)} {sym} {self._render(node.right, prec, True)}"
            if prec < parent_prec or (right and prec == parent_prec):
                return f"({s})"
            return s
        return "?"

