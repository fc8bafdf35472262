"""`curate run` end to end on the real local runner over real files, checked with pyarrow and DuckDB."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import jsonschema
import pyarrow.parquet as pq
import pytest

from pipeline import audit
from pipeline.io import shards
from pipeline.io.manifest import verify
from pipeline.resources import manifests_dir

PROSE = [
    "The committee met on Tuesday to review the annual budget and agreed to fund the new library wing.",
    "Rain is expected across the northern valleys tonight, with clearer skies arriving by the weekend.",
    "She repaired the old bicycle in the garage, replacing the chain and adjusting both brakes carefully.",
    "The museum's new exhibit traces three centuries of shipbuilding along the river's busy estuary.",
    "Students compared two translations of the poem and wrote about how rhythm changes its meaning.",
]


def write_corpus(root: Path) -> dict:
    """A small corpus with every ingest outcome; returns the expected counts."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"g{i}", "text": f"{t} Entry {i}.", "url": f"https://example.org/{i}"}) for i, t in enumerate(PROSE * 4)]
    lines[3] = ""  # a blank line holds no record, but it still counts in the line numbering
    lines.insert(5, "{not json")
    lines.insert(6, "[1, 2, 3]")
    lines.insert(7, json.dumps({"id": "no-text"}))
    lines.insert(8, json.dumps({"id": "ws", "text": "   \n\t "}))
    lines.insert(9, json.dumps({"id": 42, "text": 17}))
    (root / "web.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "note.txt").write_text("A plain text note about gardening in early spring, and how to plant tomatoes.\n", encoding="utf-8")
    return {"records": len(lines) - 1 + 1}  # minus the blank line, plus note.txt


def read_table(out: Path, table: str):
    return pq.ParquetDataset(sorted(str(p) for p in (out / table).glob("*.parquet"))).read()


@pytest.fixture
def corpus(tmp_path):
    expected = write_corpus(tmp_path / "in")
    return tmp_path / "in", expected


def test_every_record_gets_exactly_one_decision(make_config, curate, corpus, tmp_path):
    root, expected = corpus
    result = curate(make_config(stages_off=True), [root])
    out = Path(result.out)
    decisions = read_table(out, "decisions").to_pylist()
    documents = read_table(out, "documents").to_pylist()
    quarantine = read_table(out, "quarantine").to_pylist()

    assert len(decisions) == expected["records"] == result.summary["records_in"]
    assert len({d["doc_id"] for d in decisions}) == len(decisions)
    by_action = {}
    for d in decisions:
        by_action.setdefault(d["action"], set()).add(d["doc_id"])
    assert by_action["keep"] == {d["doc_id"] for d in documents}
    assert by_action["quarantine"] == {q["doc_id"] for q in quarantine}
    reasons = {(d["stage"], d["reason"]) for d in decisions if d["action"] != "keep"}
    assert {("ingest", "parse_error"), ("ingest", "not_an_object"), ("ingest", "missing_text"),
            ("ingest", "text_not_string"), ("ingest", "empty")} <= reasons
    # quarantine rows say where: file, record index and offset, with a bounded raw excerpt
    bad = next(q for q in quarantine if q["reason"] == "parse_error")
    assert bad["source_uri"].endswith("web.jsonl") and bad["record_index"] == 5 and bad["raw"] == b"{not json"
    # documents carry provenance and hashes
    doc = next(d for d in documents if d["source_id"] == "g0")
    assert doc["url"] == "https://example.org/0" and doc["record_index"] == 0
    import hashlib

    assert doc["content_hash"] == hashlib.sha256(doc["text"].encode()).hexdigest()
    counts = result.manifest["stage_counts"]
    assert counts["ingest"]["in"] == expected["records"]
    assert counts["output"]["out"] == len(documents)


def test_outputs_are_zstd_with_run_id_and_manifest_matches_schema(make_config, curate, corpus):
    root, _ = corpus
    result = curate(make_config(stages_off=True), [root])
    out = Path(result.out)
    manifest = json.loads((out / "manifest.json").read_text())
    schema = json.loads((manifests_dir() / "manifest.schema.json").read_text())
    jsonschema.validate(manifest, schema)
    assert manifest["run_id"] == result.run_id
    listed = {o["path"] for o in manifest["outputs"]}
    for table in ("documents", "decisions", "quarantine", "signatures", "trajectories"):
        files = sorted((out / table).glob("*.parquet"))
        assert files and all(f"{table}/{f.name}" in listed for f in files)
        for f in files:
            meta = pq.ParquetFile(f).metadata
            assert meta.metadata[b"run_id"].decode() == result.run_id
            assert meta.num_row_groups == 0 or meta.row_group(0).column(0).compression == "ZSTD"
    assert {i["uri"].split("/")[-1] for i in manifest["inputs"]} == {"web.jsonl", "note.txt"}
    assert all(len(i["sha256"]) == 64 and i["bytes"] > 0 for i in manifest["inputs"])
    assert set(manifest["rules"]) and manifest["config_sha256"] and manifest["langid_model"]["sha256"]
    assert not (out / "_staging").exists()


def test_doc_ids_are_stable_across_reruns(make_config, curate, corpus, tmp_path):
    root, _ = corpus
    cfg = make_config(stages_off=True)
    first = curate(cfg, [root], out=tmp_path / "a")
    second = curate(cfg, [root], out=tmp_path / "b")
    ids = lambda r: sorted(d["doc_id"] for d in read_table(Path(r.out), "decisions").to_pylist())  # noqa: E731
    assert ids(first) == ids(second)
    assert first.run_id != second.run_id


def test_shards_are_bounded_and_named_in_sequence(make_config, curate, corpus):
    root, _ = corpus
    result = curate(make_config({"run": {"shard_max_rows": 4, "batch_size": 3}}, stages_off=True), [root])
    files = sorted((Path(result.out) / "documents").glob("*.parquet"))
    assert len(files) >= 4
    assert [f.name for f in files] == [f"part-{i:05d}.parquet" for i in range(len(files))]
    assert all(pq.ParquetFile(f).metadata.num_rows <= 4 for f in files)
    assert verify(result.out) == []


def test_verify_catches_flipped_byte_missing_and_extra_files(make_config, curate, corpus):
    root, _ = corpus
    out = Path(curate(make_config(stages_off=True), [root]).out)
    assert verify(str(out)) == []
    target = out / "documents" / "part-00000.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    problems = verify(str(out))
    assert any("documents/part-00000.parquet" in p and "sha256" in p for p in problems)
    target.unlink()
    assert any("documents/part-00000.parquet: missing" in p for p in verify(str(out)))
    (out / "decisions" / "extra.parquet").write_bytes(b"x")
    assert any("decisions/extra.parquet: not listed" in p for p in verify(str(out)))


def test_failed_run_leaves_no_manifest(make_config, curate, corpus, monkeypatch, tmp_path):
    root, _ = corpus

    def broken(table):
        raise OSError("disk full")

    monkeypatch.setattr(shards, "encode_table", broken)
    with pytest.raises(Exception):
        curate(make_config(stages_off=True), [root], out=tmp_path / "failed")
    assert not (tmp_path / "failed" / "manifest.json").exists()


def test_audit_views_and_every_canned_query_run(make_config, curate, corpus):
    root, expected = corpus
    out = curate(make_config(stages_off=True), [root]).out
    columns, rows = audit.query(out, "SELECT count(*) AS n FROM decisions")
    assert rows == [(expected["records"],)]
    for view in ("documents", "decisions", "quarantine", "trajectories", "signatures", "manifest"):
        audit.query(out, f"SELECT * FROM {view} LIMIT 1")
    for name, path in audit.canned_queries().items():
        columns, rows = audit.query(out, path.read_text())
        assert columns, name
    # plain DuckDB with the same view file gives the same answer
    con = duckdb.connect()
    con.execute("SET file_search_path = ?", [out])
    con.execute((manifests_dir() / "views.sql").read_text())
    assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] == expected["records"]


def _curate(*args, check=None):
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_exit_codes_and_messages(corpus, tmp_path):
    root, _ = corpus
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("dedup: {treshold: 0.5}\n")
    code, _, err = _curate("run", "--input", root, "--output", tmp_path / "o1", "--config", bad_cfg)
    assert code == 2 and "dedup.treshold" in err and len(err.strip().splitlines()) == 1
    code, _, err = _curate("run", "--input", tmp_path / "missing.jsonl", "--output", tmp_path / "o2")
    assert code == 2 and "missing.jsonl" in err

    cfg = tmp_path / "off.yaml"
    cfg.write_text("license: {enabled: false}\nlangid: {enabled: false}\nquality: {enabled: false}\npii: {enabled: false}\ndedup: {enabled: false}\n")
    out = tmp_path / "o3"
    code, stdout, err = _curate("run", "--input", root, "--output", out, "--config", cfg)
    assert code == 0, err
    assert "records in" in stdout and "parse_error" in stdout
    code, _, err = _curate("run", "--input", root, "--output", out, "--config", cfg)
    assert code == 2 and "--overwrite" in err
    code, _, err = _curate("run", "--input", root, "--output", out, "--config", cfg, "--overwrite")
    assert code == 0, err

    code, stdout, _ = _curate("verify", out)
    assert code == 0 and "OK" in stdout
    code, stdout, _ = _curate("audit", out, "--query", "drop_reasons", "--format", "csv")
    assert code == 0 and stdout.splitlines()[0] == "stage,action,reason,records"
    code, stdout, _ = _curate("audit", out, "SELECT action, count(*) AS n FROM decisions GROUP BY 1 ORDER BY 1", "--format", "json")
    assert code == 0 and {r["action"] for r in json.loads(stdout)} == {"keep", "drop", "quarantine"}
    code, _, err = _curate("audit", out, "SELEC nonsense")
    assert code == 2 and "SQL error" in err
    code, _, err = _curate("audit", out, "--query", "nope")
    assert code == 2 and "unknown query" in err
    (out / "documents" / "part-00000.parquet").write_bytes(b"tampered")
    code, _, err = _curate("verify", out)
    assert code == 1 and "documents/part-00000.parquet" in err
