"""Incremental releases on real runs (issue 16): `curate run --dedup-against OUT_OLD` drops what an
earlier release already holds and its manifest names that release (run id, manifest sha256); the
summary's per-language totals match the documents rows, checked with DuckDB."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.io.manifest import verify

# Own sentences, shorter than the default quality rules want (50 words): the runs switch quality off,
# it is not what these tests are about.
QUALITY_OFF = ("--set", "quality.enabled=false")
EN = [
    "The harbour authority repainted every buoy along the northern channel this spring, and the pilots say "
    "the new reflective bands make night approaches far easier than the faded markers they replaced last year.",
    "Our allotment society swapped seeds in the church hall on Saturday; the most requested packets were a "
    "stubby orange carrot, a climbing bean from the valley farms and a pale lettuce that copes well with frost.",
    "A retired engineer restored the village clock by hand, cutting two replacement gears from brass stock "
    "and adjusting the pendulum for weeks until the chimes finally matched the radio time signal each noon.",
    "The regional library now lends telescopes as well as books, and the waiting list grew so long that "
    "volunteers built six more from donated parts and wrote a short guide to the constellations for each.",
]
KO = [
    "지난 주말 우리 동네 도서관에서는 어린이들을 위한 과학 체험 행사가 열렸다. 아이들은 직접 작은 로봇을 조립하고 "
    "간단한 명령어로 움직이게 하면서 무척 즐거워했고, 부모들도 함께 참여해 분위기가 아주 따뜻했다.",
    "올해 가을에는 강변 공원에 새로운 자전거 도로가 완공될 예정이다. 시청은 주민 의견을 모아 가로등과 쉼터를 "
    "더 설치하기로 했으며, 공사 기간 동안에는 임시 우회로를 안내하는 표지판을 곳곳에 세울 계획이라고 밝혔다.",
]
JA = [
    "駅前の小さなパン屋は毎朝六時に店を開ける。焼きたてのクロワッサンを目当てに通勤客が列を作り、店主は常連の好みを"
    "覚えていて、雨の日には傘を貸してくれることもある。町の人々にとって欠かせない場所になっている。",
]
NEW = [
    "Volunteers counted migrating cranes from the old dyke at dawn and logged more birds than in any autumn "
    "since the survey began, which the county ecologist credits to the wet meadows restored three years ago.",
    "새로 문을 연 시장 안의 작은 식당은 할머니의 조리법으로 만든 국수를 판다. 점심시간이면 근처 회사원들이 줄을 서고, "
    "주인은 남은 반찬을 인근 복지관에 나눠 주며 이웃과 정을 나누고 있다고 말했다.",
]


def _write(path: Path, prefix: str, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    return path


def _curate(*args) -> subprocess.CompletedProcess:
    args = (*args, *QUALITY_OFF) if args[0] == "run" else args
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], capture_output=True, text=True, timeout=300)


def _query(out: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    for table in ("documents", "decisions"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{out}/{table}/*.parquet')")
    return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def release_a(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("incremental")
    out = root / "a"
    proc = _curate("run", "--input", _write(root / "in_a" / "a.jsonl", "a", EN + KO + JA), "--output", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out


def test_summary_languages_match_the_documents_rows(release_a):
    languages = json.loads((release_a / "manifest.json").read_text(encoding="utf-8"))["summary"]["languages"]
    rows = _query(release_a, "SELECT lang, count(*), sum(strlen(text)) FROM documents GROUP BY lang")  # strlen: bytes
    assert {lang: (v["docs"], v["bytes"]) for lang, v in languages.items()} == {lang: (n, b) for lang, n, b in rows}
    assert set(languages) == {"en", "ko", "ja"}
    # Hangul and Japanese text: about one token per character, far more than bytes / 4 would say
    assert languages["ko"]["est_tokens"] > languages["ko"]["bytes"] // 4


def test_verify_catches_summary_languages_that_do_not_match_the_rows(release_a, tmp_path):
    copy = tmp_path / "a"
    shutil.copytree(release_a, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["summary"]["languages"]["en"]["bytes"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert any("summary.languages['en']" in p for p in verify(str(copy)))


def test_dedup_against_drops_the_earlier_release_and_names_it(release_a, tmp_path):
    near = EN[0].replace("last year", "last winter")  # one word changed in a long document
    inp = _write(tmp_path / "in_b" / "b.jsonl", "b", [EN[1], KO[0], near, *NEW])
    out = tmp_path / "b"
    proc = _curate("run", "--input", inp, "--output", out, "--dedup-against", release_a, "--quiet")
    assert proc.returncode == 0, proc.stderr

    a_ids = {r[0] for r in _query(release_a, "SELECT doc_id FROM documents")}
    dropped = _query(out, "SELECT reason, dup_of FROM decisions WHERE stage = 'dedup' ORDER BY reason")
    assert sorted(r for r, _ in dropped) == ["exact_duplicate", "exact_duplicate", "near_duplicate"]
    assert all(dup_of in a_ids for _, dup_of in dropped)
    kept = _query(out, "SELECT text FROM documents")
    assert sorted(t for (t,) in kept) == sorted(NEW)

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    a_manifest = (release_a / "manifest.json").read_bytes()
    assert manifest["dedup_against"] == [{
        "path": str(release_a),
        "run_id": json.loads(a_manifest)["run_id"],
        "manifest_sha256": hashlib.sha256(a_manifest).hexdigest(),
    }]
    assert verify(str(out)) == []


def test_dedup_against_refuses_an_out_without_manifest_or_failing_verify(release_a, tmp_path):
    inp = _write(tmp_path / "in" / "c.jsonl", "c", NEW)
    empty = tmp_path / "not_a_release"
    empty.mkdir()
    proc = _curate("run", "--input", inp, "--output", tmp_path / "c", "--dedup-against", empty)
    assert proc.returncode == 2
    assert f"--dedup-against {empty}: no manifest.json" in proc.stderr

    tampered = tmp_path / "tampered"
    shutil.copytree(release_a, tampered)
    (tampered / "documents" / "extra.parquet").write_bytes(b"not a shard")
    proc = _curate("run", "--input", inp, "--output", tmp_path / "c", "--dedup-against", tampered)
    assert proc.returncode == 2
    assert f"--dedup-against {tampered}: fails curate verify" in proc.stderr
    assert not (tmp_path / "c").exists()  # refused before OUT was touched


def test_dedup_release_of_config_entries_folder_glob_and_bare_signatures(release_a, tmp_path):
    from pipeline.io.manifest import dedup_release

    run_id = json.loads((release_a / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    for entry in (f"{release_a}/signatures", f"{release_a}/signatures/", f"{release_a}/signatures/*.parquet"):
        assert dedup_release(entry)["run_id"] == run_id, entry
    bare = tmp_path / "copied" / "signatures"
    shutil.copytree(release_a / "signatures", bare)  # signatures without their release's manifest
    assert dedup_release(str(bare)) == {"path": str(bare.parent), "run_id": None, "manifest_sha256": None}
