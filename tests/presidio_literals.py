"""String literals of presidio-analyzer's own tests, read in place from its checkout under
CURATE_EVAL_DATA (never copied into this repository): an oracle someone else maintains."""
from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Callable

import pytest

MISSING = "presidio's checkout not found: set CURATE_EVAL_DATA to the directory holding presidio/"


def presidio_test_literals(globs: tuple[str, ...], keep: Callable[[str], bool]) -> list[str]:
    """The string literals ``keep`` accepts in the test files matching ``globs``; skips the calling
    test (with the reason CI prints) when the checkout is absent."""
    root = Path(os.environ.get("CURATE_EVAL_DATA", "")) / "presidio" / "presidio-analyzer" / "tests"
    out = []
    for pattern in globs:
        for path in sorted(root.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and keep(node.value):
                    out.append(node.value)
    if not out:
        pytest.skip(MISSING)
    return out
