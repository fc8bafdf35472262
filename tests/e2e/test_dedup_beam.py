"""The dedup stage on Beam: exact and near duplicates, determinism across runners, quality bar."""
from __future__ import annotations

import glob
import json
import random
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.records import SIGNATURES_SCHEMA, new_record
from pipeline.runners import local_pipeline
from pipeline.stages.dedup import DedupStage

sys.path.insert(0, str(Path(__file__).parent))
from dedup_corpus import labelled_set, true_pairs  # noqa: E402

ROUNDS = 14  # enough for these graphs (chains up to ~10k nodes); keeps the unrolled graph small


def _cfg(**dedup):
    return load_config(overrides={"dedup": {"max_iterations": ROUNDS, **dedup}, "run": {"batch_size": 16}})


def _records(items):
    """items: (text, lang) → records with stable doc_ids (source 'corpus.jsonl', index i)."""
    out = []
    for i, (text, lang) in enumerate(items):
        rec = new_record(source_uri="corpus.jsonl", record_index=i, text=text)
        rec["lang"] = lang
        out.append(rec)
    return out


def _batches(records, size=16, seed=None):
    records = list(records)
    if seed is not None:
        random.Random(seed).shuffle(records)
    return [records[i : i + size] for i in range(0, len(records), size)]


def run_dedup(tmp: Path, records, cfg, *beam_args, seed=None, staging=None):
    """Run DedupStage; → (kept [(doc_id, dup_cluster, n_internal_keys)], decisions, signatures)."""
    tmp.mkdir(parents=True, exist_ok=True)
    with local_pipeline(*beam_args) as p:
        out = p | beam.Create(_batches(records, seed=seed)) | DedupStage(cfg, "run-test", staging=staging)
        (
            out.kept
            | "kept:flat" >> beam.FlatMap(lambda b: [json.dumps([r["doc_id"], r["dup_cluster"], sorted(k for k in r if k.startswith("_dedup"))]) for r in b])
            | "kept:write" >> beam.io.WriteToText(str(tmp / "kept"))
        )
        out.decisions | "dec:json" >> beam.Map(json.dumps, sort_keys=True) | "dec:write" >> beam.io.WriteToText(str(tmp / "decisions"))
        out.signatures | "sig:rows" >> beam.FlatMap(lambda rb: rb.to_pylist()) | "sig:json" >> beam.Map(json.dumps, sort_keys=True) | "sig:write" >> beam.io.WriteToText(str(tmp / "signatures"))

    def read(name):
        rows = []
        for path in sorted(glob.glob(str(tmp / f"{name}-*"))):
            rows += [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        return rows

    kept = sorted(tuple(r[:2]) + (len(r[2]),) for r in read("kept"))
    decisions = sorted(read("decisions"), key=lambda d: d["doc_id"])
    signatures = sorted(read("signatures"), key=lambda s: s["doc_id"])
    return kept, decisions, signatures


BASE_EN = (
    "Beam pipelines read data from sources, transform it with parallel steps and write results to sinks. "
    "Each step runs on many workers at once, and the runner decides how to split the work between them, "
    "how to move data between steps, and how to recover when a worker fails in the middle of a bundle. "
    "A pipeline written once can run on a laptop for testing and on a large cluster for production, "
    "because the model separates what the computation is from where and how it is executed, and the "
    "same code describes both bounded batch inputs and unbounded streams of events arriving over time."
)
BASE_KO = (
    "데이터 파이프라인은 원천에서 데이터를 읽고 여러 단계를 거쳐 변환한 뒤 결과를 저장소에 기록합니다. "
    "각 단계는 여러 작업자에서 동시에 실행되며 실행기는 작업을 나누는 방법과 단계 사이에서 데이터를 옮기는 "
    "방법을 결정합니다."
)


def test_records_wait_in_held_files_named_by_their_doc_ids(tmp_path):
    from pipeline.stages.dedup import HOLD_DIR, hold_name, read_held

    items = [(BASE_EN, "en"), (BASE_EN.upper(), "en"), (BASE_KO, "ko")] * 12
    records = _records(items)
    staging = tmp_path / "staging"
    kept, decisions, _ = run_dedup(tmp_path / "a", records, _cfg(), staging=str(staging))
    batches = _batches(records)
    held = sorted(Path(p).name for p in glob.glob(str(staging / HOLD_DIR / "*")))
    assert held == sorted(hold_name(b) for b in batches)  # one file per batch, named by content
    for batch in batches:
        back = read_held(str(staging / HOLD_DIR / hold_name(batch)))
        assert [r["doc_id"] for r in back] == [r["doc_id"] for r in batch]
        assert [r["text"] for r in back] == [r["text"] for r in batch]
    assert len(kept) + len(decisions) == len(records)
    # the same verdicts with the local temporary folder
    assert (kept, decisions) == run_dedup(tmp_path / "b", records, _cfg())[:2]


def test_exact_and_near_decisions(tmp_path):
    items = [
        (BASE_EN, "en"),  # 0
        ("  " + BASE_EN.upper().replace(" ", "\n", 5) + " ", "en"),  # 1 exact duplicate of 0 (case/space)
        (BASE_EN.replace("fails", "crashes"), "en"),  # 2 near duplicate of 0
        (BASE_EN + " It also retries failed bundles.", "en"),  # 3 near duplicate of 0
        (BASE_KO, "ko"),  # 4
        (BASE_KO.replace(" ", ""), "ko"),  # 5 Korean without spaces: near duplicate (not exact)
        ("A completely unrelated note about gardening, soil, and the tomatoes that grew this summer.", "en"),  # 6
        ("", "en"),  # 7 no shingles: never a near duplicate
        ("!!!", None),  # 8 no shingles either
    ]
    records = _records(items)
    ids = [r["doc_id"] for r in records]
    kept, decisions, signatures = run_dedup(tmp_path / "a", records, _cfg())

    by_doc = {d["doc_id"]: d for d in decisions}
    en_family = sorted(ids[i] for i in (0, 1, 2, 3))
    exact_survivor = min(ids[0], ids[1])
    rep_en = min(exact_survivor, ids[2], ids[3])
    rep_ko = min(ids[4], ids[5])
    loser = max(ids[0], ids[1])
    assert by_doc[loser]["reason"] == "exact_duplicate" and by_doc[loser]["dup_of"] == exact_survivor
    assert by_doc[loser]["stage"] == "dedup" and by_doc[loser]["action"] == "drop"
    for doc in en_family:
        if doc not in (loser, rep_en):
            assert by_doc[doc]["reason"] == "near_duplicate" and by_doc[doc]["dup_of"] == rep_en
            assert json.loads(by_doc[doc]["detail"]) == {"threshold": 0.8}
    ko_loser = max(ids[4], ids[5])
    assert by_doc[ko_loser]["reason"] == "near_duplicate" and by_doc[ko_loser]["dup_of"] == rep_ko
    assert len(decisions) == 4

    kept_map = {k[0]: k[1] for k in kept}
    assert kept_map == {rep_en: rep_en, rep_ko: rep_ko, ids[6]: None, ids[7]: None, ids[8]: None}
    assert all(k[2] == 0 for k in kept)  # internal dedup keys removed
    # signatures of kept documents, valid against the OUT schema
    assert [s["doc_id"] for s in signatures] == sorted(kept_map)
    table = pa.Table.from_pylist(signatures, schema=SIGNATURES_SCHEMA)
    assert table.num_rows == 5 and all(len(s["minhash"]) == 128 for s in signatures)


def test_survivors_do_not_depend_on_arrival_order(tmp_path):
    items = [(BASE_EN, "en"), (BASE_EN.lower(), "en"), (BASE_EN + " More.", "en"), (BASE_KO, "ko"), (BASE_KO, "ko")]
    records = _records(items)
    runs = [run_dedup(tmp_path / f"r{seed}", [dict(r) for r in records], _cfg(), seed=seed) for seed in (1, 2, 3)]
    assert runs[0] == runs[1] == runs[2]


def test_exact_only_and_near_only(tmp_path):
    items = [(BASE_EN, "en"), (BASE_EN.upper(), "en"), (BASE_EN + " More words here.", "en")]
    records = _records(items)
    ids = [r["doc_id"] for r in records]
    _, dec_exact, sig_exact = run_dedup(tmp_path / "x", [dict(r) for r in records], _cfg(near=False))
    assert [(d["doc_id"], d["reason"]) for d in dec_exact] == [(max(ids[:2]), "exact_duplicate")]
    assert all(s["minhash"] is None for s in sig_exact)
    _, dec_near, _ = run_dedup(tmp_path / "n", [dict(r) for r in records], _cfg(exact=False))
    assert sorted(d["reason"] for d in dec_near) == ["near_duplicate", "near_duplicate"]
    assert {d["dup_of"] for d in dec_near} == {min(ids)}


def test_dedup_against_previous_release(tmp_path):
    first = _records([(BASE_EN, "en"), (BASE_KO, "ko")])
    _, _, sigs = run_dedup(tmp_path / "first", first, _cfg())
    release = tmp_path / "release" / "signatures"
    release.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(sigs, schema=SIGNATURES_SCHEMA), release / "part-00000.parquet")

    new = [
        new_record(source_uri="new.jsonl", record_index=i, text=t)
        for i, t in enumerate([BASE_EN + " One more sentence.", BASE_KO.upper(), "Fresh text about a new topic entirely, nothing like before."])
    ]
    for r, lang in zip(new, ["en", "ko", "en"]):
        r["lang"] = lang
    kept, decisions, _ = run_dedup(tmp_path / "second", new, _cfg(against=[str(release)]))
    by_doc = {d["doc_id"]: d for d in decisions}
    assert by_doc[new[0]["doc_id"]]["reason"] == "near_duplicate"
    assert by_doc[new[0]["doc_id"]]["dup_of"] == first[0]["doc_id"]
    assert json.loads(by_doc[new[0]["doc_id"]]["detail"])["prior_release"] is True
    assert by_doc[new[1]["doc_id"]]["reason"] == "exact_duplicate"
    assert by_doc[new[1]["doc_id"]]["dup_of"] == first[1]["doc_id"]
    assert kept == [(new[2]["doc_id"], None, 0)]


def _predicted_pairs(records, kept, decisions):
    index = {r["doc_id"]: i for i, r in enumerate(records)}
    parent = list(range(len(records)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    links = [(d["doc_id"], d["dup_of"]) for d in decisions] + [(k[0], k[1]) for k in kept if k[1]]
    for a, b in links:
        x, y = find(index[a]), find(index[b])
        if x != y:
            parent[max(x, y)] = min(x, y)
    clusters: dict[int, list[int]] = {}
    for i in range(len(records)):
        clusters.setdefault(find(i), []).append(i)
    return {(a, b) for m in clusters.values() for a in m for b in m if a < b}


def test_quality_bar_and_same_result_in_process_and_multiprocessing(tmp_path):
    docs, en, ko = labelled_set()
    assert len(en) >= 25 and len(ko) >= 25, "labelled set needs real English and Korean text"
    records = _records([(text, lang) for text, lang, _ in docs])
    truth = true_pairs(docs)
    cfg = _cfg(threshold=0.8)

    single = run_dedup(tmp_path / "single", [dict(r) for r in records], cfg)
    predicted = _predicted_pairs(records, single[0], single[1])
    tp = len(predicted & truth)
    recall, precision = tp / len(truth), tp / max(1, len(predicted))
    for lang in ("en", "ko"):
        lang_truth = {p for p in truth if docs[p[0]][1] == lang}
        lang_recall = len(predicted & lang_truth) / len(lang_truth)
        assert lang_recall >= 0.9, (lang, lang_recall)
    assert recall >= 0.9, recall
    assert precision >= 0.95, precision

    multi = run_dedup(
        tmp_path / "multi", [dict(r) for r in records], cfg, "--direct_num_workers=2", "--direct_running_mode=multi_processing"
    )
    assert multi == single


def _edited(text: str, edits: int, seed: int) -> str:
    rng = random.Random(seed)
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = f"zz{rng.randrange(1000)}"
    return " ".join(words)


def test_verify_jaccard_decides_whether_a_shared_bucket_is_an_edge(tmp_path):
    from pipeline.minhash import MinHasher, band_keys, optimal_bands

    other = _edited(BASE_EN, 6, 129)
    # precondition: the two share an LSH bucket but their estimated Jaccard is below the threshold
    cfg = _cfg()
    sigs = MinHasher.from_config(cfg.dedup).signatures([BASE_EN, other], ["en", "en"])
    keys = band_keys(sigs, *optimal_bands(cfg.dedup.threshold, cfg.dedup.num_perm))
    assert (keys[0] == keys[1]).any() and (sigs[0] == sigs[1]).mean() < cfg.dedup.threshold

    records = _records([(BASE_EN, "en"), (other, "en"), (BASE_KO, "ko")])
    ids = [r["doc_id"] for r in records]
    _, verified, _ = run_dedup(tmp_path / "v", [dict(r) for r in records], cfg)
    assert verified == []
    _, unverified, _ = run_dedup(tmp_path / "u", [dict(r) for r in records], _cfg(verify_jaccard=False))
    assert [(d["doc_id"], d["reason"], d["dup_of"]) for d in unverified] == [(max(ids[:2]), "near_duplicate", min(ids[:2]))]


def _chain_items(length: int, seed: int) -> list[tuple[str, str]]:
    """Texts each a light edit of the one before: neighbours are near duplicates, the ends are not,
    so only the transitive closure puts the whole chain in one cluster."""
    words = (BASE_EN + " " + BASE_EN.lower()).split()
    rng = random.Random(seed)
    out = []
    for _ in range(length):
        words[rng.randrange(len(words))] = f"w{rng.randrange(10**6)}"
        out.append((" ".join(words), "en"))
    return out


def test_one_step_components_equal_the_rounds_in_process_and_on_two_workers(tmp_path):
    docs, _, _ = labelled_set()
    items = [(text, lang) for text, lang, _ in docs] + _chain_items(40, 3)
    records = _records(items)
    chain_ids = [r["doc_id"] for r in records[-40:]]
    rounds = run_dedup(tmp_path / "rounds", [dict(r) for r in records], _cfg(components="rounds"), seed=4)
    one_step = run_dedup(tmp_path / "one", [dict(r) for r in records], _cfg(), seed=5)
    assert one_step == rounds
    # the chain is one cluster, though its ends share almost nothing
    decided = {d["doc_id"]: d["dup_of"] for d in one_step[1]}
    assert {decided.get(doc, doc) for doc in chain_ids} == {min(chain_ids)}
    multi = run_dedup(
        tmp_path / "multi", [dict(r) for r in records], _cfg(), "--direct_num_workers=2",
        "--direct_running_mode=multi_processing", seed=6,
    )
    assert multi == rounds


def test_one_step_bound_exceeded_fails_the_run(tmp_path):
    records = _records(_chain_items(12, 8))
    with pytest.raises(Exception, match=r"more than 5 nodes \(dedup.one_step_max_nodes\)"):
        run_dedup(tmp_path / "small", records, _cfg(one_step_max_nodes=5))
