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
