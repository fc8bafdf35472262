"""Instructions the PII stage's engine executes on a corpus slice, this checkout against another:
a measure that does not move with the machine's load or clock (wall and CPU seconds on this shared
2-core host vary by ±20 % from one run to the next, more than a small change saves).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_pii_instructions.py --before DIR \
        [--corpus benchmarks/work/corpus-english-v2-100000-s7.jsonl --skip 50000] [--docs 1000] [--lang en]

``DIR``: the other checkout (``git worktree add DIR <rev>``, its bytecode compiled, this checkout's
built kernel module copied in). Each measurement is one process under ``valgrind --tool=cachegrind
--cache-sim=no`` (instruction counts only): it builds the engine, warms it on one short text, and
scrubs ``--docs`` documents in batches of 512 as the stage does. The same process with one document
is the baseline (interpreter, imports, engine set-up, that document), so the difference is the work
on the other documents. Both checkouts must give the same scrubbed texts (a digest is compared).
Needs valgrind (Debian package ``valgrind``); without it the script says so and exits 2.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import hashlib, itertools, json, sys
tree, src, skip, n, lang = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, tree)
import pipeline
assert pipeline.__file__.startswith(tree), pipeline.__file__
from pipeline.config import load_config
from pipeline.pii.engine import PiiEngine
with open(src, encoding="utf-8") as fh:
    texts = [json.loads(line)["text"] for line in itertools.islice(fh, skip, skip + n)]
engine = PiiEngine.from_config(load_config(None))
engine.scrub_batch(["warm up 555-0100"], [lang])
out = []
for i in range(0, len(texts), 512):
    out += engine.scrub_batch(texts[i : i + 512], [lang] * len(texts[i : i + 512]))
print("DIGEST", hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()[:16])
"""


def instructions(tree: Path, corpus: Path, skip: int, docs: int, lang: str) -> tuple[int, str]:
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, "-c", _CHILD, str(tree), str(corpus), str(skip), str(docs), lang]
    env = {**os.environ, "PYTHONMALLOC": "malloc"}  # valgrind counts malloc's own work, not pymalloc's arenas
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    refs = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    digest = re.search(r"DIGEST (\w+)", proc.stdout)
    if proc.returncode or not refs or not digest:
        raise SystemExit(f"measurement failed ({tree}): {proc.stderr[-800:]}")
    return int(refs.group(1).replace(",", "")), digest.group(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, type=Path, help="the other checkout")
    ap.add_argument("--corpus", type=Path, default=ROOT / "benchmarks/work/corpus-english-v2-100000-s7.jsonl")
    ap.add_argument("--skip", type=int, default=50_000, help="documents skipped at the start of the corpus")
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--lang", default="en")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("bench_pii_instructions: needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    rows = {}
    for label, tree in (("before", args.before.resolve()), ("after", ROOT)):
        base, _ = instructions(tree, args.corpus.resolve(), args.skip, 1, args.lang)
        total, digest = instructions(tree, args.corpus.resolve(), args.skip, args.docs, args.lang)
        rows[label] = (total - base, digest)
        print(f"{label}: {(total - base) / 1e9:.3f} G instructions for {args.docs - 1} documents "
              f"(baseline {base / 1e9:.3f} G), digest {digest}", flush=True)
    (b, db), (a, da) = rows["before"], rows["after"]
    print(json.dumps({"corpus": args.corpus.name, "skip": args.skip, "docs": args.docs, "lang": args.lang,
                      "before_ginstr": round(b / 1e9, 3), "after_ginstr": round(a / 1e9, 3),
                      "ratio": round(a / b, 4), "same_output": db == da}))
    return 0 if db == da else 1


if __name__ == "__main__":
    raise SystemExit(main())
