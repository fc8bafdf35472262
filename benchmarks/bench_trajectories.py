"""Trajectory benchmarks: validated samples per second per core.

    .venv/bin/python benchmarks/bench_trajectories.py            # writes benchmarks/results/trajectories.md
    .venv/bin/python benchmarks/bench_trajectories.py --quick    # smaller sizes

1. ``Validator.validate`` on one core (one thread, the way a Beam worker thread runs it): a mix of
   good candidates (programmatic solutions to generated en/ko word problems, rendered in four
   writing styles) and the defect kinds of the labelled set, every check of rules/trajectories/
   checks.yaml on, decontamination against a 2,000-item benchmark file; candidates/s and the time
   of each check per candidate.
2. The programmatic teacher: completions/s on one core.
3. The whole ``TrajectoryStage`` on the offline local runner (one process; seeds → near-duplicate
   collapse → programmatic teacher → checks): accepted samples/s, wall clock including Beam setup.
Median of several runs.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "data" / "trajectories"))

from pipeline.config import load_config  # noqa: E402
from pipeline.trajectories.checks import ALL_CHECKS, Validator  # noqa: E402
from pipeline.trajectories.teachers.programmatic import ProgrammaticTeacher  # noqa: E402
from pipeline.trajectories.templates import generate_word_problems, load_templates  # noqa: E402


def versions() -> str:
    import apache_beam
    import math_verify
    import presidio_analyzer
    import sympy

    mv = getattr(math_verify, "__version__", "0.9.0")
    return (
        f"Python {platform.python_version()}, apache-beam {apache_beam.__version__}, presidio-analyzer "
        f"{getattr(presidio_analyzer, '__version__', '2.2')}, math-verify {mv}, sympy {sympy.__version__}"
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"


def candidates(n: int, seed: int = 1) -> list[dict]:
    """n candidates: ~70% good in four styles, the rest spread over the labelled defect kinds."""
    import make_labelled as ml

    rng = random.Random(seed)
    cfg = load_config()
    data = load_templates(cfg.rule_file("trajectories/templates.yaml"))
    problems = list(generate_word_problems(data, n, seed=seed))
    out = []
    for i, p in enumerate(problems):
        task = p["task"]
        steps = ml.steps_of(task["expression"])
        thinking, answer = ml.render(i % 4, p["lang"], steps, p["reference_answer"], task.get("unit"), task.get("plan"))
        kind = rng.random()
        if kind < 0.7:
            completion = ml.compose(thinking, answer)
        elif kind < 0.76:
            completion = ml.compose(thinking, answer.replace(p["reference_answer"], p["reference_answer"] + "1"))
        elif kind < 0.82:
            completion = f"{thinking}\n\n{answer}"
        elif kind < 0.88:
            completion = ml.compose(thinking + "\n" + "\n".join(["Wait, let me check that again."] * 10), answer)
        elif kind < 0.94:
            completion = ml.compose(thinking + "\n" + (ml.PII_EN if p["lang"] == "en" else ml.PII_KO)[i % 3], answer)
        else:
            completion = ml.compose((ml.EN_SWITCH if p["lang"] == "ko" else ml.KO_SWITCH) + "\n" + thinking, answer)
        out.append({**p, "completion": completion})
    return out


def benchmark_file(path: Path, n: int) -> None:
    rng = random.Random(3)
    words = "apple train ticket student teacher market river bridge number total each every share hour minute price discount box bag pencil book".split()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(40)) + f" item {i}?"
            fh.write(json.dumps({"text": text}) + "\n")


def cpu_seconds() -> float:
    """CPU seconds of this process plus its live children: the answer check's Math-Verify runs in a
    child process, whose work time.process_time() alone would not count."""
    import psutil

    total = time.process_time()
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def bench_validator(cands: list[dict], order: list[str], bench_path: Path, runs: int) -> dict:
    cfg = load_config(overrides={"trajectories": {"decontaminate": [str(bench_path)]}})
    v = Validator(cfg, order=order)
    t0 = time.perf_counter()
    v.setup()
    setup_s = time.perf_counter() - t0
    for c in cands[:20]:  # warm caches (regexes, presidio, fasttext)
        v.validate(c)
    per_check = {name: 0.0 for name in order}
    rates = []
    accepted = 0
    for _ in range(runs):
        v.matcher.clear_cache()  # every run checks the answers afresh, as a new run would
        start = cpu_seconds()
        accepted = sum(v.validate(c).accepted for c in cands)
        rates.append(len(cands) / (cpu_seconds() - start))
    # per-check cost: each check over all candidates (child CPU is counted in clock ticks, so it is
    # read once per check, not per candidate)
    from pipeline.trajectories.checks import split_completion

    v.matcher.clear_cache()
    ctxs = []
    for c in cands:
        thinking, answer, problems = split_completion(c["completion"])
        ctxs.append({"prompt": c["prompt"], "thinking": thinking, "answer": answer, "problems": problems, "reference": c["reference_answer"], "lang": c["lang"]})
    for name in order:
        check = getattr(v, f"check_{name}")
        s = cpu_seconds()
        for ctx in ctxs:
            check(ctx)
        per_check[name] += cpu_seconds() - s
    return {
        "rate": statistics.median(rates),
        "rates": rates,
        "accepted": accepted,
        "setup_s": setup_s,
        "per_check_ms": {k: 1000 * t / len(cands) for k, t in per_check.items()},
    }


def bench_teacher(n: int, runs: int) -> float:
    cfg = load_config()
    data = load_templates(cfg.rule_file("trajectories/templates.yaml"))
    problems = list(generate_word_problems(data, n, seed=9))
    teacher = ProgrammaticTeacher.from_config(cfg)
    rates = []
    for _ in range(runs):
        start = time.process_time()
        teacher.complete(problems)
        rates.append(n / (time.process_time() - start))
    return statistics.median(rates)


def bench_stage(n: int, runs: int, order_ok: bool) -> dict:
    import apache_beam as beam

    from pipeline.runners import local_pipeline
    from pipeline.trajectories.stage import TrajectoryStage

    cfg0 = load_config()
    data = load_templates(cfg0.rule_file("trajectories/templates.yaml"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-traj-"))
    seeds = tmp / "seeds.jsonl"
    with open(seeds, "w", encoding="utf-8") as fh:
        for p in generate_word_problems(data, n, seed=21):
            fh.write(json.dumps({"id": p["prompt_id"], "question": p["prompt"], "reference_answer": p["reference_answer"], "lang": p["lang"], "expression": p["task"]["expression"], "unit": p["task"]["unit"], "plan": p["task"]["plan"]}, ensure_ascii=False) + "\n")
    overrides = {"trajectories": {"enabled": True, "from_documents": False, "teacher": {"backend": "programmatic"}, "seeds": [str(seeds)]}}
    if not order_ok:
        rules = tmp / "rules"
        import shutil

        shutil.copytree(cfg0.rules_path(), rules)
        path = rules / "trajectories" / "checks.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("order: [format, answer, steps, language,", "order: [format, answer, steps,"), encoding="utf-8")
        overrides["rules_dir"] = str(rules)
    cfg = load_config(overrides=overrides)
    walls, accepted = [], 0
    for r in range(runs):
        out_prefix = tmp / f"samples-{r}"
        start = time.perf_counter()
        with local_pipeline() as p:
            out = p | beam.Create([[]]) | TrajectoryStage(cfg, "bench")
            out.samples | beam.Map(lambda s: s["sample_id"]) | beam.io.WriteToText(str(out_prefix))
            out.decisions | beam.Map(lambda d: d["reason"]) | "reasons" >> beam.io.WriteToText(str(tmp / f"reasons-{r}"))
        walls.append(time.perf_counter() - start)
        accepted = sum(1 for f in tmp.glob(f"samples-{r}*") for _ in open(f))
        reasons = Counter(line.strip() for f in tmp.glob(f"reasons-{r}*") for line in open(f))
    wall = statistics.median(walls)
    return {"n": n, "wall": wall, "accepted": accepted, "rate": accepted / wall, "reasons": dict(reasons.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    n_val = 300 if args.quick else 2000
    n_stage = 300 if args.quick else 2000
    runs = 2 if args.quick else 3

    try:
        import pipeline.lang.identifier  # noqa: F401

        order = list(ALL_CHECKS)
        lang_note = ""
    except ImportError:
        order = [c for c in ALL_CHECKS if c != "language"]
        lang_note = " **`language` not measured: `pipeline.lang.identifier` was not in the tree when this ran.**"

    tmp = Path(tempfile.mkdtemp(prefix="bench-traj-"))
    bench_path = tmp / "benchmark.jsonl"
    benchmark_file(bench_path, 2000)
    cands = candidates(n_val)
    val = bench_validator(cands, order, bench_path, runs)
    light = bench_validator(cands, [c for c in order if c not in ("pii", "language")], bench_path, runs)
    teacher_rate = bench_teacher(n_val, runs)
    stage = bench_stage(n_stage, runs, "language" in order)

    lines = [
        "# Trajectory benchmarks",
        "",
        f"Machine: {machine()}; {versions()}.",
        f"Run: `.venv/bin/python benchmarks/bench_trajectories.py`{' --quick' if args.quick else ''}; median of {runs} runs; "
        "rates per core are candidates / CPU-seconds of the one thread doing the work (plus the answer check's Math-Verify child process).",
        "",
        "## Validation, one core",
        "",
        f"{len(cands):,} candidates (en and ko, ~70% good in four writing styles, the rest wrong answers, missing tags, loops, PII, "
        f"language switches), decontaminated against 2,000 benchmark items; {val['accepted']:,} accepted.{lang_note}",
        "",
        "| checks | candidates/s per core | runs |",
        "|---|---:|---|",
        f"| all: {', '.join(order)} | **{val['rate']:,.0f}** | {', '.join(f'{r:,.0f}' for r in val['rates'])} |",
        f"| without the model-based checks (pii, language) | {light['rate']:,.0f} | {', '.join(f'{r:,.0f}' for r in light['rates'])} |",
        "",
        f"Validator setup (rules, PII engine{', language model' if 'language' in order else ''}, 2,000-item n-gram index): {val['setup_s']:.1f} s once per worker.",
        "",
        "Time per candidate by check (ms):",
        "",
        "| check | ms |",
        "|---|---:|",
        *[f"| {k} | {v:.3f} |" for k, v in val["per_check_ms"].items()],
        "",
        "## Programmatic teacher, one core",
        "",
        f"{teacher_rate:,.0f} step-by-step solutions/s ({n_val:,} generated word problems, en and ko).",
        "",
        "## `TrajectoryStage` on the local runner (one process)",
        "",
        f"{stage['n']:,} seed problems → exact and MinHash-LSH near-duplicate prompt collapse → programmatic teacher → every check: "
        f"{stage['accepted']:,} accepted samples in {stage['wall']:.1f} s wall (Beam graph construction and worker setup included) "
        f"= **{stage['rate']:,.0f} accepted samples/s**. Decisions by reason: "
        + ", ".join(f"`{k}` {v:,}" for k, v in stage["reasons"].items())
        + " (generated word problems that differ only in their numbers are near-duplicate prompts, mostly Korean ones: "
        "character shingles).",
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "trajectories.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
