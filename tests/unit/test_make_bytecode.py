"""`make install`, `demo`, `test` and `bench` compile the package's bytecode when a module changed
(Makefile: BYTECODE). Without it, where PYTHONDONTWRITEBYTECODE is set, every process of a run
compiles each of our modules it imports (benchmarks/results/startup.md). Checked with make's own
dry run: ``-W FILE`` pretends FILE was just modified, ``-n`` prints the commands without running them.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(target: str, *changed: str) -> str:
    args = ["make", "-n", "-C", str(REPO)]
    for name in changed:
        args += ["-W", name]
    return subprocess.run(args + [target], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("target", ["install", "demo", "test"])
def test_a_changed_module_is_compiled_before_the_target_runs(target):
    out = _dry_run(target, "pipeline/pii/deferred_imports.py")
    assert "-m compileall -q pipeline" in out
    assert out.count("-m compileall") == 1
    if target in ("demo", "test"):  # compiled before the first command that imports the package
        first_use = out.index("curate run" if target == "demo" else "-m pytest")
        assert out.index("-m compileall") < first_use
