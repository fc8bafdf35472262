"""Start-up benchmark: what `curate` costs before it does any work, before and after a change.

    .venv/bin/python benchmarks/bench_startup.py [--base a7a2734] [--runs 5]

Commands (each in a fresh interpreter, `python -m pipeline ...`): ``--version``; a config error
(an unknown key, exit 2); ``verify`` of a finished local release; ``audit --query drop_reasons``
of it; and a 20-document ``run`` with the embedded defaults. Each is run --runs times for the
checkout at --base (extracted with ``git archive`` into a temporary folder) and for this working
tree, interleaved (base, this, base, this, …) so a busy machine slows both alike. Per command:
median and range of wall seconds and of CPU seconds (user + system of the child, from
``getrusage(RUSAGE_CHILDREN)``), and whether ``apache_beam`` was imported (``-X importtime``).
Writes benchmarks/results/startup.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "startup.md"


def checkout(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (pipeline/, the rules/ and manifests/ it links to, examples/) under ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pipeline", "rules", "manifests", "examples"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    # the compiled kernels are built files (make), not in git: the base runs this tree's build, which
    # it loads only where its kernel sources are the same (pipeline/compiled_kernels.py checks)
    for built in (ROOT / "pipeline").glob("_compiled_kernels*"):
        shutil.copy2(built, into / "pipeline" / built.name)
    return into


def twenty_documents(folder: Path) -> Path:
    """The first 20 records of the example corpus's JSONL files that parse, as one JSONL file."""
    rows = []
    for path in sorted((ROOT / "examples" / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
                rows.append(row)
    if len(rows) < 20:
        raise SystemExit(f"examples/corpus has only {len(rows)} usable records")
    target = folder / "twenty.jsonl"
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:20]), encoding="utf-8")
    return target


# Commands run with these extra environment variables (the local workers' count).
TWO_WORKERS = {"CURATE_WORKERS": "2"}
COMMAND_ENV: dict[str, dict[str, str]] = {}


def timed(tree: Path, args: list[str], cwd: Path, extra_env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child and the processes it waited for, exit code) of
    ``python -m pipeline ARGS`` run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), **(extra_env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, cwd=cwd, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def imports_beam(tree: Path, args: list[str], cwd: Path, extra_env: dict | None = None) -> tuple[bool, float, bool]:
    """(apache_beam imported?, seconds of all imports, pandas imported?) of the launcher process, from
    ``-X importtime`` (a failed, hidden ``import pandas`` is listed too: pandas counts when its
    submodules are)."""
    env = {**os.environ, "PYTHONPATH": str(tree), **(extra_env or {})}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline", *args], env=env, cwd=cwd, capture_output=True, text=True)
    total, beam, pandas = 0, False, False
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if name == "apache_beam":
            beam = True
        pandas = pandas or name.startswith("pandas.")
        if not line.split("|")[2].startswith("  "):  # top-level imports: their cumulative times add up
            total += int(cumulative)
    return beam, total / 1e6, pandas


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="a7a2734", help="the revision to compare with")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        tmp = Path(tmp)
        trees = {"before": checkout(args.base, tmp / "base"), "after": ROOT}
        bad = tmp / "bad.yaml"
        bad.write_text("langid:\n  no_such_key: 1\n", encoding="utf-8")
        docs = twenty_documents(tmp)
        release = tmp / "release"
        subprocess.run([sys.executable, "-m", "pipeline", "run", "--input", str(docs), "--output", str(release), "--quiet"],
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True, cwd=tmp)
        commands = {
            "`curate --version`": lambda run: ["--version"],
            "config error (unknown key, exit 2)": lambda run: ["run", "--input", str(docs), "--output", str(tmp / f"x{run}"), "--config", str(bad)],
            "`curate verify` (20-document release)": lambda run: ["verify", str(release)],
            "`curate audit --query drop_reasons`": lambda run: ["audit", str(release), "--query", "drop_reasons"],
            "`curate run`, 20 documents, defaults": lambda run: ["run", "--input", str(docs), "--output", str(tmp / f"run{run}"), "--quiet", "--overwrite"],
            "`curate run`, 20 documents, defaults, `--profile local-mp`, 2 workers (CPU: launcher + workers)":
                lambda run: ["run", "--input", str(docs), "--output", str(tmp / f"mp{run}"), "--quiet", "--overwrite", "--profile", "local-mp"],
        }
        COMMAND_ENV[next(reversed(commands))] = TWO_WORKERS
        rows = []
        for label, argv in commands.items():
            got = {side: {"wall": [], "cpu": []} for side in trees}
            codes = set()
            for i in range(args.runs):
                for side, tree in trees.items():
                    wall, cpu, rc = timed(tree, argv(f"{side}{i}"), tmp, COMMAND_ENV.get(label))
                    got[side]["wall"].append(wall)
                    got[side]["cpu"].append(cpu)
                    codes.add((side, rc))
            beam = {side: imports_beam(tree, argv(f"{side}-imports"), tmp, COMMAND_ENV.get(label)) for side, tree in trees.items()}
            if len({rc for _, rc in codes}) != 1:
                raise SystemExit(f"{label}: exit codes differ between the trees: {sorted(codes)}")
            rows.append((label, got, beam, sorted(codes)))
            print(label, {s: (summary(v["wall"]), summary(v["cpu"])) for s, v in got.items()}, beam, sorted(codes), flush=True)
            for side in trees:
                shutil.rmtree(tmp / f"x{side}", ignore_errors=True)
                for i in range(args.runs):
                    for prefix in ("run", "mp"):
                        shutil.rmtree(tmp / f"{prefix}{side}{i}", ignore_errors=True)

    load = os.getloadavg()[0]
    lines = [
        "# Start-up benchmark",
        "",
        f"`python benchmarks/bench_startup.py --base {args.base} --runs {args.runs}` — {platform.machine()}, Python {platform.python_version()}; "
        f"each command in a fresh interpreter, before ({args.base}) and after (this tree) interleaved run by run; "
        f"median of {args.runs} runs and (range). CPU = user + system seconds of the child process and of the processes it waited for (the local workers). "
        f"Load average at the end: {load:.1f} on {os.cpu_count()} cores (the machine is shared; CPU seconds are the steadier figure). "
        f"The base is extracted as git holds it (no bytecode; the compiled kernels of this tree's build copied in); this tree "
        f"runs as `make install` leaves it{' (PYTHONDONTWRITEBYTECODE is set here: no run writes bytecode of its own)' if os.environ.get('PYTHONDONTWRITEBYTECODE') else ''}.",
        "",
        "| command | wall s before | wall s after | CPU s before | CPU s after | imports Beam before → after | imports pandas before → after | imports, s (one `-X importtime` run, wall: noisy under load) before → after |",
        "|---|---:|---:|---:|---:|:---:|:---:|---:|",
    ]
    for label, got, beam, _codes in rows:
        lines.append(
            f"| {label} | {summary(got['before']['wall'])} | {summary(got['after']['wall'])} | {summary(got['before']['cpu'])} | "
            f"{summary(got['after']['cpu'])} | {'yes' if beam['before'][0] else 'no'} → {'yes' if beam['after'][0] else 'no'} | "
            f"{'yes' if beam['before'][2] else 'no'} → {'yes' if beam['after'][2] else 'no'} | "
            f"{beam['before'][1]:.2f} → {beam['after'][1]:.2f} |"
        )
    lines += ["", "Exit codes seen: " + "; ".join(f"{label}: {', '.join(f'{s} {c}' for s, c in codes)}" for label, _, _, codes in rows), ""]
    # sections written by hand below the generated table stay
    kept = OUT.read_text(encoding="utf-8").split("\n## ", 1) if OUT.exists() else []
    OUT.write_text("\n".join(lines) + ("\n## " + kept[1] if len(kept) == 2 else ""), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
