"""The same pipeline on three local runner paths gives the same documents and decisions.

* in-process: the default offline DirectRunner path (FnApiRunner in this process);
* PortableRunner, ``--job_endpoint=embed --environment_type=LOOPBACK``: the portable Job API that
  Spark and Flink job servers speak, with the SDK harness in this process;
* DirectRunner ``multi_processing`` with 2 worker processes: records pickled across processes,
  every DoFn set up in a fresh interpreter (what a remote worker does).

Each run uses the default (embedded) config. Same doc_ids, same kept set, same rows up to order.
Python-level network access is refused while the runs execute (loopback stays open for gRPC), so
a runner that tried to fetch a binary or a container would fail the test instead of hanging.
"""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.io.manifest import verify
from pipeline.run import run

RUNNERS = {
    "in_process": [],
    "portable_loopback": ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
    "multi_processing_2": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}

DOCS = [
    ("en1", "The river council approved a plan to restore the wetlands near the old mill, citing flood protection and birds."),
    ("en2", "Bakers in the valley start before dawn, shaping sourdough loaves that rise slowly in cool stone cellars."),
    ("en3", "Contact the organiser at jane.doe@example.com or call +1 415 555 0132 before Friday to reserve a table."),
    ("en1dup", "The river council approved a plan to restore the wetlands near the old mill, citing flood protection and birds."),
    ("en2near", "Bakers in the valley start before dawn, shaping sourdough loaves that rise slowly in cool stone cellars!"),
    ("ko1", "서울시는 올해 여름부터 한강 공원에 새로운 자전거 도로를 개설하고 시민들의 의견을 듣기로 했다고 밝혔다."),
    ("ja1", "東京の小さな書店では、毎週土曜日に子ども向けの読み聞かせ会が開かれ、近所の家族でにぎわっている。"),
    ("zh1", "这座城市的图书馆延长了开放时间，方便学生在考试期间晚上也能安静地学习和查阅资料。"),
    ("empty", "   "),
    ("en4", "A short guide to pruning fruit trees: cut in late winter, remove crossing branches, and keep the centre open."),
]


def write_corpus(root: Path) -> None:
    root.mkdir(parents=True)
    lines = [json.dumps({"id": i, "text": t, "url": f"https://example.org/{i}"}, ensure_ascii=False) for i, t in DOCS]
    lines.insert(4, "{this is not json")
    (root / "mixed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "note.txt").write_text("Notes from the allotment: the beans came up early this year, and the slugs found them.\n", encoding="utf-8")


@pytest.fixture
def offline(monkeypatch):
    """Refuse every non-loopback connection made from Python (downloads, metadata servers, hubs)."""
    real_connect = socket.socket.connect
    attempts: list = []

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)
        attempts.append(address)
        raise OSError(f"test is offline: refused connection to {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


def _rows(out: Path, table: str) -> list[dict]:
    files = sorted((out / table).glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    for r in rows:
        r.pop("run_id", None)
    return rows


def _canon(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in rows)


def test_portable_and_multiprocessing_runs_equal_in_process_run(tmp_path, offline):
    write_corpus(tmp_path / "in")
    cfg = load_config()
    results, seconds = {}, {}
    for name, args in RUNNERS.items():
        started = time.monotonic()
        results[name] = run(cfg, [str(tmp_path / "in")], str(tmp_path / name), list(args))
        seconds[name] = round(time.monotonic() - started, 1)
        assert verify(results[name].out) == [], name
    print("runner wall seconds:", seconds)
    assert offline == [], f"a runner tried the network: {offline}"

    base = Path(results["in_process"].out)
    base_docs, base_decisions = _rows(base, "documents"), _rows(base, "decisions")
    kept = {r["doc_id"] for r in base_decisions if r["action"] == "keep"}
    # The corpus exercises the stages: something is kept, something dropped, one line quarantined.
    assert kept and {r["doc_id"] for r in base_docs} == kept
    assert {r["action"] for r in base_decisions} == {"keep", "drop", "quarantine"}
    assert len({r["doc_id"] for r in base_decisions}) == len(base_decisions) == len(DOCS) + 2
    assert results["in_process"].manifest["runner"] == "DirectRunner"
    assert results["portable_loopback"].manifest["runner"] == "PortableRunner"

    for name in ("portable_loopback", "multi_processing_2"):
        out = Path(results[name].out)
        docs, decisions = _rows(out, "documents"), _rows(out, "decisions")
        assert sorted(r["doc_id"] for r in docs) == sorted(r["doc_id"] for r in base_docs), name
        assert {r["doc_id"] for r in decisions if r["action"] == "keep"} == kept, name
        assert _canon(docs) == _canon(base_docs), name
        assert _canon(decisions) == _canon(base_decisions), name
        assert _canon(_rows(out, "quarantine")) == _canon(_rows(base, "quarantine")), name
        assert results[name].manifest["stage_counts"] == results["in_process"].manifest["stage_counts"], name
