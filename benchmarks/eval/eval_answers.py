"""Answer checking (pipeline.trajectories.answers) against Math-Verify's own test pairs.

Ground truth: the parametrized ``(gold, pred, expected)`` cases in Math-Verify's ``tests/`` (the
upstream project maintains them; Math-Verify itself passes all of them). They are read from a
checkout at ``$CURATE_EVAL_DATA/math-verify/tests`` by importing the test modules and reading their
``pytest.mark.parametrize`` marks, never copied into this repository. Where a test passes verify
options (``precision``, ``strict``, ``allow_set_relation_comp``) the matcher is built with the same.

Each pair goes through the same path as the ``answer`` check: ``AnswerMatcher.extract`` on the
prediction, then ``judge`` against the gold as reference. Reported: agreement, wrong accepts (we say
equal, upstream says not: the worst error) and wrong rejects, listed separately; then the same pairs
with the prediction put in Korean (and Japanese/Chinese) answer phrasing, whose verdict must not
change.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import MissingGroundTruth, pct, require, table  # noqa: E402

TITLE = "Answer checking vs Math-Verify's own test pairs"
HOW = (
    "check out https://github.com/huggingface/Math-Verify (any recent main) and copy its tests/ "
    "folder to $CURATE_EVAL_DATA/math-verify/tests (default benchmarks/work/eval/math-verify/tests)"
)
MODULES = ["test_all", "test_boxed", "test_numina_cases", "test_open_thoughts", "test_strict", "test_yujianll"]

# Phrasings a Korean (Japanese, Chinese) answer wraps its value in; {p} is the prediction.
PHRASINGS = [
    "정답은 {p}입니다.",
    "답: {p}이다",
    "따라서 답은 {p}이다.",
    "최종 답: {p}",
    "答えは{p}です。",
    "答案是{p}。",
]


def load_pairs(tests: Path) -> list[dict]:
    """Every parametrized (gold, pred, expected) case with the verify options its test uses."""
    import pytest  # noqa: F401  - the test modules import it

    pairs: list[dict] = []
    # The upstream modules import each other as ``tests.test_all``: alias that name while loading.
    saved = {k: sys.modules.get(k) for k in ("tests", *(f"tests.{m}" for m in MODULES))}
    package = importlib.util.module_from_spec(importlib.machinery.ModuleSpec("tests", None, is_package=True))
    package.__path__ = [str(tests)]
    sys.modules["tests"] = package
    try:
        modules = []
        for name in MODULES:
            path = tests / f"{name}.py"
            if not path.exists():
                continue
            spec = importlib.util.spec_from_file_location(f"tests.{name}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[f"tests.{name}"] = module
            spec.loader.exec_module(module)
            modules.append((name, module))
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    for name, module in modules:
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            for mark in getattr(fn, "pytestmark", []):
                if mark.name != "parametrize":
                    continue
                argnames = mark.args[0]
                names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
                if not {"gold", "pred"} <= set(names):
                    continue
                body = inspect.getsource(fn)
                fixed = re.search(r"precision=(\d+)", body)
                targets = re.search(r"match_types=\[([^\]]*)\]", body)
                for values in mark.args[1]:
                    row = dict(zip(names, values.values if hasattr(values, "values") else values))
                    expected = row.get("expected", row.get("result"))
                    options = {}
                    if targets:  # the test's extraction targets apply to the prediction
                        options["prediction_targets"] = tuple(re.findall(r"\w+", targets.group(1)))
                    precision = row.get("precision", int(fixed.group(1)) if fixed else None)
                    if precision is not None:
                        options["float_rounding"] = int(precision)
                    if "strict" in row:
                        options["strict"] = bool(row["strict"])
                    if "allow_set_relation_comp" in row:
                        options["allow_set_relation_comp"] = bool(row["allow_set_relation_comp"])
                    pairs.append({"source": f"{name}::{fname}", "gold": row["gold"], "pred": row["pred"], "expected": bool(expected), "options": options})
    return pairs


def upstream_verdict(p: dict) -> bool:
    """Math-Verify itself on one pair, run the way its test runs it (main thread, its timeouts)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    o = p["options"]
    if p["source"].startswith("test_yujianll"):
        return bool(verify(parse(p["gold"]), parse(p["pred"])))
    configs = {"latex": LatexExtractionConfig(boxed_match_priority=0), "expr": ExprExtractionConfig()}
    targets = [configs[t] for t in o.get("prediction_targets", ("latex", "expr"))]
    return bool(
        verify(
            parse(p["gold"], targets),
            parse(p["pred"], targets),
            float_rounding=o.get("float_rounding", 6),
            strict=o.get("strict", True),
            allow_set_relation_comp=o.get("allow_set_relation_comp", False),
        )
    )


def _short(s: str, n: int = 70) -> str:
    s = " ".join(str(s).split()).replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


class Scorer:
    def __init__(self) -> None:
        from pipeline.trajectories.answers import AnswerMatcher

        self._cls = AnswerMatcher
        self._matchers: dict[tuple, object] = {}

    def __call__(self, gold: str, pred: str, options: dict) -> tuple[bool, str, str]:
        key = tuple(sorted(options.items()))
        if key not in self._matchers:
            self._matchers[key] = self._cls(timeout_seconds=10.0, **options)
        m = self._matchers[key]
        ext = m.extract(pred)
        ok, how = m.judge(ext, gold)
        return ok, ext.method, how


def _score(pairs: list[dict], scorer: Scorer, wrap: str | None = None) -> tuple[int, list, list]:
    agree, wrong_accepts, wrong_rejects = 0, [], []
    for p in pairs:
        pred = wrap.format(p=p["pred"]) if wrap else p["pred"]
        got, method, how = scorer(p["gold"], pred, p["options"])
        if got == p["expected"]:
            agree += 1
        elif got:
            wrong_accepts.append((p, pred, method, how))
        else:
            wrong_rejects.append((p, pred, method, how))
    return agree, wrong_accepts, wrong_rejects


def _listing(title: str, rows: list) -> str:
    if not rows:
        return f"{title}: none.\n"
    body = table(
        ["test", "gold", "prediction", "extracted", "compare"],
        [[p["source"].split("::")[-1], f"`{_short(p['gold'], 40)}`", f"`{_short(pred)}`", method, how] for p, pred, method, how in rows],
    )
    return f"{title}:\n\n{body}\n"


def _phrasable(p: dict) -> bool:
    """A prediction that is one short line, so wrapping it in a sentence keeps it the answer."""
    pred = str(p["pred"])
    return "\n" not in pred and len(pred) <= 200 and not re.search(r"(?i)answer", pred)


def evaluate(data: Path) -> str:
    tests = require(data / "math-verify" / "tests", HOW)
    pairs = load_pairs(tests)
    if not pairs:
        raise MissingGroundTruth(f"no parametrized (gold, pred, expected) cases under {tests}: {HOW}")
    scorer = Scorer()
    agree, wa, wr = _score(pairs, scorer)
    n = len(pairs)
    by_source: dict[str, list[int]] = {}
    for p in pairs:
        by_source.setdefault(p["source"].split("::")[0], [0, 0])[1] += 1
    bad = {id(p) for p, *_ in wa + wr}
    for p in pairs:
        if id(p) not in bad:
            by_source[p["source"].split("::")[0]][0] += 1
    upstream = sum(upstream_verdict(p) == p["expected"] for p in pairs)
    out = [
        f"Pairs: {n} parametrized cases from {len(by_source)} test modules "
        f"({sum(1 for p in pairs if p['expected'])} expected equal, {sum(1 for p in pairs if not p['expected'])} expected different); "
        f"{sum(1 for p in pairs if p['options'])} whose test sets extraction targets or verify options, passed through.\n",
        f"**Agreement with Math-Verify's expected results: {pct(agree, n)}**; "
        f"wrong accepts {len(wa)}/{sum(1 for p in pairs if not p['expected'])} expected-different; "
        f"wrong rejects {len(wr)}/{sum(1 for p in pairs if p['expected'])} expected-equal. "
        f"(Math-Verify itself, each pair run as its test runs it: {pct(upstream, n)}.)\n",
        table(["test module", "agree"], [[k, pct(a, t)] for k, (a, t) in sorted(by_source.items())]) + "\n",
        _listing("Wrong accepts", wa),
        _listing("Wrong rejects", wr),
    ]
    phr = [p for p in pairs if _phrasable(p)]
    rows, all_wa, all_wr = [], [], []
    for wrap in PHRASINGS:
        a, pwa, pwr = _score(phr, scorer, wrap)
        rows.append([f"`{wrap.format(p='…')}`", pct(a, len(phr)), len(pwa), len(pwr)])
        all_wa += pwa
        all_wr += pwr
    out += [
        f"Same pairs with the prediction in answer phrasing ({len(phr)} of {n} pairs whose prediction is one "
        "short line without its own 'answer' marker; the expected verdict is unchanged):\n",
        table(["phrasing", "agree", "wrong accepts", "wrong rejects"], rows) + "\n",
        _listing("Wrong accepts in phrasing", all_wa),
        _listing("Wrong rejects in phrasing", all_wr),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    from common import data_dir

    print(evaluate(data_dir()))
