"""The whole default pipeline, trajectories included, on a real dask.distributed cluster (a
`dask scheduler` and two `dask worker` processes on 127.0.0.1, started and stopped here).

The oracle is the local runner: the same corpus and config through the default in-process
DirectRunner path, which tests/e2e/test_runners.py and the goldens pin. Tables are compared row for
row after sorting, leaving out one column: ``run_id``, which each run draws anew (a timestamp and a
random token) — no table has another run-specific column (doc_id, sample_id and every other id are
derived from the inputs). Shard *boundaries* are not compared: how rows fall into part files
depends on the runner's bundles, not on the data.

A worker killed with SIGKILL mid-run must either be recovered by Dask (the run succeeds with the
same outputs) or fail the run with no manifest.json written.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed: pip install -e '.[dask]'")

from pipeline.config import load_config  # noqa: E402
from pipeline.io.manifest import read_manifest, verify  # noqa: E402
from pipeline.run import run  # noqa: E402
from tests.e2e.dask_cluster import REPO, BatchAtFinish, Collect, DaskCluster, beam_patched, collected, split_odd  # noqa: E402

pytestmark = pytest.mark.slow

TABLES = ["documents", "decisions", "quarantine", "signatures", "trajectories"]
EXCLUDED = {"run_id"}  # drawn anew by every run (see the module docstring)


def write_corpus(root: Path) -> None:
    """examples/corpus (JSONL, WARC, Parquet, text, broken lines) plus, for each web.jsonl record,
    an exact copy and a one-word edit: about 200 records, with duplicates that land on different
    workers."""
    shutil.copytree(REPO / "examples" / "corpus", root)
    variants = []
    for line in (REPO / "examples" / "corpus" / "web.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if not isinstance(rec.get("text"), str) or not rec["text"].strip():
            continue
        words = rec["text"].split(" ")
        edited = " ".join(words[:-1] + ["indeed."]) if len(words) > 20 else rec["text"] + " Indeed."
        variants.append({**rec, "id": f"{rec.get('id')}-copy"})
        variants.append({**rec, "id": f"{rec.get('id')}-edit", "text": edited})
    (root / "variants.jsonl").write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in variants), encoding="utf-8")


def write_config(path: Path) -> Path:
    """The default config plus trajectories (programmatic teacher), with the seeds file's absolute
    path: workers resolve paths in their own working directory."""
    path.write_text(
        "trajectories:\n  enabled: true\n  teacher: {backend: programmatic}\n"
        f"  seeds: [{REPO / 'examples' / 'seeds.jsonl'}]\n  from_documents: true\n",
        encoding="utf-8",
    )
    return path


def table_rows(out: Path, table: str) -> list[str]:
    rows = []
    for f in sorted((out / table).glob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            rows.append(json.dumps({k: v for k, v in r.items() if k not in EXCLUDED}, sort_keys=True, default=str, ensure_ascii=False))
    return sorted(rows)


def assert_same_outputs(out: Path, base: Path) -> None:
    for table in TABLES:
        assert table_rows(out, table) == table_rows(base, table), table
    ours, theirs = read_manifest(str(out)), read_manifest(str(base))
    assert ours["stage_counts"] == theirs["stage_counts"]
    for key in ("records_in", "kept", "dropped", "quarantined", "dropped_by_reason", "quarantined_by_reason", "trajectories"):
        assert ours["summary"][key] == theirs["summary"][key], key


PROGRESS_LINE = re.compile(r"progress: read ([\d,]+) records.*?; kept ([\d,]+), dropped ([\d,]+)")


def curate(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", *args],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    write_corpus(root / "in")
    return root / "in", write_config(root / "config.yaml")


@pytest.fixture(scope="module")
def local_out(inputs, tmp_path_factory):
    """The oracle: the same input through the local in-process runner."""
    corpus, config = inputs
    out = tmp_path_factory.mktemp("local") / "out"
    result = run(load_config(str(config)), [str(corpus)], str(out), [])
    s = result.summary
    # the corpus exercises what is compared: kept, dropped and quarantined rows, duplicates, trajectories
    assert s["kept"] and s["quarantined"] and s["dropped_by_reason"].get("dedup/exact_duplicate") and s["trajectories"]["accepted"]
    assert s["records_in"] >= 150
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskCluster(tmp_path_factory.mktemp("cluster"), workers=2) as c:
        yield c


def test_run_on_a_dask_cluster_equals_the_local_runner_row_for_row(cluster, inputs, local_out, tmp_path):
    corpus, config = inputs
    out = tmp_path / "out"
    proc = curate("--input", str(corpus), "--output", str(out), "--config", str(config),
                  "--runner", "DaskRunner", f"--dask_client_address={cluster.address}")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert verify(str(out)) == []
    manifest = read_manifest(str(out))
    assert manifest["runner"] == "DaskRunner"
    assert_same_outputs(out, local_out)
    # Progress came from the cluster's workers (they did not inherit the launcher's environment):
    # the run's last progress line holds the manifest's counts.
    lines = PROGRESS_LINE.findall(err)
    assert lines, err[-3000:]
    read, kept, dropped = (int(n.replace(",", "")) for n in lines[-1])
    s = manifest["summary"]
    assert (read, kept, dropped) == (s["records_in"], s["kept"], s["dropped"] + s["quarantined"])
    # the work ran on the workers: each one set up the pipeline's DoFns
    assert all(w.poll() is None for w in cluster.workers)


def test_dedup_against_an_earlier_release_on_a_dask_cluster_equals_the_local_runner(cluster, inputs, local_out, tmp_path):
    """`--dedup-against` on the cluster: the earlier release's signatures reach the workers and
    drop the same documents, naming the same earlier ones, as the local runner does."""
    from pipeline.io.manifest import checked_release_signatures

    corpus, _ = inputs
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(corpus / "variants.jsonl", second / "variants.jsonl")  # copies and edits of the release's web.jsonl
    cfg = load_config()
    cfg.dedup.against = [checked_release_signatures(str(local_out))]
    base = run(cfg, [str(second)], str(tmp_path / "local"), []).out
    out = tmp_path / "dask"
    proc = curate("--input", str(second), "--output", str(out), "--dedup-against", str(local_out), "--quiet",
                  "--runner", "DaskRunner", f"--dask_client_address={cluster.address}")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert verify(str(out)) == []
    for table in ("documents", "decisions", "quarantine", "signatures"):
        assert table_rows(out, table) == table_rows(Path(base), table), table
    assert read_manifest(str(out))["stage_counts"] == read_manifest(base)["stage_counts"]
    # the earlier release did its part: copies dropped as duplicates of documents it kept
    released = {r["doc_id"] for f in (local_out / "documents").glob("*.parquet") for r in pq.read_table(f, columns=["doc_id"]).to_pylist()}
    dups = [r for f in (out / "decisions").glob("*.parquet") for r in pq.read_table(f).to_pylist()
            if r["reason"] == "exact_duplicate"]
    here = {r["doc_id"] for f in (out / "decisions").glob("*.parquet") for r in pq.read_table(f, columns=["doc_id"]).to_pylist()}
    # (web.jsonl repeats a few texts itself: their copies here are duplicates of each other too)
    assert all(r["dup_of"] in released or r["dup_of"] in here for r in dups)
    assert sum(r["dup_of"] in released for r in dups) >= 10


def _first_staged_file(out: Path) -> bool:
    staging = out / "_staging"
    return staging.is_dir() and any(p.is_file() for p in staging.rglob("*") if "_meta" not in p.parts)


def test_a_worker_killed_mid_run_is_recovered_or_fails_the_run_without_a_manifest(inputs, local_out, tmp_path):
    corpus, config = inputs
    out = tmp_path / "out"
    with DaskCluster(tmp_path / "cluster", workers=2) as cluster:
        proc = curate("--input", str(corpus), "--output", str(out), "--config", str(config), "--quiet",
                      "--profile", "dask", env={"DASK_SCHEDULER_ADDRESS": cluster.address})
        deadline = time.monotonic() + 300
        while not _first_staged_file(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before any work was staged: nothing to kill mid-run"
        cluster.kill_worker(0)
        _, err = proc.communicate(timeout=600)
        assert proc.poll() is not None
    if proc.returncode == 0:
        assert verify(str(out)) == []
        assert_same_outputs(out, local_out)
    else:
        assert not (out / "manifest.json").exists(), "a failed run left a manifest"
        assert err.strip().splitlines()[-1].startswith("curate: run failed"), err[-2000:]
    print("worker killed mid-run:", "recovered" if proc.returncode == 0 else f"run failed ({err.strip().splitlines()[-1]})")


# --- the runner fixes, one by one, on tiny graphs (oracle: plain Python over the same values) -----

def _tiny_graph(p, tmp: Path, values: list[int]) -> dict[str, Path]:
    folders = {name: tmp / name for name in ("even", "odd", "counted", "scaled", "patched")}
    for f in folders.values():
        f.mkdir()
    nums = p | beam.Create(values, reshuffle=False)
    split = nums | "split" >> beam.FlatMap(split_odd).with_outputs("odd", main="even")
    split.even | "even" >> beam.ParDo(Collect(str(folders["even"])))
    split.odd | "odd" >> beam.ParDo(Collect(str(folders["odd"])))
    nums | "reshuffle" >> beam.Reshuffle() | "count" >> beam.ParDo(BatchAtFinish()) | "sum" >> beam.CombineGlobally(sum) \
        | "counted" >> beam.ParDo(Collect(str(folders["counted"])))
    top = nums | "max" >> beam.CombineGlobally(max)
    nums | "scale" >> beam.Map(lambda x, m: [x, m], m=beam.pvalue.AsSingleton(top)) | "scaled" >> beam.ParDo(Collect(str(folders["scaled"])))
    nums | "patched?" >> beam.Map(beam_patched) | "distinct" >> beam.Distinct() | "patched" >> beam.ParDo(Collect(str(folders["patched"])))
    return folders


def test_fixed_runner_keeps_tags_apart_and_runs_finish_bundle_side_inputs_and_every_sink(cluster, tmp_path):
    from pipeline.runners import make_runner, pipeline_options

    values = list(range(1, 301))
    # through the scheduler file (the HPC set-up in docs/running-at-scale.md) instead of the address
    options = pipeline_options(["--runner=DaskRunner", f"--dask_scheduler_file={cluster.workdir / 'scheduler.json'}"])
    with beam.Pipeline(runner=make_runner(options), options=options) as p:
        folders = _tiny_graph(p, tmp_path, values)
    assert collected(folders["even"]) == [v for v in values if v % 2 == 0]
    assert collected(folders["odd"]) == [v for v in values if v % 2]
    assert collected(folders["counted"]) == [len(values)]  # finish_bundle outputs of every bundle
    assert collected(folders["scaled"]) == sorted([v, max(values)] for v in values)
    assert collected(folders["patched"]) == [False]  # the local runner's memory patches stay off on Dask workers


def test_beam_dask_runner_as_shipped_still_mixes_tagged_outputs(cluster, tmp_path):
    """The upstream bug pipeline/beam_dask.py works around. When this fails, Beam has changed its
    Dask runner: re-check every fix listed in pipeline/beam_dask.py against the new version."""
    from apache_beam.runners.dask.dask_runner import DaskRunner
    from pipeline.runners import pipeline_options

    values = list(range(1, 41))
    folder = tmp_path / "odd"
    folder.mkdir()
    options = pipeline_options([f"--dask_client_address={cluster.address}"])
    p = beam.Pipeline(runner=DaskRunner(), options=options)
    split = p | beam.Create(values, reshuffle=False) | "split" >> beam.FlatMap(split_odd).with_outputs("odd", main="even")
    split.odd | "odd" >> beam.ParDo(Collect(str(folder)))
    result = p.run()
    try:
        result.wait_until_finish()
    finally:
        result.client.close()  # Beam's result never closes its client
    # the consumer of the "odd" output received the even (main) values too
    assert collected(folder) == values, "Beam's DaskRunner now routes tagged outputs apart"


def test_unsupported_windowing_is_refused_with_one_clear_error(cluster):
    from apache_beam.transforms import window

    from pipeline.runners import make_runner, pipeline_options

    options = pipeline_options(["--runner=DaskRunner", f"--dask_client_address={cluster.address}"])
    with pytest.raises(NotImplementedError, match="only the global window is supported"):
        with beam.Pipeline(runner=make_runner(options), options=options) as p:
            p | beam.Create([1, 2]) | beam.WindowInto(window.FixedWindows(10)) | beam.Map(str)
