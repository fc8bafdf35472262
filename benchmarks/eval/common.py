"""Shared pieces of `make eval`: where the external ground truth lives and how a scorer reports.

Each scorer is a module ``benchmarks/eval/eval_<area>.py`` with::

    TITLE = "License detection vs ScanCode's license tests"
    def evaluate(data: Path) -> str:   # markdown: figures with denominators, confusions, misses

``data`` is the folder of local checkouts and packages (``$CURATE_EVAL_DATA``, default
``benchmarks/work/eval``). A scorer whose ground truth is not there raises
:class:`MissingGroundTruth` with the one line that says how to get it; nothing is downloaded here.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "benchmarks" / "eval"
RESULTS = EVAL / "results"


class MissingGroundTruth(RuntimeError):
    """The ground truth is not on this machine; the message says how to get it."""


def data_dir() -> Path:
    return Path(os.environ.get("CURATE_EVAL_DATA") or ROOT / "benchmarks" / "work" / "eval")


def require(path: Path, how: str) -> Path:
    if not path.exists():
        raise MissingGroundTruth(f"{path} not found: {how}")
    return path


def pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100.0 * n / d:.1f}%)" if d else f"{n}/0"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
