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

_RIVER = ("The river council approved a plan on Tuesday to restore the wetlands near the old mill. "
          "Members said the marsh would hold back spring floods, shelter nesting birds and filter the water "
          "that runs past the school. Work starts in April, when volunteers will clear the drainage ditches, "
          "plant reeds along the banks and build a wooden walkway so that families can visit without "
          "trampling the new growth. The council will report on the results every autumn.")
_BAKERS = ("Bakers in the valley start long before dawn, shaping sourdough loaves that rise slowly in cool "
           "stone cellars. Each family keeps its own starter, and some of them are older than the village "
           "church. By six o'clock the first trays come out of the wood-fired ovens, and the smell of crust "
           "drifts down the main street. Visitors often ask for the recipe, but the bakers only smile and "
           "tell them to come back tomorrow, a little earlier than today.")
DOCS = [
    ("en1", _RIVER),
    ("en2", _BAKERS),
    ("en3", "The spring dinner of the allotment society will be held in the village hall on the first Saturday "
            "of May. Members may bring one guest each, and every table is asked to share a dish made from "
            "something grown on the plots this year. Contact the organiser at jane.doe@example.com or call "
            "+1 415 555 0132 before Friday to reserve a table, and tell her about any allergies so that the "
            "kitchen can plan the menu and the seating in good time."),
    ("en1dup", _RIVER),
    ("en2near", _BAKERS.replace("tomorrow, a little earlier than today.", "tomorrow, a little earlier than today!")),
    ("ko1", "서울시는 올해 여름부터 한강 공원에 새로운 자전거 도로를 개설하고 시민들의 의견을 듣기로 했다고 밝혔다. "
            "시는 이번 사업을 통해 출퇴근 시간의 교통 혼잡을 줄이고 시민들이 더 안전하게 자전거를 탈 수 있도록 "
            "하겠다고 설명했다. 새 도로는 여의도에서 잠실까지 이어지며, 곳곳에 쉼터와 자전거 수리 시설도 설치된다. "
            "시 관계자는 공사 기간 동안 일부 산책로가 통제될 수 있다며 시민들의 양해를 부탁했다."),
    ("ja1", "東京の小さな書店では、毎週土曜日に子ども向けの読み聞かせ会が開かれ、近所の家族でにぎわっている。"
            "店主は十年前にこの会を始め、今では常連の子どもたちが自分で選んだ本を友だちに紹介するようになった。"
            "会の後には絵本の交換会もあり、読み終えた本が次の家庭へと受け継がれていく。"
            "店主は、本を通じて地域の人々がつながる場所であり続けたいと話している。"),
    ("zh1", "这座城市的图书馆延长了开放时间，方便学生在考试期间晚上也能安静地学习和查阅资料。"
            "图书馆负责人表示，新的开放时间将持续到本学期结束，并会根据读者的反馈决定是否长期实行。"
            "馆内还增加了自习座位和电源插座，并在入口处设置了热水供应点。"
            "许多学生认为，这些变化让他们在紧张的复习阶段有了一个舒适而安静的去处。"),
    ("empty", "   "),
    ("short", "Buy now!!!"),
]


def write_corpus(root: Path) -> None:
    root.mkdir(parents=True)
    lines = [json.dumps({"id": i, "text": t, "url": f"https://example.org/{i}"}, ensure_ascii=False) for i, t in DOCS]
    lines.insert(4, "{this is not json")
    (root / "mixed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "note.txt").write_text(
        "Notes from the allotment: the beans came up early this year, and the slugs found them before we did. "
        "We tried copper tape around the beds, then beer traps, and in the end simply went out every evening "
        "with a torch and a bucket. The runner beans recovered by midsummer and climbed to the top of the "
        "canes, and by August there were more than the three of us could eat, so we gave bags of them away.\n",
        encoding="utf-8",
    )


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
    reasons = {r["source_id"]: r["reason"] for r in base_decisions if r["action"] != "keep"}
    assert reasons["empty"] == "empty" and reasons["short"] == "word_count"
    # One of each duplicate pair survives; which one is deterministic, not arrival order.
    assert sorted(reasons.get(i, "") for i in ("en1", "en1dup")) == ["", "exact_duplicate"]
    assert sorted(reasons.get(i, "") for i in ("en2", "en2near")) == ["", "near_duplicate"]
    assert {"ko1", "ja1", "zh1", "en3"} <= {r["source_id"] for r in base_docs}
    scrubbed = next(r["text"] for r in base_docs if r["source_id"] == "en3")
    assert "jane.doe@example.com" not in scrubbed and "<EMAIL_ADDRESS>" in scrubbed
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
