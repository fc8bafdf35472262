"""Near duplicates: MinHash LSH buckets grouped with Beam, candidate pairs verified, clusters joined.

Every exact-survivor with at least one shingle is put in ``bands`` buckets keyed
``(band_index, band_hash)`` (one bytes value per membership, packed per bundle and shuffled under
4,096 coarse keys, split by bucket after the grouping, see :func:`_memberships`) — (bands, rows)
chosen for the threshold as datasketch does (:func:`pipeline.minhash.optimal_bands`). Only nodes
(doc id and held file) are grouped by bucket: almost every bucket has one member, and shipping the
signature into each of a document's ``bands`` buckets would shuffle it ``bands`` times. With
``verify_jaccard``, the members of buckets that have a pair are grouped by held file, their
signatures read from the file their batch's signatures were written to (documents of an earlier
release meet theirs in a join on node), they are regrouped by bucket, and a pair is an edge only
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
from pipeline.stages.dedup.packing import PackPerBundle, grouped, unpacked

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




_BUCKET_GROUPS = 1 << 12  # buckets are shuffled under this many coarse keys (see _memberships)
_PACK_MAX = 1 << 18  # memberships a bundle holds before it ships its packs (see _PackedMemberships)


def _memberships(light):
    """(node, band keys as bytes) → (coarse key, membership) per band, a membership being one bytes
    value: the bucket (band key's 8 little-endian bytes, band index as 2) then the node
    (``held file/doc_id`` in UTF-8, see :func:`_node`).

    Almost every bucket has one member, so grouping by the bucket itself makes one runner-side
    group per bucket (≈ bands × documents; the local runner keeps each as a dict entry, a key and
    a list). Buckets are grouped by the low 12 bits of their hash instead and split inside
    :func:`_split_buckets`, and a bundle's memberships travel packed by coarse key
    (:class:`_PackedMemberships`): the runner's per-element work is paid per pack, not per band of
    every document. At 1e9 documents a group holds ~2.2M memberships (~200 MB while it is split) —
    bounded, and 4,096 keys to spread over workers. Only the members of shared buckets are ever
    decoded (a uint64 band key of 2**63 or more would not even be a varint for Beam's coder)."""
    node, bands = light
    if bands is None:  # no shingles: nothing to compare
        return
    doc_id, name = node
    tail = (name + "/" + doc_id).encode("utf-8")
    for i in range(len(bands) // 8):
        key = bands[8 * i : 8 * i + 8]
        yield int.from_bytes(key, "little") & (_BUCKET_GROUPS - 1), key + i.to_bytes(2, "little") + tail


_BUCKET_BYTES = 10  # a membership's bucket: band key (8 bytes) and band index (2)


def _node(tail: bytes) -> tuple[str, str]:
    """A membership's node bytes → ``(doc_id, held file)``; a file name never holds ``/``."""
    name, _, doc_id = tail.decode("utf-8").partition("/")
    return doc_id, name


class _PackedMemberships(PackPerBundle):
    """Lights → ``(coarse key, [membership, ...])`` (:func:`_memberships`), one pack per coarse key
    per bundle, or per ``_PACK_MAX`` memberships held: the shuffle carries the same memberships in
    a few thousand elements instead of one per band of every document."""

    limit = _PACK_MAX

    def process(self, light):
        for coarse, member in _memberships(light):
            self._add(coarse, member)
        if self._held >= self.limit:
            yield from self._ship()


def _split_buckets(kv):
    """(coarse key, [[membership, ...], ...]) — packs of memberships — → (bucket bytes, [node, ...])
    for each bucket with two or more members."""
    _, packs = kv
    for bucket, found in grouped((member[:_BUCKET_BYTES], member) for member in unpacked(packs)).items():
        if len(found) > 1:
            yield bucket, [_node(m[_BUCKET_BYTES:]) for m in found]


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
    """(held file, [[(doc_id, bucket), ...], ...]) — packs — → (bucket, (node, signature bytes)) for each, the
    signatures read from the file :class:`~pipeline.stages.dedup.transform._Prepare` wrote next to
    the held batch: only candidates' signatures are read, none crosses a shuffle before its bucket's."""

    def __init__(self, sig_dir: str) -> None:
        self._sig_dir = sig_dir

    def process(self, kv):
        from pipeline.stages.dedup.transform import read_signatures, signatures_path

        name, packs = kv
        sigs = read_signatures(signatures_path(self._sig_dir, name))
        for doc_id, bucket in unpacked(packs):
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


_REGROUP_GROUPS = 1 << 10  # candidates' signatures are regrouped under this many coarse keys


def _regroup_key(bucket: bytes) -> int:
    """The coarse key a shared bucket's members (with their signatures) are regrouped under."""
    return int.from_bytes(bucket[:8], "little") & (_REGROUP_GROUPS - 1)


def _verified_edges(kv, threshold: float, dtype):
    """(coarse key, packs of (bucket, (node, sig_bytes))) → the verified edges of each bucket."""
    _, packs = kv
    for members in grouped(unpacked(packs)).values():
        yield from bucket_edges(members, threshold, True, dtype)


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
            | "buckets" >> beam.ParDo(_PackedMemberships())
            | "group" >> beam.GroupByKey()
            | "split" >> beam.FlatMap(_split_buckets)
        )
        if not self._verify:
            edges = buckets | "edges" >> beam.FlatMap(_unverified_edges)
        else:
            shared = buckets | "shared" >> beam.ParDo(_SharedBuckets()).with_outputs("prior", main="held")
            with_sigs = (
                shared.held
                | "shared:pack" >> beam.ParDo(PackPerBundle())
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
                | "regroup:pack" >> beam.ParDo(PackPerBundle(_regroup_key))
                | "regroup" >> beam.GroupByKey()
                | "verify" >> beam.FlatMap(_verified_edges, threshold, dtype)
            )
        if self._one_step_max_nodes:
            return edges | "components" >> OneStepComponents(self._one_step_max_nodes)
        return edges | "components" >> ConnectedComponents(self._rounds)
