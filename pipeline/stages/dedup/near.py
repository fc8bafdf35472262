"""Near duplicates: MinHash LSH buckets grouped with Beam, candidate pairs verified, clusters joined.

Every exact-survivor with at least one shingle is put in ``bands`` buckets keyed
``(band_index, band_hash)`` (shuffled under 65,536 coarse keys and split by bucket after the
grouping, see :func:`_memberships`) — (bands, rows) chosen for the threshold as datasketch does
(:func:`pipeline.minhash.optimal_bands`). Only doc ids are grouped by bucket: almost every bucket
has one member, and shipping the signature into each of a document's ``bands`` buckets would
shuffle it ``bands`` times (9 × 512 bytes at the defaults, 2.6x the text of a 1.75 KB document).
With ``verify_jaccard``, the members of buckets that have a pair meet their signatures in one
join on doc id (each signature shuffled once), are regrouped by bucket, and a pair is an edge only
if its estimated Jaccard similarity (share of equal signature values) is at least ``threshold``
(:mod:`pipeline.minhash.pairs`, the check the trajectory stage uses for near-duplicate prompts);
without it, every pair sharing a bucket is an edge and signatures are not shuffled at all. A bucket emits a spanning forest of its
verified pairs (each member attached to the smallest member of its local component), which keeps
the components of all verified pairs and O(bucket) edges. Buckets larger than
``_ALL_PAIRS_MAX`` members (rare: exact duplicates are already gone) compare each member with
the current local cluster leaders only, in doc-id order — deterministic, and O(members × leaders).

The edges go to :class:`~pipeline.stages.dedup.components.OneStepComponents` (union-find in one
combine, up to ``one_step_max_nodes`` nodes) or, with that bound 0, to
:class:`~pipeline.stages.dedup.components.ConnectedComponents` (distributed rounds); every node of a
component is labelled with the component's smallest node id, its representative.
"""
from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from pipeline.minhash.pairs import earlier_similar, equal_values_needed, similar_rows, stack_signatures

_ALL_PAIRS_MAX = 2000


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def bucket_edges(members: list[tuple], threshold: float, verify: bool, dtype) -> list[tuple[str, str]]:
    """Verified edges of one bucket as a spanning forest: (member, smallest member of its cluster).

    ``members`` are ``(node, sig_bytes)``. Pure and deterministic (sorted by node).
    """
    members = sorted(members, key=lambda m: m[0])
    k = len(members)
    if k < 2:
        return []
    nodes = [m[0] for m in members]
    if not verify:
        return [(nodes[i], nodes[0]) for i in range(1, k)]
    sigs = stack_signatures((m[1] for m in members), dtype)
    parent = list(range(k))

    def union(a: int, b: int) -> None:
        a, b = _find(parent, a), _find(parent, b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    if k <= _ALL_PAIRS_MAX:
        for j, similar in earlier_similar(sigs, threshold):
            for i in similar.tolist():
                union(i, j)
    else:
        need = equal_values_needed(threshold, sigs.shape[1])
        leaders: list[int] = []
        for i in range(k):
            hits = similar_rows(sigs[leaders], sigs[i], need).tolist() if leaders else []
            for h in hits:
                union(leaders[h], i)
            if not hits:
                leaders.append(i)
    return [(nodes[i], nodes[_find(parent, i)]) for i in range(k) if _find(parent, i) != i]




_BUCKET_GROUPS = 1 << 16  # buckets are shuffled under this many coarse keys (see _memberships)


def _memberships(light):
    """(node, band keys as bytes) → (coarse key, (band index, band key bytes, node)) per band.

    Almost every bucket has one member, so grouping by the bucket itself makes one runner-side
    group per bucket (≈ bands × documents; the local runner keeps each as a dict entry, a key and
    a list). Buckets are grouped by the low 16 bits of their hash instead and split inside
    :func:`_split_buckets`: the same values cross the shuffle, in 65,536 groups. At 1e9 documents a
    group holds ~140k small tuples — still bounded, and plenty of keys to spread over workers.
    Band keys travel as their 8 little-endian bytes: a uint64 of 2**63 or more is not a varint for
    Beam's coder and would be pickled."""
    node, bands = light
    if bands is None:  # no shingles: nothing to compare
        return
    for i in range(len(bands) // 8):
        key = bands[8 * i : 8 * i + 8]
        yield int.from_bytes(key, "little") & (_BUCKET_GROUPS - 1), (i, key, node)


def _split_buckets(kv):
    """(coarse key, [(band index, band key bytes, node), ...]) → (bucket, [node, ...]) for each bucket
    with two or more members."""
    _, members = kv
    buckets: dict[tuple[int, bytes], list] = {}
    for i, key, node in members:
        buckets.setdefault((i, key), []).append(node)
    for bucket, nodes in buckets.items():
        if len(nodes) > 1:
            yield bucket, nodes


@beam.typehints.with_output_types(beam.typehints.KV[str, tuple])  # main output only; inference would mix in the tagged one
class _SharedBuckets(beam.DoFn):
    """(bucket, [node, ...]) → (held file, (doc_id, bucket)) for every member (``_split_buckets`` only
    emits buckets with two or more members); members of an earlier release, which have no held
    file, as (node, bucket) on ``prior``."""

    def process(self, kv):
        bucket, nodes = kv
        for node in nodes:
            doc_id, name = node
            if name:
                yield name, (doc_id, bucket)
            else:
                yield pvalue.TaggedOutput("prior", (node, bucket))


def _unverified_edges(kv):
    _, nodes = kv
    nodes = sorted(nodes)
    return [(node, nodes[0]) for node in nodes[1:]]


class _SignaturesFromFile(beam.DoFn):
    """(held file, [(doc_id, bucket), ...]) → (bucket, (node, signature bytes)) for each, the
    signatures read from the file :class:`~pipeline.stages.dedup.transform._Prepare` wrote next to
    the held batch: only candidates' signatures are read, none crosses a shuffle before its bucket's."""

    def __init__(self, sig_dir: str) -> None:
        self._sig_dir = sig_dir

    def process(self, kv):
        from apache_beam.io.filesystems import FileSystems

        from pipeline.stages.dedup.transform import read_signatures

        name, members = kv
        sigs = read_signatures(FileSystems.join(self._sig_dir, name))
        for doc_id, bucket in members:
            yield bucket, ((doc_id, name), sigs[doc_id])


def _signature_into_buckets(kv):
    """(node, {sig: [sig], buckets: [bucket, ...]}) → (bucket, (node, sig)) for each shared bucket."""
    node, grouped = kv
    buckets = grouped["buckets"]
    if not buckets:
        return
    for sig in grouped["sig"]:
        for bucket in set(buckets):
            yield bucket, (node, sig)


class NearDedup(beam.PTransform):
    """Survivors ``(node, band_keys)`` → ``(node, representative)`` labels, a node being
    ``(doc_id, held file)``. With ``verify``, candidates' signatures are read from ``sig_dir`` (one
    file per held batch); nodes of an earlier release (held file ``""``) meet theirs from
    ``prior_signatures`` ``(node, sig_bytes)`` in a join, which is built only when given."""

    def __init__(
        self, threshold: float, verify: bool, rounds: int, dtype, one_step_max_nodes: int = 0,
        sig_dir: str | None = None, prior_signatures=None,
    ) -> None:
        super().__init__()
        self._one_step_max_nodes = one_step_max_nodes
        self._threshold = threshold
        self._verify = verify
        self._rounds = rounds
        self._dtype = np.dtype(dtype).str
        self._sig_dir = sig_dir
        self._prior_signatures = prior_signatures
        if verify and sig_dir is None:
            raise ValueError("NearDedup: verify needs sig_dir, the folder of the held batches' signatures")

    def expand(self, survivors):
        from pipeline.stages.dedup.components import ConnectedComponents, OneStepComponents

        threshold, dtype = self._threshold, np.dtype(self._dtype)
        buckets = (
            survivors
            | "buckets" >> beam.FlatMap(_memberships)
            | "group" >> beam.GroupByKey()
            | "split" >> beam.FlatMap(_split_buckets)
        )
        if not self._verify:
            edges = buckets | "edges" >> beam.FlatMap(_unverified_edges)
        else:
            shared = buckets | "shared" >> beam.ParDo(_SharedBuckets()).with_outputs("prior", main="held")
            with_sigs = (
                shared.held
                | "by-file" >> beam.GroupByKey()
                | "read-sigs" >> beam.ParDo(_SignaturesFromFile(self._sig_dir))
            )
            if self._prior_signatures is not None:
                prior = (
                    {"sig": self._prior_signatures, "buckets": shared.prior}
                    | "meet" >> beam.CoGroupByKey()
                    | "regroup:key" >> beam.FlatMap(_signature_into_buckets)
                )
                with_sigs = [with_sigs, prior] | "with-prior" >> beam.Flatten()
            edges = (
                with_sigs
                | "regroup" >> beam.GroupByKey()
                | "verify" >> beam.FlatMap(lambda kv: bucket_edges(list(kv[1]), threshold, True, dtype))
            )
        if self._one_step_max_nodes:
            return edges | "components" >> OneStepComponents(self._one_step_max_nodes)
        return edges | "components" >> ConnectedComponents(self._rounds)
