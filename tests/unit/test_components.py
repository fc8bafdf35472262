"""Connected components with Beam (large-star / small-star) equal union-find; non-convergence fails."""
from __future__ import annotations

import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.minhash import MinHasher
from pipeline.runners import local_pipeline
from pipeline.stages.dedup.components import (
    ComponentsTooLarge,
    ConnectedComponents,
    NotConverged,
    OneStepComponents,
    _UnionFind,
)
from pipeline.stages.dedup.near import bucket_edges


def union_find_labels(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        a, b = find(u), find(v)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {x: find(x) for x in list(parent)}


def _graphs():
    rng = random.Random(11)
    edges = []
    # random sparse graphs (many components, cycles, duplicate and reversed edges, self loops)
    for g in range(5):
        nodes = [f"r{g}-{rng.getrandbits(40):010x}" for _ in range(300)]
        for _ in range(260):
            u, v = rng.choice(nodes), rng.choice(nodes)
            edges.append((u, v))
        edges.append(edges[-1][::-1])
    # a long chain A~B~…: 1,000 nodes, ids in random order along the chain
    chain = [f"c-{rng.getrandbits(48):012x}" for _ in range(1000)]
    edges += list(zip(chain, chain[1:]))
    # a chain whose ids decrease along it (the slow case for label propagation)
    desc = [f"d-{i:05d}" for i in range(999, -1, -1)]
    edges += list(zip(desc, desc[1:]))
    # large stars: centre is the minimum, and centre is the maximum
    edges += [("s-00000", f"s-{i:05d}") for i in range(1, 2000)]
    edges += [("t-99999", f"t-{i:05d}") for i in range(2000)]
    # two stars joined leaf-to-leaf
    edges += [("u-500", f"u-{i:03d}") for i in range(501, 600)] + [("u-100", f"u-{i:03d}") for i in range(101, 200)]
    edges.append(("u-550", "u-150"))
    return edges


def test_components_equal_union_find():
    edges = _graphs()
    expected = union_find_labels([(u, v) for u, v in edges if u != v])
    assert len(set(expected.values())) > 50  # many components, some large
    with local_pipeline() as p:
        labels = p | beam.Create(edges) | ConnectedComponents(14)
        assert_that(labels, equal_to(sorted(expected.items())))


def test_one_step_equals_union_find_and_the_rounds():
    edges = _graphs()
    expected = sorted(union_find_labels([(u, v) for u, v in edges if u != v]).items())
    # bundles of a few hundred edges: the combine folds each and merges the forests
    with local_pipeline() as p:
        created = p | "edges" >> beam.Create(edges)
        one_step = created | "one-step" >> OneStepComponents(len(expected))
        rounds = created | "rounds" >> ConnectedComponents(14)
        assert_that(one_step, equal_to(expected), label="one-step = union-find")
        assert_that(rounds, equal_to(expected), label="rounds = union-find")


def test_union_find_forests_merge_in_any_split_and_order():
    """The combine's accumulators come from arbitrary bundles and merge in any order; each split
    of the edges (a long chain with descending ids, stars, random edges) gives union-find's labels."""
    edges = _graphs()
    expected = union_find_labels([(u, v) for u, v in edges if u != v])
    fn = _UnionFind(len(expected))
    rng = random.Random(5)
    for parts in (1, 2, 7, 60):
        shuffled = edges[:]
        rng.shuffle(shuffled)
        accs = []
        for k in range(parts):
            acc = fn.create_accumulator()
            for edge in shuffled[k::parts]:
                acc = fn.add_input(acc, edge)
            accs.append(fn.compact(acc) if k % 2 else acc)
        rng.shuffle(accs)
        merged = fn.merge_accumulators([fn.merge_accumulators(accs[: parts // 2] or [{}]), fn.merge_accumulators(accs[parts // 2 :])])
        assert fn.extract_output(merged) == expected, parts
    assert fn.extract_output(fn.merge_accumulators([])) == {}
    assert fn.add_input(fn.create_accumulator(), ("a", "a")) == {}  # a self-loop is no edge


def test_one_step_above_its_bound_fails_loudly_and_names_the_setting():
    chain = [f"n{i:04d}" for i in range(1000)]
    with pytest.raises(Exception, match=r"more than 999 nodes \(dedup.one_step_max_nodes\)") as info:
        with local_pipeline() as p:
            _ = p | beam.Create(list(zip(chain, chain[1:]))) | OneStepComponents(999)
    assert "n0" not in str(info.value)  # counts only, no node id in the message
    # exactly at the bound it runs, and a component larger than any round bound is one cluster
    with local_pipeline() as p:
        labels = p | beam.Create(list(zip(chain, chain[1:]))) | OneStepComponents(1000)
        assert_that(labels, equal_to([(n, "n0000") for n in chain]))
    with pytest.raises(ComponentsTooLarge):
        fn = _UnionFind(3)
        fn.merge_accumulators([{"a": "a", "b": "a"}, {"c": "c", "d": "c"}])


def test_not_converged_fails_loudly():
    chain = [f"n{i:04d}" for i in range(1000)]
    with pytest.raises(Exception, match="did not converge in 3 rounds"):
        with local_pipeline() as p:
            _ = p | beam.Create(list(zip(chain, chain[1:]))) | ConnectedComponents(3)


def _members(texts):
    hasher = MinHasher()
    sigs = hasher.signatures(texts, ["en"] * len(texts))
    return [(f"id{i:03d}", sigs[i].tobytes()) for i in range(len(texts))], sigs.dtype


BASE = " ".join(f"word{i}" for i in range(120))


def test_bucket_edges_verify_and_span():
    texts = [BASE, BASE + " tail", "totally unrelated " * 30, BASE.replace("word60", "changed")]
    members, dtype = _members(texts)
    shuffled = list(reversed(members))
    edges = bucket_edges(shuffled, 0.8, True, dtype)
    assert sorted(edges) == [("id001", "id000"), ("id003", "id000")]
    # without verification every member joins the smallest
    assert sorted(bucket_edges(shuffled, 0.8, False, dtype)) == [("id001", "id000"), ("id002", "id000"), ("id003", "id000")]
    assert bucket_edges(members[:1], 0.8, True, dtype) == []


def test_bucket_edges_large_bucket_uses_leaders(monkeypatch):
    import pipeline.stages.dedup.near as near

    other = " ".join(f"term{i}" for i in range(120))
    texts = [BASE + f" v{i}" for i in range(6)] + [other + f" x{i}" for i in range(4)]
    members, dtype = _members(texts)
    full = bucket_edges(members, 0.8, True, dtype)
    monkeypatch.setattr(near, "_ALL_PAIRS_MAX", 3)
    leader = bucket_edges(list(reversed(members)), 0.8, True, dtype)
    assert union_find_labels(full) == union_find_labels(leader)
    assert len(set(union_find_labels(full).values())) == 2
    assert np.dtype(dtype) == np.uint32


def test_buckets_sharing_a_coarse_key_are_split_exactly():
    from pipeline.stages.dedup.near import _BUCKET_GROUPS, _memberships, _split_buckets

    key = (7 << 40) | 5  # same low 16 bits as `other`, a different bucket
    other = (1 << 63) | (9 << 40) | 5  # a key of 2**63 or more travels as bytes too
    def keys(*values):  # band keys as _Prepare ships them: little-endian uint64 bytes
        return np.array(values, dtype="<u8").tobytes()

    def node(doc_id):  # (doc_id, held file) as _Prepare ships it; a doc_id may hold "/" too
        return (doc_id + "/x", "f0.pkl.zst")

    def bucket(band, value):
        return keys(value) + band.to_bytes(2, "little")

    lights = [(node("d1"), keys(key, 11)), (node("d2"), keys(key, 12)), (node("d3"), keys(other, 11)), (node("d4"), keys(12, key))]
    # buckets: (0, key) = d1, d2; (1, 11) = d1, d3; (0, other) = d3 alone; (1, key) = d4 alone,
    # though it shares coarse key 5 with the band-0 bucket of the same hash
    grouped: dict = {}
    for light in lights:
        for coarse, member in _memberships(light):
            assert coarse == int(np.frombuffer(member[:8], dtype="<u8")[0]) % _BUCKET_GROUPS
            grouped.setdefault(coarse, [[]])[0].append(member)  # one pack per coarse key
    assert len(grouped[5][0]) == 4  # d1, d2, d3 in band 0 and d4 in band 1 all land in coarse key 5
    buckets = {b: sorted(n) for kv in grouped.items() for b, n in _split_buckets(kv)}
    assert buckets == {bucket(0, key): [node("d1"), node("d2")], bucket(1, 11): [node("d1"), node("d3")]}
    assert list(_memberships((node("d5"), None))) == []


def test_auto_components_are_one_step_on_the_local_runner_and_rounds_elsewhere():
    """`dedup.components: auto` picks the one-step union-find only for the local runner: on a
    distributed runner a crawl-sized graph would exceed the bound after the whole run's work."""
    from pipeline.config import load_config
    from pipeline.stages.dedup.transform import DedupStage

    def bound(components, local):
        cfg = load_config(overrides={"dedup": {"components": components, "one_step_max_nodes": 77}})
        return DedupStage(cfg, "run", local=local)._one_step_bound(cfg.dedup)

    assert bound("auto", local=True) == 77
    assert bound("auto", local=False) == 0
    assert bound("one_step", local=False) == 77
    assert bound("rounds", local=True) == 0
