from pipeline.io.manifest import merge_input_stats, sanitize_options, stage_counts


def test_stage_counts_chain_in_and_out_through_the_stages():
    counts = stage_counts(
        [
            ("ingest", "quarantine", "parse_error", 2),
            ("ingest", "drop", "empty", 1),
            ("license", "drop", "copyright_notice", 3),
            ("dedup", "drop", "exact_duplicate", 4),
            ("dedup", "drop", "near_duplicate", 1),
            ("output", "keep", "kept", 88),
            ("output", "keep", "license_review", 1),
            ("trajectory", "keep", "kept", 5),
            ("trajectory", "drop", "answer", 2),
        ],
        records_in=100,
    )
    assert counts["ingest"] == {"in": 100, "out": 97, "dropped": {"empty": 1}, "quarantined": {"parse_error": 2}}
    assert counts["license"]["in"] == 97 and counts["license"]["out"] == 94
    assert counts["dedup"] == {"in": 94, "out": 89, "dropped": {"exact_duplicate": 4, "near_duplicate": 1}, "quarantined": {}}
    # what flows out of the last stage is exactly what the output kept
    assert counts["output"] == {"in": 89, "out": 89, "kept_by_reason": {"kept": 88, "license_review": 1}}
    assert counts["trajectory"]["in"] == 7 and counts["trajectory"]["out"] == 5
    assert "langid" not in counts  # a stage with no decisions rows is not invented


def test_merge_input_stats_sums_splits_and_takes_the_one_hash():
    files = [{"uri": "/a.jsonl", "size": 10}, {"uri": "/b.jsonl", "size": 5}]
    stats = [
        {"uri": "/a.jsonl", "records": 3, "bytes": None, "sha256": None},
        {"uri": "/a.jsonl", "records": 4, "bytes": 10, "sha256": "ab" * 32},
        {"uri": "/b.jsonl", "records": 0, "bytes": 5, "sha256": "cd" * 32},
    ]
    merged = merge_input_stats(files, stats)
    assert merged == [
        {"uri": "/a.jsonl", "bytes": 10, "sha256": "ab" * 32, "records": 7},
        {"uri": "/b.jsonl", "bytes": 5, "sha256": "cd" * 32, "records": 0},
    ]


def test_sanitize_options_redacts_credentials():
    clean = sanitize_options({"project": "p", "api_key": "s3cr3t", "service_account_token": "t", "region": None})
    assert clean == {"project": "p", "api_key": "<redacted>", "service_account_token": "<redacted>"}


# --- release layout, summary and signature ----------------------------------------------------
import json  # noqa: E402

import jsonschema  # noqa: E402
import pytest  # noqa: E402

from pipeline.io.manifest import SHARD_PATH, canonical_json, sign, summary_counts  # noqa: E402


def test_summary_counts_add_up_per_reason():
    counts = {
        "ingest": {"in": 10, "out": 8, "dropped": {"empty": 1}, "quarantined": {"parse_error": 1}},
        "dedup": {"in": 8, "out": 6, "dropped": {"exact_duplicate": 2}, "quarantined": {}},
        "output": {"in": 6, "out": 6, "kept_by_reason": {"kept": 6}},
    }
    s = summary_counts(counts, 10)
    assert (s["records_in"], s["kept"], s["dropped"], s["quarantined"]) == (10, 6, 3, 1)
    assert s["dropped_by_reason"] == {"dedup/exact_duplicate": 2, "ingest/empty": 1}
    assert "trajectories" not in s


@pytest.mark.parametrize(
    "path, ok",
    [
        ("documents/part-00000.parquet", True),
        ("signatures/part-00012-20261205T101500Z-0a1b2c3d.parquet", True),
        ("documents/extra.parquet", False),
        ("../documents/part-00000.parquet", False),
        ("/etc/documents/part-00000.parquet", False),
        ("documents/part-00000.parquet/../../x", False),
        ("secrets/part-00000.parquet", False),
    ],
)
def test_shard_paths_are_only_the_ones_curate_writes(path, ok):
    assert bool(SHARD_PATH.match(path)) is ok


def test_signature_covers_every_field_but_not_key_order():
    manifest = {"run_id": "r", "outputs": [{"path": "documents/part-00000.parquet", "rows": 1}], "summary": {"kept": 1, "records_in": 1}}
    reordered = json.loads(json.dumps({"summary": manifest["summary"], "outputs": manifest["outputs"], "run_id": "r"}))
    assert canonical_json(manifest) == canonical_json(reordered)
    signed = sign(manifest, b"k1")
    assert signed["signature"]["value"] == sign(reordered, b"k1")["signature"]["value"]
    assert canonical_json(signed) == canonical_json(manifest)  # the signature does not sign itself
    assert sign(manifest, b"k2")["signature"]["value"] != signed["signature"]["value"]
    edited = json.loads(json.dumps(manifest))
    edited["outputs"][0]["rows"] = 2
    assert sign(edited, b"k1")["signature"]["value"] != signed["signature"]["value"]


def test_signature_matches_the_manifest_schema():
    from pipeline.resources import manifests_dir

    schema = json.loads((manifests_dir() / "manifest.schema.json").read_text())
    jsonschema.validate(sign({"run_id": "r"}, b"k")["signature"], schema["properties"]["signature"])


def test_commit_names_avoid_the_release_being_replaced(tmp_path):
    from pipeline.io.shards import commit_shards

    out = tmp_path / "out"
    staged = tmp_path / "staged"
    staged.mkdir()
    infos = []
    for i in range(2):
        path = staged / f"{i}.parquet"
        path.write_bytes(b"x")
        infos.append({"table": "documents", "path": str(path), "rows": 1, "bytes": 1, "sha256": f"{i}" * 64, "first_key": str(i)})
    taken = frozenset({"documents/part-00000.parquet"})
    outputs = commit_shards(str(out), infos, "20261205T101500Z-0a1b2c3d", ["documents", "decisions"], taken=taken)
    paths = [o["path"] for o in outputs]
    assert paths == [
        "documents/part-00000-20261205T101500Z-0a1b2c3d.parquet",
        "documents/part-00001-20261205T101500Z-0a1b2c3d.parquet",
        "decisions/part-00000.parquet",  # nothing of decisions is taken: the plain name
    ]
    assert all(SHARD_PATH.match(p) and (out / p).is_file() for p in paths)
