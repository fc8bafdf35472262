"""`curate forget`, `curate log` and `curate verify --version` end to end: real runs of the example
corpus (with document-grounded trajectories) on the local runner, real Parquet, real DuckDB.

Oracles are independent of pipeline/erasure.py: what should go is found with pyarrow / DuckDB /
fnmatch over the release before the erasure, hashes with hashlib, the manifest's shape with
jsonschema, and leaks with tests/security's byte-level scanner.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import jsonschema
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from pipeline import cli
from pipeline.config import load_config
from pipeline.io.manifest import verify
from pipeline.resources import manifests_dir
from pipeline.run import run
from tests.security.conftest import scan_outputs

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TRAJECTORIES = {"trajectories": {"enabled": True, "teacher": {"backend": "programmatic"},
                                 "seeds": [str(EXAMPLES / "seeds.jsonl")], "from_documents": True}}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """One run of the example corpus (every table non-empty), copied by each test that changes it."""
    root = tmp_path_factory.mktemp("forget")
    corpus = root / "corpus"
    shutil.copytree(EXAMPLES / "corpus", corpus)
    out = root / "release"
    run(load_config(overrides=TRAJECTORIES), [str(corpus)], str(out), [])
    return out


@pytest.fixture
def out(release, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(release, copy)
    return copy


def table(out: Path, name: str) -> list[dict]:
    rows = []
    for path in sorted((out / name).glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def snapshot(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}


def curate(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def grounded_doc(out: Path) -> tuple[dict, list[dict]]:
    """A kept document that a trajectory sample was derived from, and those samples."""
    samples = [t for t in table(out, "trajectories") if t["source_doc_ids"]]
    assert samples, "the example run must derive trajectories from documents"
    doc_id = samples[0]["source_doc_ids"][0]
    doc = next(d for d in table(out, "documents") if d["doc_id"] == doc_id)
    return doc, [t for t in samples if doc_id in t["source_doc_ids"]]


def schema_check(manifest: dict) -> None:
    schema = json.loads((manifests_dir() / "manifest.schema.json").read_text())
    jsonschema.validate(manifest, schema, format_checker=jsonschema.FormatChecker())


def test_forget_doc_id_removes_the_document_and_everything_derived(out, capsys):
    doc, samples = grounded_doc(out)
    # Planted values: the document's text and url, and the derived samples' prompts (distinctive
    # lines only, so another document sharing a phrase cannot satisfy the scan).
    others = [d["text"] for d in table(out, "documents") if d["doc_id"] != doc["doc_id"]]
    line = next(s for s in doc["text"].splitlines() if len(s) > 30 and not any(s in o for o in others))
    values = [line, doc["url"], *[t["prompt"] for t in samples]]
    assert scan_outputs(out, values), "the scanner must find the values before the erasure"
    before = json.loads((out / "manifest.json").read_bytes())
    manifest_bytes = (out / "manifest.json").read_bytes()

    code, stdout, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "erasure request 17")
    assert code == 0, stderr
    assert verify(str(out)) == []
    assert scan_outputs(out, values, stdout, stderr) == []
    assert doc["doc_id"] not in stdout + stderr  # only hashed ids are ever printed
    assert all(d["doc_id"] != doc["doc_id"] for d in table(out, "documents"))
    assert all(s["doc_id"] != doc["doc_id"] for s in table(out, "signatures"))
    remaining = {t["sample_id"] for t in table(out, "trajectories")}
    assert remaining.isdisjoint(t["sample_id"] for t in samples)
    assert len(table(out, "documents")) == before["summary"]["kept"] - 1
    # The decisions rows stay, without where they came from, marked with the version.
    rows = [d for d in table(out, "decisions") if d["doc_id"] == doc["doc_id"]]
    assert [(r["stage"], r["action"], r["reason"]) for r in rows] == [("output", "keep", "kept")]
    assert rows[0]["source_uri"] is None and rows[0]["source_id"] is None and rows[0]["record_index"] is None
    assert json.loads(rows[0]["detail"]) == {"erased_in_version": 2}
    for sample in samples:
        row = next(d for d in table(out, "decisions") if d["doc_id"] == sample["sample_id"])
        assert json.loads(row["detail"]) == {"erased_in_version": 2} and row["source_uri"] is None

    manifest = json.loads((out / "manifest.json").read_bytes())
    schema_check(manifest)
    assert (manifest["version"], manifest["kind"]) == (2, "erasure")
    assert manifest["parent"] == {"version": 1, "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
    assert (out / "versions" / "v000001.json").read_bytes() == manifest_bytes
    [entry] = manifest["erasures"]
    assert entry["id_sha256"] == [hashlib.sha256(doc["doc_id"].encode()).hexdigest()]
    assert entry["removed"] == {"documents": 1, "signatures": 1, "trajectories": len(samples), "quarantine": 0}
    assert entry["selector"] == {"kind": "doc-id", "count": 1} and entry["reason"] == "erasure request 17"
    lang = doc["lang"]
    stated = before["summary"]["languages"][lang]
    assert manifest["summary"]["languages"].get(lang, {"docs": 0})["docs"] == stated["docs"] - 1
    # Only the shards holding a matched row were rewritten; the old files are gone.
    listed = {o["path"] for o in manifest["outputs"]}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == listed | {"manifest.json", "versions/v000001.json"}
    unchanged = {o["path"] for o in before["outputs"]} & listed
    assert all(not p.startswith(("documents/", "signatures/", "trajectories/")) for p in unchanged)


def test_dry_run_lists_hashed_ids_and_changes_nothing(out, capsys):
    doc, _ = grounded_doc(out)
    before = snapshot(out)
    code, stdout, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "check", "--dry-run")
    assert code == 0, stderr
    assert hashlib.sha256(doc["doc_id"].encode()).hexdigest() in stdout
    assert doc["doc_id"] not in stdout and doc["url"] not in stdout
    assert "1 document(s)" in stdout
    assert snapshot(out) == before


def test_where_url_pattern_and_source_id_select_what_duckdb_and_fnmatch_select(out, capsys):
    docs = table(out, "documents")
    con = duckdb.connect()
    expected_ja = {r[0] for r in con.execute(
        f"SELECT doc_id FROM read_parquet('{out}/documents/*.parquet') WHERE lang = 'ja'").fetchall()}
    assert expected_ja
    code, _, stderr = curate(capsys, "forget", out, "--where", "lang = 'ja'", "--reason", "ja out")
    assert code == 0, stderr
    assert {d["doc_id"] for d in table(out, "documents")} == {d["doc_id"] for d in docs} - expected_ja

    pattern = "https://www.gutenberg.org/*"
    expected_url = {d["doc_id"] for d in docs if d["url"] and fnmatch.fnmatchcase(d["url"], pattern)} - expected_ja
    assert expected_url
    code, _, stderr = curate(capsys, "forget", out, "--url-pattern", pattern, "--reason", "site opt-out")
    assert code == 0, stderr

    target = next(d for d in docs if d["doc_id"] not in expected_ja | expected_url and d["source_id"])
    code, _, stderr = curate(capsys, "forget", out, "--source-id", target["source_id"], "--reason", "user request")
    assert code == 0, stderr
    left = {d["doc_id"] for d in table(out, "documents")}
    assert left == {d["doc_id"] for d in docs} - expected_ja - expected_url - {target["doc_id"]}
    assert verify(str(out)) == []
    manifest = json.loads((out / "manifest.json").read_bytes())
    schema_check(manifest)
    assert [e["version"] for e in manifest["erasures"]] == [2, 3, 4]
    assert manifest["summary"]["erased"]["documents"] == len(docs) - len(left)
    assert sorted(os.listdir(out / "versions")) == ["v000001.json", "v000002.json", "v000003.json"]


def test_quarantined_record_is_erased_with_its_raw_bytes(out, capsys):
    row = table(out, "quarantine")[0]
    raw = row["raw"].decode("utf-8", "replace").strip()[:40]
    assert raw and scan_outputs(out, [raw])
    code, _, stderr = curate(capsys, "forget", out, "--doc-id", row["doc_id"], "--reason", "bad record")
    assert code == 0, stderr
    assert scan_outputs(out, [raw]) == []
    assert all(q["doc_id"] != row["doc_id"] for q in table(out, "quarantine"))
    assert verify(str(out)) == []


@pytest.mark.parametrize("args, code, says", [
    (["--doc-id", "0" * 32], 1, "0 matched"),
    (["--doc-id", "x' OR '1'='1"], 1, "0 matched"),  # an id is a parameter, never SQL
    (["--source-id", "1) OR (1=1"], 1, "0 matched"),
    (["--where", "lang = 'en'; DROP VIEW documents"], 2, "no ';'"),
    (["--where", "no_such_column = 1"], 2, "SQL error"),
    (["--where", "doc_id IN (SELECT doc_id FROM read_parquet('/etc/*'))"], 2, "SQL error"),
    (["--where", "length(read_text('/etc/passwd')) > 0"], 2, "SQL error"),
    # a closing parenthesis cannot turn the expression into another query
    (["--where", "false) UNION SELECT doc_id FROM decisions WHERE (true"], 2, "one SQL expression"),
    (["--where", "true) LIMIT (1"], 2, "one SQL expression"),
])
def test_bad_selectors_change_nothing(out, capsys, args, code, says):
    before = snapshot(out)
    got, stdout, stderr = curate(capsys, "forget", out, *args, "--reason", "r")
    assert (got, stdout) == (code, "")
    assert says in stderr and len(stderr.strip().splitlines()) == 1
    assert snapshot(out) == before


def test_out_without_manifest_and_bad_arguments_are_usage_errors(tmp_path, out, capsys):
    (tmp_path / "empty").mkdir()
    before = snapshot(out)
    for args in (["forget", tmp_path / "empty", "--doc-id", "a", "--reason", "r"],
                 ["log", tmp_path / "empty"],
                 ["verify", tmp_path / "empty", "--version", "1"],
                 ["forget", out, "--doc-id", "a", "--reason", "two\nlines"],
                 ["forget", out, "--doc-id", "a", "--reason", " "]):
        code, stdout, stderr = curate(capsys, *args)
        assert code == (1 if args[0] == "verify" else 2) and stdout == "", args
        assert len(stderr.strip().splitlines()) == 1, args
    assert os.listdir(tmp_path / "empty") == []
    for args in (["forget", out, "--doc-id", "a", "--where", "true", "--reason", "r"],  # one selector only
                 ["forget", out, "--doc-id", "a"]):  # --reason is required
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(a) for a in args])
        assert exit_info.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert snapshot(out) == before


@pytest.mark.parametrize("reason, entity", [
    ("request from jane.roe@example.org", "EMAIL_ADDRESS"),
    ("홍길동 님(010-1234-5678)의 삭제 요청", "PHONE_NUMBER"),  # Korean particle right after the number
    ("주민등록번호 900101-1234567 삭제 요청", "KR_RRN"),
])
def test_a_reason_holding_personal_data_is_refused_without_quoting_it(out, capsys, reason, entity):
    # The reason is kept in every later manifest version: it must not carry the data being erased.
    doc, _ = grounded_doc(out)
    before = snapshot(out)
    for extra in ([], ["--dry-run"]):
        code, stdout, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", reason, *extra)
        assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1
        assert entity in stderr and reason not in stderr
        assert not any(piece in stderr for piece in ("jane.roe", "1234-5678", "900101"))
    assert snapshot(out) == before


def test_erasing_twice_matches_nothing_the_second_time(out, capsys):
    doc, _ = grounded_doc(out)
    assert curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")[0] == 0
    code, _, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")
    assert code == 1 and "0 matched" in stderr


def test_interrupted_before_the_manifest_rename_leaves_the_previous_version(out, capsys, monkeypatch):
    doc, _ = grounded_doc(out)
    before = snapshot(out)
    real_rename = FileSystems.rename

    def crash_on_commit(sources, targets):
        if any(t.endswith("/manifest.json") for t in targets):
            raise OSError("simulated crash at the commit point")
        return real_rename(sources, targets)

    monkeypatch.setattr(FileSystems, "rename", crash_on_commit)
    code, _, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")
    assert code == 1 and "unchanged" in stderr
    assert snapshot(out) == before
    assert not (out / "versions").exists() and not (out / "_staging").exists()
    assert verify(str(out)) == []
    monkeypatch.setattr(FileSystems, "rename", real_rename)
    code, _, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")
    assert code == 0, stderr
    assert verify(str(out)) == []


def test_killed_while_moving_shards_leaves_the_previous_version(out, capsys):
    """SIGKILL (no cleanup runs) once the new shards are written: the previous version stands,
    verify passes, and the next forget takes over the stale lock and succeeds."""
    doc, _ = grounded_doc(out)
    manifest_before = (out / "manifest.json").read_bytes()
    script = (
        "import os, signal, sys\n"
        "from apache_beam.io.filesystems import FileSystems\n"
        "def die(sources, targets):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "FileSystems.rename = die\n"
        "from pipeline import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, "forget", str(out), "--doc-id", doc["doc_id"], "--reason", "r"],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "manifest.json").read_bytes() == manifest_before
    assert (out / "_curate.lock").exists() and (out / "_staging").exists()  # it did die mid-way
    assert verify(str(out)) == []
    code, _, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")
    assert code == 0, stderr
    assert verify(str(out)) == [] and not (out / "_staging").exists()


def test_versions_log_and_verify_an_earlier_version(out, release, capsys):
    doc, _ = grounded_doc(out)
    v1 = json.loads((out / "manifest.json").read_bytes())
    assert curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "request 9")[0] == 0
    v2_bytes = (out / "manifest.json").read_bytes()
    corpus = release.parent / "corpus"
    run(load_config(overrides=TRAJECTORIES), [str(corpus)], str(out), [], overwrite=True)
    v3 = json.loads((out / "manifest.json").read_bytes())
    schema_check(v3)
    assert (v3["version"], v3["kind"], v3["erasures"]) == (3, "run", [])
    assert v3["parent"] == {"version": 2, "manifest_sha256": hashlib.sha256(v2_bytes).hexdigest()}
    assert (out / "versions" / "v000002.json").read_bytes() == v2_bytes
    assert verify(str(out)) == []

    code, stdout, _ = curate(capsys, "log", out, "--format", "json")
    log = json.loads(stdout)
    assert [(e["version"], e["kind"]) for e in log] == [(1, "run"), (2, "erasure"), (3, "run")]
    assert log[1]["reason"] == "request 9" and log[1]["removed"]["documents"] == 1
    assert log[0]["documents"] == v1["summary"]["kept"] and log[1]["documents"] == v1["summary"]["kept"] - 1
    code, stdout, _ = curate(capsys, "log", out)
    assert code == 0 and "request 9" in stdout and len(stdout.strip().splitlines()) == 4

    # Version 1's files: version 2 rewrote the shards holding the document; version 3 replaced the rest.
    code, stdout, stderr = curate(capsys, "verify", out, "--version", "1")
    assert code == 1 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == len(v1["outputs"])
    v2 = json.loads(v2_bytes)
    v2_paths = {o["path"] for o in v2["outputs"]}
    for entry in v1["outputs"]:
        line = next(x for x in lines if f" {entry['path']}: " in x)
        assert ("removed by version 3 (run)" if entry["path"] in v2_paths else "removed by version 2 (erasure)") in line
    assert curate(capsys, "verify", out, "--version", "3")[0] == 0
    code, _, stderr = curate(capsys, "verify", out, "--version", "7")
    assert code == 1 and "no such version" in stderr


def test_tampered_archive_fails_verify(out, capsys):
    doc, _ = grounded_doc(out)
    assert curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")[0] == 0
    archive = out / "versions" / "v000001.json"
    archive.write_bytes(archive.read_bytes().replace(b'"run"', b'"run" '))
    assert any("parent.manifest_sha256" in p for p in verify(str(out)))
    (out / "versions" / "notes.txt").write_text("x")
    assert any("versions/notes.txt" in p for p in verify(str(out)))
    archive.unlink()
    assert any(p.startswith("manifest.json: its parent version 1 is not archived") for p in verify(str(out)))
    code, _, stderr = curate(capsys, "verify", out, "--version", "1")
    assert code == 1 and "versions/v000001.json is missing" in stderr


def test_erasure_is_signed_when_the_key_is_set(out, capsys, monkeypatch):
    from pipeline.io.manifest import encode_manifest

    monkeypatch.setenv("CURATE_MANIFEST_KEY", "test-key")
    # the release as a run with the key set would have written it
    (out / "manifest.json").write_bytes(encode_manifest(json.loads((out / "manifest.json").read_bytes())))
    assert verify(str(out)) == []
    doc, _ = grounded_doc(out)
    assert curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")[0] == 0
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert manifest["signature"]["alg"] == "HMAC-SHA256"
    assert verify(str(out)) == []
    monkeypatch.setenv("CURATE_MANIFEST_KEY", "another-key")
    assert any("signature does not match" in p for p in verify(str(out)))


def test_a_release_written_before_versions_reads_as_version_1(out, capsys):
    legacy = {k: v for k, v in json.loads((out / "manifest.json").read_bytes()).items()
              if k not in ("version", "kind", "parent", "erasures")}
    (out / "manifest.json").write_text(json.dumps(legacy, indent=2), encoding="utf-8")
    legacy_bytes = (out / "manifest.json").read_bytes()
    assert verify(str(out)) == []
    doc, _ = grounded_doc(out)
    assert curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "r")[0] == 0
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert (manifest["version"], manifest["parent"]["version"]) == (2, 1)
    assert manifest["parent"]["manifest_sha256"] == hashlib.sha256(legacy_bytes).hexdigest()
    code, stdout, _ = curate(capsys, "log", out, "--format", "json")
    assert [(e["version"], e["kind"]) for e in json.loads(stdout)] == [(1, "run"), (2, "erasure")]


def test_erasure_takes_the_data_card_of_the_erased_documents_with_it(out, capsys):
    # The card counted the documents being erased; a card left in place would describe them.
    code, _, stderr = curate(capsys, "report", out)
    assert code == 0, stderr
    assert (out / "report.html").exists()
    assert any(o.get("table") == "report" for o in json.loads((out / "manifest.json").read_bytes())["outputs"])
    doc, _ = grounded_doc(out)

    code, _, stderr = curate(capsys, "forget", out, "--doc-id", doc["doc_id"], "--reason", "ticket 9")
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert not (out / "report.html").exists()
    assert all(o.get("table") != "report" for o in manifest["outputs"])
    assert verify(str(out)) == []
    code, _, stderr = curate(capsys, "report", out)  # a new card for the new version
    assert code == 0, stderr
    assert verify(str(out)) == []
