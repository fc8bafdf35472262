"""`curate verify` trusts nothing: every way of editing a release (files, manifest, both together)
fails with exit 1 and one line per problem, never a traceback."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import run_cli

CONFIG = (
    "run: {shard_max_rows: 3}\n"
    "license: {enabled: false}\nlangid: {enabled: false}\nquality: {enabled: false}\n"
    "pii: {enabled: false}\ndedup: {enabled: true, near: false}\n"
)
KEY = "a signing key only this test knows"


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    lines = [json.dumps({"id": f"s{i}", "text": f"Harbour log {i}: the ferry left at dawn with {i} crates of pears."}) for i in range(8)]
    lines += [lines[0].replace('"s0"', '"copy"'), "{broken json", json.dumps({"id": "blank", "text": "  "})]
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """One release unsigned and one signed with KEY: 11 records, 8 kept, 1 duplicate, 2 ingest rejects."""
    root = tmp_path_factory.mktemp("verify")
    inp = _corpus(root / "in")
    (root / "c.yaml").write_text(CONFIG, encoding="utf-8")
    made = {}
    for name, env in (("plain", {"CURATE_MANIFEST_KEY": ""}), ("signed", {"CURATE_MANIFEST_KEY": KEY})):
        res = run_cli("run", "--input", inp, "--output", root / name, "--config", root / "c.yaml", "--quiet", env=env)
        assert res.code == 0, res.stderr
        made[name] = root / name
    return made


@pytest.fixture
def out(releases, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(releases["plain"], copy)
    return copy


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def save(out: Path, manifest) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def verify(out: Path, key: str = "") -> tuple[int, list[str]]:
    res = run_cli("verify", out, env={"CURATE_MANIFEST_KEY": key})
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert all(line.startswith("curate verify: ") for line in lines), res.stderr
    return res.code, lines


def assert_fails(out: Path, *words, key: str = "") -> list[str]:
    code, lines = verify(out, key)
    assert code == 1, lines
    assert lines
    text = "\n".join(lines)
    for word in words:
        assert word in text, text
    return lines


def test_untouched_release_verifies(out):
    manifest = manifest_of(out)
    assert manifest["summary"]["records_in"] == 11 and manifest["summary"]["kept"] == 8
    assert sum(1 for o in manifest["outputs"] if o["path"].startswith("documents/")) >= 3
    code, lines = verify(out)
    assert code == 0, lines


def _drop_entry(out: Path, table: str, index: int = 1) -> None:
    manifest = manifest_of(out)
    entry = [o for o in manifest["outputs"] if o["path"].startswith(f"{table}/")][index]
    (out / entry["path"]).unlink()
    manifest["outputs"].remove(entry)
    save(out, manifest)


def test_documents_shard_deleted_with_its_manifest_entry(out):
    _drop_entry(out, "documents")
    assert_fails(out, "summary.kept is 8 but the documents shards hold")


def test_decisions_shard_deleted_with_its_manifest_entry(out):
    _drop_entry(out, "decisions")
    assert_fails(out, "decisions:", "the inputs hold 11 records")


def test_shard_deleted_with_entry_and_counts_edited_to_match(out):
    """The summary and stage_counts are edited to the documents left: the decisions rows still say 8."""
    manifest = manifest_of(out)
    entry = [o for o in manifest["outputs"] if o["path"].startswith("documents/")][0]
    (out / entry["path"]).unlink()
    manifest["outputs"].remove(entry)
    left = 8 - entry["rows"]
    manifest["summary"]["kept"] = left
    manifest["stage_counts"]["output"]["out"] = left
    save(out, manifest)
    assert_fails(out, "stage_counts do not match the decisions rows")


def test_every_table_needs_a_shard(out):
    manifest = manifest_of(out)
    entry = next(o for o in manifest["outputs"] if o["path"].startswith("trajectories/"))
    (out / entry["path"]).unlink()
    manifest["outputs"].remove(entry)
    save(out, manifest)
    assert_fails(out, "no trajectories shard listed")


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m.pop("outputs"), ["key 'outputs' is missing"]),
        (lambda m: m.__setitem__("outputs", {"documents/part-00000.parquet": {}}), ["key 'outputs' is an object, expected an array"]),
        (lambda m: m.__setitem__("outputs", "documents/part-00000.parquet"), ["key 'outputs' is a string"]),
        (lambda m: m["outputs"][0].pop("sha256"), ["outputs[0].sha256 is missing"]),
        (lambda m: m["outputs"][0].__setitem__("rows", "3"), ["outputs[0].rows must be a non-negative integer"]),
        (lambda m: m["outputs"][0].__setitem__("bytes", None), ["outputs[0].bytes must be a non-negative integer"]),
        (lambda m: m["outputs"][0].__setitem__("path", "../../../../etc/passwd"), ["outputs[0].path is not a shard path"]),
        (lambda m: m.__setitem__("stage_counts", []), ["key 'stage_counts' is an array"]),
        (lambda m: m.pop("summary"), ["key 'summary' is missing"]),
        (lambda m: m["summary"].__setitem__("kept", 9), ["summary.kept is 9"]),
        (lambda m: m["summary"].__setitem__("dropped", 0), ["summary.dropped does not match the decisions rows"]),
        (lambda m: m["summary"]["dropped_by_reason"].clear(), ["summary.dropped_by_reason does not match"]),
        (lambda m: m["stage_counts"]["dedup"]["dropped"].__setitem__("exact_duplicate", 2), ["stage_counts do not match the decisions rows (stages dedup)"]),
        (lambda m: m["inputs"][0].__setitem__("records", 10), ["summary.records_in is 11 but the inputs hold 10 records"]),
        (lambda m: m["inputs"][0].__setitem__("records", -1), ["inputs[0].records must be a non-negative integer"]),
        (lambda m: m["outputs"].append(dict(m["outputs"][0])), ["is listed twice"]),
    ],
    ids=["outputs-removed", "outputs-object", "outputs-string", "entry-sha256-removed", "rows-string",
         "bytes-null", "path-traversal", "stage-counts-array", "summary-removed", "kept-edited",
         "dropped-edited", "reasons-cleared", "stage-count-edited", "input-records-edited",
         "input-records-negative", "entry-duplicated"],
)
def test_manifest_edits_are_caught(out, edit, words):
    manifest = manifest_of(out)
    edit(manifest)
    save(out, manifest)
    assert_fails(out, *words)


@pytest.mark.parametrize(
    "content, words",
    [
        ("[]", ["top level is an array, not an object"]),
        ("null", ["top level is null, not an object"]),
        ('"manifest"', ["top level is a string"]),
        ("17", ["top level is a number"]),
        ("{", ["not valid JSON"]),
        ("[" * 100000 + "]" * 100000, ["not valid JSON"]),
        ("{}", ["key 'run_id' is missing", "key 'outputs' is missing"]),
    ],
    ids=["array", "null", "string", "number", "truncated", "deeply-nested", "empty-object"],
)
def test_non_object_or_broken_manifests_fail_in_one_line_each(out, content, words):
    (out / "manifest.json").write_text(content, encoding="utf-8")
    assert_fails(out, *words)


def test_non_utf8_manifest(out):
    (out / "manifest.json").write_bytes(b"\xff\xfe{\x00}")
    assert_fails(out, "not UTF-8")


def test_missing_folder_and_missing_manifest(out, tmp_path):
    assert_fails(tmp_path / "never-written", "missing")
    (out / "manifest.json").unlink()
    assert_fails(out, "manifest.json: missing")


def test_machinery_of_a_run_in_progress_is_not_part_of_the_release(out):
    """A killed run's staging and lock are not release files; anything else unlisted is."""
    (out / "_staging" / "20260101T000000Z-0badc0de" / "documents").mkdir(parents=True)
    (out / "_staging" / "20260101T000000Z-0badc0de" / "documents" / "x.parquet").write_bytes(b"partial")
    (out / "_curate.lock").write_text('{"pid": 1, "host": "h"}', encoding="utf-8")
    code, lines = verify(out)
    assert code == 0, lines
    (out / "documents" / "part-00009.parquet").write_bytes(b"planted")
    assert_fails(out, "documents/part-00009.parquet: not listed in the manifest")


# --- the optional signature -------------------------------------------------------------------
@pytest.fixture
def signed(releases, tmp_path):
    copy = tmp_path / "signed"
    shutil.copytree(releases["signed"], copy)
    return copy


def test_signed_manifest_verifies_with_its_key(signed):
    sig = manifest_of(signed)["signature"]
    assert sig["alg"] == "HMAC-SHA256" and len(sig["value"]) == 64 and KEY not in json.dumps(manifest_of(signed))
    code, _ = verify(signed, key=KEY)
    assert code == 0
    res = run_cli("verify", signed, env={"CURATE_MANIFEST_KEY": KEY})
    assert "signature OK" in res.stdout


def test_signature_without_the_key_is_reported_unchecked(signed):
    res = run_cli("verify", signed, env={"CURATE_MANIFEST_KEY": ""})
    assert res.code == 0 and "signature not checked" in res.stdout


def test_wrong_key_fails(signed):
    assert_fails(signed, "signature does not match", key="some other key")


def test_consistent_edit_is_caught_only_by_the_signature(signed):
    """Changing a field verify cannot recompute (the recorded config) passes every count check."""
    manifest = manifest_of(signed)
    manifest["config"]["dedup"]["threshold"] = 0.5
    save(signed, manifest)
    code, lines = verify(signed)
    assert code == 0, lines
    assert_fails(signed, "signature does not match", key=KEY)


def test_removed_or_malformed_signature_fails_when_the_key_is_set(signed):
    manifest = manifest_of(signed)
    value = manifest.pop("signature")
    save(signed, manifest)
    assert_fails(signed, "not signed", key=KEY)
    manifest["signature"] = value["value"]
    save(signed, manifest)
    assert_fails(signed, "signature is malformed", key=KEY)


def test_unsigned_release_fails_when_the_key_is_set(out):
    assert_fails(out, "not signed", key=KEY)
