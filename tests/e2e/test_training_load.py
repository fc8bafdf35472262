"""OUT loads the way training jobs load data: every table with Hugging Face `datasets`, pandas,
polars and DuckDB, row counts as the manifest lists them, and the `pii_counts` / `checks` entries
intact. One real `curate run` (the demo corpus plus a file with repeated PII, trajectories on with
the programmatic teacher) is shared by the module; the docs/training.md code blocks run against it.
"""
from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# `datasets` reads these when it is imported: a test must never reach the Hugging Face Hub.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

import datasets  # noqa: E402
import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402

from pipeline import audit  # noqa: E402
from pipeline.io.manifest import read_manifest, verify  # noqa: E402
from pipeline.io.shards import encode_table, table_for  # noqa: E402
from pipeline.records import TABLE_SCHEMAS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RELEASE = Path("out") / "demo-trajectories"  # the path docs/training.md uses, relative to the job's cwd
TABLES = ("documents", "decisions", "quarantine", "signatures", "trajectories")
LIBRARIES = ("datasets", "pandas", "polars", "duckdb")

# Kept documents whose PII counts are above one, so a count that loses its value (or swaps key and
# value) cannot pass; one English and one Korean.
REPEATED_PII = [
    '{"id": "pii-repeat-en", "license": "CC-BY-4.0", "text": "The allotment society keeps its waiting list on paper. '
    'New members may write to the secretary at plots.secretary@example.org or to the treasurer at '
    'treasurer.garden@example.net, and the shed phone is +44 20 7946 0321. If nobody answers, try +44 20 7946 0999 '
    'in the evening or +44 20 7946 0777 at weekends. Plots are assigned in the order requests arrive, and each new '
    'member receives a key to the water tap, a copy of the rules about bonfires, and a map of the paths between the '
    'beds."}',
    '{"id": "pii-repeat-ko", "license": "CC-BY-4.0", "text": "동네 도서관 자원봉사 안내입니다. 평일 오전 근무는 010-2345-6789로, '
    '주말 근무는 010-9876-5432로 연락해 주시면 담당자가 일정을 알려 드립니다. 봉사자는 반납된 책을 정리하고 어린이 열람실의 '
    '그림책을 제자리에 꽂으며, 한 달에 한 번 열리는 책 읽기 모임의 준비를 돕습니다. 처음 오시는 분께는 사서 선생님이 '
    '대출 시스템 사용법을 차근차근 설명해 드립니다."}',
]

# The default placeholder operator writes `<ENTITY>`; counting those tokens in the scrubbed text is
# the independent measure of what pii_counts must say.
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """cwd of a training job: ``out/demo-trajectories`` is a finished run."""
    root = tmp_path_factory.mktemp("job")
    extra = root / "repeated-pii.jsonl"
    extra.write_text("\n".join(REPEATED_PII) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--input", "examples/corpus", "--input", str(extra),
           "--output", str(root / RELEASE), "--config", "examples/trajectories.yaml", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def manifest(release) -> dict:
    out = str(release / RELEASE)
    assert verify(out) == []
    return read_manifest(out)


def table_files(release: Path, manifest: dict, table: str) -> list[str]:
    return [str(release / RELEASE / o["path"]) for o in manifest["outputs"] if o["path"].startswith(table + "/")]


def manifest_rows(manifest: dict, table: str) -> int:
    return sum(o["rows"] for o in manifest["outputs"] if o["path"].startswith(table + "/"))


def load(library: str, files: list[str], cache_dir: Path) -> tuple[list[str], list[dict]]:
    """(column names, rows as dicts) of ``files`` read by ``library`` — each its own usual way."""
    if library == "datasets":
        ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(cache_dir))
        return ds.column_names, ds.to_list()
    if library == "pandas":
        df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        rows = df.to_dict("records")
        return list(df.columns), [{k: _plain(v) for k, v in r.items()} for r in rows]
    if library == "polars":
        df = pl.read_parquet(files)
        return df.columns, df.to_dicts()
    rel = duckdb.read_parquet(files)
    return rel.columns, [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def _plain(value):
    """pandas gives numpy arrays for list columns; compare them as lists."""
    return [_plain(v) for v in value.tolist()] if isinstance(value, np.ndarray) else value


def as_dict(entries) -> dict:
    return {e["key"]: e["value"] for e in entries}


def test_every_out_schema_has_a_datasets_type():
    # An Arrow map (the old pii_counts / checks type) raises here: no datasets feature type.
    for name, schema in TABLE_SCHEMAS.items():
        features = datasets.Features.from_arrow_schema(schema)
        assert list(features) == schema.names, name


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("table", TABLES)
def test_every_table_loads_with_manifest_row_count(release, manifest, table, library, tmp_path):
    files = table_files(release, manifest, table)
    columns, rows = load(library, files, tmp_path / "hf-cache")
    assert columns == TABLE_SCHEMAS[table].names
    assert len(rows) == manifest_rows(manifest, table) > 0
    assert {r["run_id"] for r in rows} == {manifest["run_id"]}


@pytest.mark.parametrize("library", LIBRARIES)
def test_pii_counts_survive_every_reader(release, manifest, library, tmp_path):
    _, docs = load(library, table_files(release, manifest, "documents"), tmp_path / "hf-cache")
    counted = {d["doc_id"]: dict(collections.Counter(PLACEHOLDER.findall(d["text"]))) for d in docs}
    read = {d["doc_id"]: as_dict(d["pii_counts"]) for d in docs}
    assert read == counted
    # the repeated-PII file, by what its text holds
    by_source = {d["source_id"]: as_dict(d["pii_counts"]) for d in docs}
    assert by_source["pii-repeat-en"] == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 3}
    assert by_source["pii-repeat-ko"] == {"PHONE_NUMBER": 2}
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER", "KR_RRN"} <= {k for c in counted.values() for k in c}
    # the final keep decision of each document carries the same counts
    _, decisions = load(library, table_files(release, manifest, "decisions"), tmp_path / "hf-cache")
    keeps = {d["doc_id"]: as_dict(d["pii_counts"]) for d in decisions if d["stage"] == "output"}
    assert keeps == counted


def test_pii_totals_query_matches_the_scrubbed_text(release):
    out = str(release / RELEASE)
    docs = pq.read_table(Path(out) / "documents").to_pylist()
    want = collections.Counter()
    holders = collections.defaultdict(set)
    for d in docs:
        for entity in PLACEHOLDER.findall(d["text"]):
            want[entity] += 1
            holders[entity].add(d["doc_id"])
    columns, rows = audit.query(out, audit.canned_queries()["pii_totals"].read_text())
    assert columns == ["entity", "replacements", "documents"]
    assert {e: (n, k) for e, n, k in rows} == {e: (n, len(holders[e])) for e, n in want.items()}
    # DuckDB turns the entries back into a MAP for lookups by key
    _, lookups = audit.query(out, "SELECT doc_id, map_from_entries(pii_counts)['PHONE_NUMBER'] FROM documents")
    assert {d: n for d, n in lookups if n is not None} == {
        d["doc_id"]: n for d in docs if (n := PLACEHOLDER.findall(d["text"]).count("PHONE_NUMBER"))
    }


@pytest.mark.parametrize("library", LIBRARIES)
def test_checks_survive_every_reader(release, manifest, library, tmp_path):
    enabled = yaml.safe_load((REPO / "rules" / "trajectories" / "checks.yaml").read_text())["order"]
    _, samples = load(library, table_files(release, manifest, "trajectories"), tmp_path / "hf-cache")
    assert samples
    for s in samples:
        # an accepted sample passed every check that ran, in the rules file's order
        assert [e["key"] for e in s["checks"]] == enabled and all(e["value"] is True for e in s["checks"])


def test_an_empty_table_has_no_row_group_and_still_reads(tmp_path):
    # datasets takes a file's first row group size as its batch size: a zero-row group fails there.
    path = tmp_path / "part-00000.parquet"
    path.write_bytes(encode_table(table_for("trajectories", [], "run-e")))
    assert pq.ParquetFile(path).metadata.num_row_groups == 0
    assert list(pd.read_parquet(path).columns) == TABLE_SCHEMAS["trajectories"].names
    assert pl.read_parquet(path).height == 0
    assert duckdb.read_parquet(str(path)).aggregate("count(*)").fetchall() == [(0,)]


def test_audit_doc_lists_every_column_of_every_table():
    doc = (REPO / "docs" / "audit.md").read_text(encoding="utf-8")
    for table, schema in TABLE_SCHEMAS.items():
        line = next(ln for ln in doc.splitlines() if ln.startswith(f"| `{table}` |"))
        assert re.findall(r"`(\w+)` ", line.split("|")[2]) == schema.names, table
        assert "map<" not in line


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def test_docs_training_code_blocks_run(release, manifest, monkeypatch, tmp_path):
    blocks = python_blocks((REPO / "docs" / "training.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    monkeypatch.chdir(release)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")  # read at call time
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/training.md", "exec"), namespace)  # noqa: S102 - our own docs
    # what the examples leave behind is the release itself
    assert namespace["documents"].num_rows == manifest_rows(manifest, "documents")
    chat = namespace["chat"]
    assert chat.num_rows == manifest_rows(manifest, "trajectories")
    sample = chat[0]
    assert [m["role"] for m in sample["messages"]] == ["user", "assistant"]
    raw = pq.read_table(release / RELEASE / "trajectories").to_pylist()
    by_id = {r["sample_id"]: r for r in raw}
    source = by_id[sample["sample_id"]]
    assert sample["messages"][0]["content"] == source["prompt"]
    assert source["thinking"] in sample["messages"][1]["content"] and source["answer"] in sample["messages"][1]["content"]


def test_docs_loader_refuses_a_manifest_path_outside_the_release(release, monkeypatch, tmp_path):
    # A manifest naming a file outside OUT (with that file's own hash): verify() refuses the path,
    # and the docs' loader refuses it on its own too (a job may skip verify).
    job = tmp_path / "job"
    shutil.copytree(release / RELEASE, job / RELEASE)
    shutil.copy(job / RELEASE / "documents" / "part-00000.parquet", tmp_path / "elsewhere.parquet")
    manifest_path = job / RELEASE / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    first_doc = next(o for o in manifest["outputs"] if o["path"].startswith("documents/"))
    manifest["outputs"].append({**first_doc, "path": "documents/../../../../elsewhere.parquet"})
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert any("outputs[" in p and "not a shard path" in p for p in verify(str(job / RELEASE)))
    monkeypatch.chdir(job)
    first_block = python_blocks((REPO / "docs" / "training.md").read_text(encoding="utf-8"))[0]
    with pytest.raises(SystemExit, match="unexpected output paths|not a shard path"):
        exec(compile(first_block, "docs/training.md", "exec"), {})  # noqa: S102 - our own docs


def test_docs_code_reads_a_release_after_a_data_card_and_an_erasure(release, monkeypatch, tmp_path):
    # After `curate report` and `curate forget`, the manifest lists report.html and rewritten shards
    # named part-NNNNN-<id>.parquet: the docs' loader must still read the current version.
    job = tmp_path / "job"
    shutil.copytree(release / RELEASE, job / RELEASE)
    out = job / RELEASE
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    doc_id = pq.read_table(out / "documents").column("doc_id")[0].as_py()
    for args in (["report", str(out)], ["forget", str(out), "--doc-id", doc_id, "--reason", "ticket 4"]):
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert (out / "versions" / "v000001.json").exists()
    renamed = [o["path"] for o in read_manifest(str(out))["outputs"] if o["path"].startswith("documents/")]
    assert any(not re.fullmatch(r"documents/part-\d{5}\.parquet", p) for p in renamed)  # the case this covers
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "report", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)  # a card for the new version
    assert proc.returncode == 0, proc.stderr

    monkeypatch.chdir(job)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    namespace: dict = {}
    for block in python_blocks((REPO / "docs" / "training.md").read_text(encoding="utf-8")):
        exec(compile(block, "docs/training.md", "exec"), namespace)  # noqa: S102 - our own docs
    manifest = read_manifest(str(out))
    assert namespace["documents"].num_rows == manifest_rows(manifest, "documents") == manifest["summary"]["kept"]
    assert doc_id not in set(namespace["documents"]["doc_id"])
