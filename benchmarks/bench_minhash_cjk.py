"""The MinHash signature step alone, on exactly the batches the dedup stage receives in a real run.

Step 1 runs ``curate run`` in-process on CORPUS (trajectories off, other stages at their defaults)
with ``MinHasher.signatures_of_normalized`` wrapped to record its inputs; step 2 times that method
over the recorded texts in batches of 500 (``time.process_time``, first pass in this process, then a
warm pass). Results: benchmarks/results/minhash_cjk.md.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_minhash_cjk.py benchmarks/work/corpus-v2-10000-s7.jsonl
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def capture(corpus: Path, work: Path) -> tuple[list[str], list]:
    from pipeline import cli
    from pipeline.minhash import minhash as M

    seen: list[tuple[list[str], list]] = []
    original = M.MinHasher.signatures_of_normalized

    def recording(self, norms, langs=None):
        norms = list(norms)
        langs = [None] * len(norms) if langs is None else list(langs)
        seen.append((norms, langs))
        return original(self, norms, langs)

    cfg = work / "config.yaml"
    cfg.write_text("trajectories: {enabled: false}\n", encoding="utf-8")
    M.MinHasher.signatures_of_normalized = recording
    try:
        cli.main(["run", "--input", str(corpus), "--output", str(work / "out"), "--config", str(cfg), "--overwrite", "--quiet"])
    except SystemExit:
        pass
    finally:
        M.MinHasher.signatures_of_normalized = original
    return [n for b in seen for n in b[0]], [l for b in seen for l in b[1]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        norms, langs = capture(args.corpus, Path(tmp))
    from pipeline.minhash import minhash as M

    hasher = M.MinHasher()
    step = args.batch

    def one_pass() -> float:
        t = time.process_time()
        for i in range(0, len(norms), step):
            hasher.signatures_of_normalized(norms[i:i + step], langs[i:i + step])
        return time.process_time() - t

    first, warm = one_pass(), one_pass()
    print(f"{len(norms)} documents, {sum(map(len, norms))} code points: signatures {first:.3f} s CPU (first pass), {warm:.3f} s (warm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
