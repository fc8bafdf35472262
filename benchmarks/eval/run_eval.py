"""`make eval`: score each stage against ground truth maintained outside this project.

    make eval                                        # every scorer
    .venv/bin/python benchmarks/eval/run_eval.py license pii   # some of them

Each ``benchmarks/eval/eval_<area>.py`` writes ``benchmarks/eval/results/<area>.md``; this script
then rewrites the section "Accuracy against external ground truth" of benchmarks/RESULTS.md from
those files (between the ``eval:begin``/``eval:end`` markers, which ``make bench`` keeps).
Where to get each ground truth: docs/benchmarks.md, "External ground truth".
"""
from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import EVAL, RESULTS, ROOT, MissingGroundTruth, data_dir  # noqa: E402

BEGIN, END = "<!-- eval:begin -->", "<!-- eval:end -->"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"


def scorers() -> dict[str, Path]:
    return {p.stem[len("eval_"):]: p for p in sorted(EVAL.glob("eval_*.py"))}


def run(names: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    known = scorers()
    for name in names or list(known):
        if name not in known:
            raise SystemExit(f"run_eval: unknown scorer {name!r} (known: {', '.join(known)})")
        module = importlib.import_module(f"eval_{name}")
        started = time.monotonic()
        try:
            body = module.evaluate(data_dir())
            status = "measured"
        except MissingGroundTruth as exc:
            body = f"Not measured on this machine: {exc}"
            status = "missing ground truth"
        elapsed = time.monotonic() - started
        text = f"### {module.TITLE}\n\n{body.strip()}\n\n_{status}; {elapsed:.1f} s; `make eval` ({time.strftime('%Y-%m-%d')})_\n"
        (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
        print(f"run_eval: {name}: {status} in {elapsed:.1f} s")
    splice()


def section() -> str:
    parts = [p.read_text(encoding="utf-8").strip() for p in sorted(RESULTS.glob("*.md"))]
    intro = (
        "## Accuracy against external ground truth (`make eval`)\n\n"
        "Scored against data this project did not write (how to get each: docs/benchmarks.md). "
        "Every figure has its denominator; misses are listed.\n"
    )
    return "\n\n".join([BEGIN, intro, *parts, END])


def splice() -> None:
    text = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else "# Benchmarks\n"
    block = section()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        anchor = "\n## Corpus"
        text = text.replace(anchor, "\n" + block + "\n" + anchor, 1) if anchor in text else text + "\n" + block + "\n"
    RESULTS_MD.write_text(text, encoding="utf-8")
    print(f"run_eval: wrote {RESULTS_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    run(sys.argv[1:])
