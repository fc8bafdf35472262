"""End-to-end measurements of `curate run`, each stage alone, and the pyarrow floor.

Used by ``benchmarks/run_all.py`` (``make bench``), which runs these side by side with datatrove
and writes benchmarks/RESULTS.md. Each measurement is a fresh subprocess, timed from launch to exit
(start-up included), with the peak RSS of its whole process tree (psutil; the sum of the RSS of the
process and all its descendants, sampled every 0.2 s — SDK workers of multi_processing included).

By hand:

    .venv/bin/python benchmarks/bench_e2e.py --docs 10000                 # ours: off, default, each stage; floor
    .venv/bin/python benchmarks/bench_e2e.py floor --input X.jsonl --out Y.parquet --threads 1

What is measured:
* **pyarrow floor**: ``pyarrow.json.read_json`` of the same JSONL → ``pyarrow.parquet.write_table``
  with zstd (our shard codec, default level), once single-threaded (``use_threads=False``,
  ``pa.set_cpu_count(1)``, ``pa.set_io_thread_count(1)``) and once with pyarrow's default threads;
* **stages off**: ``curate run`` with license, langid, quality, pii, dedup, trajectories all
  ``enabled: false`` — ingest, decisions, documents, manifest only;
* **default**: ``curate run`` with the embedded default config (stages whose module has not landed
  yet are switched off and reported as missing);
* **<stage> alone**: only that stage on; its cost is its wall time minus the stages-off wall time.
Ours runs on the default DirectRunner (offline FnApiRunner), one worker (in_memory) or two
(``--direct_num_workers=2 --direct_running_mode=multi_processing``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

STAGES = ["license", "langid", "quality", "pii", "dedup"]
STAGE_MODULES = {
    "license": "pipeline.stages.license",
    "langid": "pipeline.stages.langid",
    "quality": "pipeline.stages.quality",
    "pii": "pipeline.stages.pii",
    "dedup": "pipeline.stages.dedup",
}
MULTI = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
SAMPLE_SECONDS = 0.2  # process-tree sampling interval (peak RSS, CPU of processes nobody reaps)


FROZEN: list[str] | None = None  # run_all freezes the stage list at start, so one run measures one set


def available_stages() -> list[str]:
    """Stages whose module exists in this checkout (the others have not landed yet)."""
    if FROZEN is not None:
        return list(FROZEN)
    out = []
    for name in STAGES:
        try:
            found = importlib.util.find_spec(STAGE_MODULES[name]) is not None
        except ModuleNotFoundError:
            found = False
        if found and name == "pii":  # the graph's quarantine scrubber needs the engine too
            try:
                found = importlib.util.find_spec("pipeline.pii.engine") is not None
            except ModuleNotFoundError:
                found = False
        if found:
            out.append(name)
    return out


def config_yaml(enabled: list[str] | None) -> str:
    """YAML for `curate run`: `enabled=None` → the defaults (missing stages off); a list → only those on."""
    avail = set(available_stages())
    lines = []
    for name in STAGES:
        on = (name in avail) if enabled is None else (name in enabled)
        if not on:
            lines.append(f"{name}: {{enabled: false}}")
    lines.append("trajectories: {enabled: false}")
    return "\n".join(lines) + "\n"


# --- measuring a process tree -------------------------------------------------------------------
def measure(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run `cmd`; return wall seconds, CPU seconds, peak RSS (MB) of the whole tree and of its largest
    process, the 1-minute load average while it ran, exit code, stderr tail."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    per_proc: dict[int, int] = {}  # pid -> its peak RSS
    cpu_seen: dict[int, float] = {}  # pid -> its last sampled CPU seconds (for processes nobody reaps)
    cmds: dict[int, str] = {}  # pid -> its command line
    loads: list[float] = []
    stop = threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            loads.append(os.getloadavg()[0])
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    ct = p.cpu_times()
                    if p.pid not in cmds:
                        cmds[p.pid] = " ".join(p.cmdline())[:300]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                per_proc[p.pid] = max(per_proc.get(p.pid, 0), rss)
                cpu_seen[p.pid] = ct.user + ct.system
            peak = max(peak, total)
            # walking the process tree costs CPU that the measured run would miss on a busy machine
            stop.wait(SAMPLE_SECONDS)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        # descendants reaped by their parents count in RUSAGE_CHILDREN; the sampled sum covers any that are not
        "cpu": max(reaped, sum(cpu_seen.values())),
        "peak_rss_mb": peak / 2**20,
        "peak_proc_mb": max(per_proc.values(), default=0) / 2**20,
        "procs": len(per_proc),
        "per_process": [{"cmd": cmds.get(pid, ""), "cpu": cpu_seen.get(pid, 0.0), "peak_mb": rss / 2**20} for pid, rss in per_proc.items()],
        "load1": (sum(loads) / len(loads)) if loads else os.getloadavg()[0],
        "load1_max": max(loads, default=0.0),
        "rc": proc.returncode,
        "stdout": out.decode("utf-8", "replace")[-4000:],
        "stderr": err.decode("utf-8", "replace")[-4000:],
    }


# --- the floor ----------------------------------------------------------------------------------
def floor(input_path: str, out_path: str, threads: bool) -> dict:
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    if not threads:
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    t0 = time.perf_counter()
    table = pj.read_json(input_path, read_options=pj.ReadOptions(use_threads=threads, block_size=16 << 20))
    pq.write_table(table, out_path, compression="zstd")
    return {"rows": table.num_rows, "seconds": time.perf_counter() - t0}


def run_floor(input_path: Path, work: Path, threads: bool) -> dict:
    out = work / f"floor-{'mt' if threads else 'st'}.parquet"
    res = measure([str(BIN / "python"), __file__, "floor", "--input", str(input_path), "--out", str(out), "--threads", "1" if threads else "0"])
    if res["rc"] != 0:
        raise RuntimeError(f"floor failed: {res['stderr'][-800:]}")
    res["inner"] = json.loads(res["stdout"].strip().splitlines()[-1])
    res["out_bytes"] = out.stat().st_size
    out.unlink()
    return res


# --- ours -------------------------------------------------------------------------------------
def run_ours(input_path: Path, work: Path, enabled: list[str] | None, workers: int, keep_out: bool = False, tag: str = "run",
             profile: str | None = None) -> dict:
    """`curate run` in a fresh process. `profile="local-mp"`: the recommended one-machine runner
    profile with CURATE_WORKERS=`workers`; otherwise 1 worker in-memory, more via multi_processing."""
    cfg = work / f"config-{tag}.yaml"
    cfg.write_text(config_yaml(enabled), encoding="utf-8")
    out = work / f"out-{tag}"
    cmd = [str(BIN / "curate"), "run", "--input", str(input_path), "--output", str(out), "--config", str(cfg), "--overwrite", "--quiet"]
    env = None
    if profile:
        cmd += ["--profile", profile]
        env = {**os.environ, "CURATE_WORKERS": str(workers)}
    elif workers > 1:
        cmd += MULTI
    res = measure(cmd, env=env)
    if res["rc"] != 0:
        raise RuntimeError(f"curate run ({tag}) failed: {res['stderr'][-1500:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    s = manifest.get("summary") or {}
    res["records_in"] = s.get("records_in")
    res["kept"] = s.get("kept")
    res["dropped_by_reason"] = s.get("dropped_by_reason")
    res["quarantined"] = s.get("quarantined")
    res["stages"] = s.get("stages")
    res["inner_wall"] = s.get("wall_seconds")
    res["out"] = str(out)
    if not keep_out:
        shutil.rmtree(out, ignore_errors=True)
    return res


def our_clusters(out: str) -> list[list[str]]:
    """Duplicate clusters (as input ids) from OUT/decisions: exact + near edges, joined."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    table = ds.dataset(os.path.join(out, "decisions"), format="parquet").to_table(columns=["doc_id", "source_id", "reason", "dup_of"])
    to_src = dict(zip(table.column("doc_id").to_pylist(), table.column("source_id").to_pylist()))
    mask = pc.is_in(table.column("reason"), value_set=__import__("pyarrow").array(["exact_duplicate", "near_duplicate"]))
    dups = table.filter(mask)
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(dups.column("doc_id").to_pylist(), dups.column("dup_of").to_pylist()):
        if b is None:
            continue
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict = {}
    for node in list(parent):
        groups.setdefault(find(node), []).append(to_src.get(node) or node)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "floor":
        ap = argparse.ArgumentParser()
        ap.add_argument("cmd")
        ap.add_argument("--input", required=True)
        ap.add_argument("--out", required=True)
        ap.add_argument("--threads", type=int, default=0)
        a = ap.parse_args(argv)
        print(json.dumps(floor(a.input, a.out, bool(a.threads))))
        return 0
    ap = argparse.ArgumentParser(description="ours vs the pyarrow floor on one corpus size (no datatrove; see run_all.py)")
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    import corpus

    path = corpus.build(args.docs)
    work = corpus.WORK / f"e2e-{args.docs}"
    work.mkdir(parents=True, exist_ok=True)
    mb = path.stat().st_size / 1e6
    rows = [("floor st", run_floor(path, work, False)), ("floor mt", run_floor(path, work, True)),
            ("off", run_ours(path, work, [], args.workers, tag="off")),
            ("default", run_ours(path, work, None, args.workers, tag="default"))]
    for st in available_stages():
        rows.append((f"{st} alone", run_ours(path, work, [st], args.workers, tag=st)))
    print(f"{args.docs} docs, {mb:.1f} MB, stages available: {available_stages()}")
    for name, r in rows:
        print(f"{name:<16} {r['wall']:7.2f} s  {args.docs / r['wall']:8.0f} docs/s  {mb / r['wall']:6.2f} MB/s  peak {r['peak_rss_mb']:6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
