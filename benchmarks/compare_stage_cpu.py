"""CPU seconds of one stage alone, this checkout against another, on the same records, in
alternating fresh processes — and whether both give the same records and verdicts.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/compare_stage_cpu.py --stage license --before DIR \
        [--runs 3] [--corpus benchmarks/work/corpus-v2-10000-s7.jsonl ...]

``DIR``: the other checkout (``git archive <rev> | tar -x -C DIR``, plus this checkout's built
kernel module ``pipeline/_compiled_kernels*`` when the kernel sources are the same). Records get
their languages from this checkout's langid stage once (the quality stage reads them). Each run
times, in a fresh process: importing the stage, ``setup()``, and one pass of ``process_batch`` over
the corpus in batches of 512 (first use included, as in a worker); CPU = ``time.process_time()``.
Printed: median (range) per checkout and corpus, before → after, and the digest check.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = {"license": "pipeline.stages.license:LicenseDetector", "quality": "pipeline.stages.quality:QualityFilter"}

_CHILD = r"""
import hashlib, importlib, json, pickle, sys, time
stage, data = sys.argv[1], sys.argv[2]
t = time.process_time()
module, name = stage.split(":")
core_class = getattr(importlib.import_module(module), name)
from pipeline.config import load_config
from pipeline.records import new_record
imported = time.process_time() - t
docs, langs = pickle.load(open(data, "rb"))
recs = []
for i, (text, lang) in enumerate(zip(docs, langs)):
    r = new_record(source_uri="bench", record_index=i, text=text)
    r["lang"] = lang
    recs.append(r)
core = core_class(load_config())
t = time.process_time()
core.setup()
setup = time.process_time() - t
t = time.process_time()
verdicts = []
for i in range(0, len(recs), 512):
    verdicts += core.process_batch(recs[i : i + 512])
stage_cpu = time.process_time() - t
h = hashlib.sha256()
for r, v in zip(recs, verdicts):
    h.update(json.dumps([r.get("license"), r.get("copyright"), v.action, v.reason, v.detail], sort_keys=True, default=str).encode())
print(json.dumps({"import": imported, "setup": setup, "stage": stage_cpu, "digest": h.hexdigest()}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=sorted(STAGES), required=True)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--corpus", type=Path, nargs="*",
                    default=[ROOT / "benchmarks/work/corpus-v2-10000-s7.jsonl", ROOT / "benchmarks/work/corpus-english-v2-10000-s7.jsonl"])
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from pipeline.config import load_config  # noqa: PLC0415
    from pipeline.lang.identifier import LanguageIdentifier  # noqa: PLC0415

    identify = LanguageIdentifier.from_config(load_config())
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpus:
            docs = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
            data = Path(tmp) / "records.pkl"
            data.write_bytes(pickle.dumps((docs, [lang for lang, _ in identify.predict_batch(docs)])))
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for k in range(args.runs):
                for side in (("before", "after") if k % 2 == 0 else ("after", "before")):
                    tree = args.before if side == "before" else ROOT
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    out = subprocess.run([sys.executable, "-c", _CHILD, STAGES[args.stage], str(data)], cwd=tree, env=env,
                                         check=True, capture_output=True, text=True).stdout
                    runs[side].append(json.loads(out.strip().splitlines()[-1]))
            digests = {r["digest"] for side in runs.values() for r in side}
            same &= len(digests) == 1
            print(f"{args.stage} on {corpus.name} ({len(docs)} documents), CPU s, median (range) of {args.runs}; "
                  f"same records and verdicts: {'yes' if len(digests) == 1 else 'NO'}")
            for key in ("import", "setup", "stage"):
                cells = []
                for side in ("before", "after"):
                    values = [r[key] for r in runs[side]]
                    cells.append(f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})")
                print(f"  {key:6s} {cells[0]} → {cells[1]}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
