"""Two local worker processes reading ONE file each of plain JSONL, .jsonl.gz and .jsonl.zst, cut
into many splits and stride items, write the same documents, decisions and quarantine rows as the
in-process single-worker run, with the same per-file input stats and stage counts."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import zstandard

from pipeline.config import load_config
from pipeline.io.manifest import verify
from pipeline.run import run

from tests.e2e.test_runners import DOCS, _canon, _rows, offline  # noqa: F401 - offline is a fixture

TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def lines(tag: str, n: int) -> bytes:
    out = []
    for i in range(n):
        source_id, text = DOCS[i % len(DOCS)]
        # every copy differs by its own sentence: the dedup stage still sees its planted pairs
        out.append(json.dumps({"id": f"{tag}{i}-{source_id}", "text": f"{text} Entry {tag}{i} of the register."},
                              ensure_ascii=i % 2 == 0))
    out.insert(7, "{broken json line")
    return ("\n".join(out) + "\n").encode("utf-8")


def test_two_workers_on_single_files_equal_one_worker(tmp_path, offline):  # noqa: F811
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines("a", 60))
    (src / "b.jsonl.gz").write_bytes(gzip.compress(lines("b", 60)))
    (src / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines("c", 40)))
    # small splits and stride blocks: every file becomes many work items for the two workers
    cfg = load_config(overrides={"run": {"split_bytes": 3000}})
    one = run(cfg, [str(src)], str(tmp_path / "one"), [])
    two = run(cfg, [str(src)], str(tmp_path / "two"), list(TWO_WORKERS))
    assert offline == []
    for res in (one, two):
        assert verify(res.out) == []
    a, b = Path(one.out), Path(two.out)
    decisions = _rows(a, "decisions")
    assert len(decisions) == 60 + 60 + 40 + 3  # one row per input line, the broken ones included
    assert {r["action"] for r in decisions} == {"keep", "drop", "quarantine"}
    for table in ("documents", "decisions", "quarantine"):
        assert _canon(_rows(b, table)) == _canon(_rows(a, table)), table
    assert two.manifest["stage_counts"] == one.manifest["stage_counts"]
    assert two.manifest["inputs"] == one.manifest["inputs"]
    assert sorted(i["records"] for i in one.manifest["inputs"]) == [41, 61, 61]
