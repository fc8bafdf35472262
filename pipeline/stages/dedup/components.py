"""Connected components as Beam transforms: union-find in one combine while the graph fits a bound,
else large-star / small-star rounds, unrolled, with a proof of convergence.

**One step** (:class:`OneStepComponents`, config ``dedup.components: one_step``, the local runner's ``auto``): the candidate
graph of near duplicates is usually small (edges only between verified near duplicates), so its
components are found by union-find inside a ``CombineGlobally``: each worker folds the edges of its
bundles into a forest (at most one entry per node it saw), one merge joins those forests. One shuffle
instead of four per round, and no cost per round on a graph that has converged long ago. The
forest is bounded: more than ``one_step_max_nodes`` nodes **fails** the run with
:class:`ComponentsTooLarge`, naming the setting; it never returns partial clusters.

**Rounds** (:class:`ConnectedComponents`, ``dedup.components: rounds``, distributed runners' ``auto``),
for graphs too large for one process:

Input: a PCollection of edges ``(u, v)`` between comparable node ids (doc_id strings). Output: one
``(node, label)`` per node that has an edge, where ``label`` is the smallest node id of its
component. No worker ever holds all edges: every step is a GroupByKey on one node, and a step's
output never has more edges than its input (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014).

* **large-star**: for every node u with neighbours N(u), m = min(N(u) ∪ {u}); each neighbour
  v > u is re-attached to m.
* **small-star**: for every node u with smaller neighbours N⁻(u), m = min(N⁻(u)); u and every
  v ∈ N⁻(u) are attached to m.

Both preserve connectivity; alternating them turns every component into a star centred on its
minimum in O(log n) rounds (docs/benchmarks.md has the rounds a long chain needs). A Beam
graph is static, so ``rounds`` (config ``dedup.max_iterations``) rounds are unrolled; a round on an
already converged graph returns it unchanged. The last step checks, node by node, that the graph is
a star forest whose centres are minima (no node has both a smaller neighbour and a second distinct
neighbour); the number of nodes that fail is summed and the labels only flow on through a step
that **raises** when that number is not zero — so a too-small bound fails the run instead of
returning wrong clusters.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue


class NotConverged(RuntimeError):
    """Connected components did not converge within the configured number of rounds."""


class ComponentsTooLarge(RuntimeError):
    """The one-step union-find saw more nodes than its configured bound."""


def _too_large(max_nodes: int) -> ComponentsTooLarge:
    return ComponentsTooLarge(
        f"dedup connected components: the near-duplicate graph has more than {max_nodes} nodes "
        f"(dedup.one_step_max_nodes); raise it, or set dedup.components: rounds to find components in distributed rounds"
    )


def _root(parent: dict, x):
    """Root of ``x`` (added as its own root if new), halving the path on the way."""
    p = parent.setdefault(x, x)
    while p != x:
        gp = parent[p]
        parent[x] = gp
        x, p = p, gp
    return x


def _union(parent: dict, u, v) -> None:
    """Join the trees of ``u`` and ``v``; the smaller root becomes the root, so a tree's root is its
    minimum and the final label needs no second pass over the members."""
    a, b = _root(parent, u), _root(parent, v)
    if a != b:
        if a < b:
            parent[b] = a
        else:
            parent[a] = b


class _UnionFind(beam.CombineFn):
    """Edges → ``{node: component minimum}``. The accumulator is a union-find forest (a dict);
    combiner lifting folds each bundle's edges on its worker, so only forests are shuffled."""

    def __init__(self, max_nodes: int) -> None:
        self._max_nodes = max_nodes

    def create_accumulator(self):
        return {}

    def _check(self, parent: dict) -> dict:
        if len(parent) > self._max_nodes:
            raise _too_large(self._max_nodes)
        return parent

    def add_input(self, parent, edge):
        u, v = edge
        if u != v:  # a self-loop connects nothing (and the rounds drop it too)
            _union(parent, u, v)
            self._check(parent)
        return parent

    def add_inputs(self, parent, edges):
        for u, v in edges:
            if u != v:
                _union(parent, u, v)
        return self._check(parent)

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators, None)
        if merged is None:
            return {}
        for other in accumulators:
            for node, parent in other.items():
                if node != parent:
                    _union(merged, node, parent)
                else:
                    merged.setdefault(node, node)
            self._check(merged)
        return merged

    def compact(self, parent):
        # one hop to the root: what crosses the shuffle is flat, and the merge's finds are short
        return {node: _root(parent, node) for node in list(parent)}

    def extract_output(self, parent):
        return self.compact(parent)


def _labels(components: dict):
    return components.items()


def _at_least_one(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


class OneStepComponents(beam.PTransform):
    """``edges`` (u, v) → ``(node, component_min)`` for every node on an edge, by union-find in one
    combine; fails with :class:`ComponentsTooLarge` above ``max_nodes`` nodes."""

    def __init__(self, max_nodes: int) -> None:
        super().__init__()
        self._max_nodes = _at_least_one("max_nodes", max_nodes)

    def expand(self, edges):
        return (
            edges
            # without_defaults: no extra stage to make an empty graph's default; no edges, no labels
            | "union-find" >> beam.CombineGlobally(_UnionFind(self._max_nodes)).without_defaults()
            | "labels" >> beam.FlatMap(_labels)
        )


def _both_directions(edge):
    u, v = edge
    yield u, v
    yield v, u


def _large_star(kv):
    """Edges (v, m) with v > u >= m: already larger-first, as small-star groups them."""
    u, neighbours = kv
    m = min(min(neighbours), u)
    for v in neighbours:
        if v > u:
            yield v, m


def _small_star_both_directions(kv):
    """Small-star's edges, each in both directions, as the next large-star (or the final check)
    groups them: one step instead of a FlatMap per direction, so a round is 4 transforms."""
    u, smaller = kv
    m = min(smaller)
    for v in smaller:
        if v != m:
            yield v, m
            yield m, v
    yield u, m
    yield m, u


def _canonical(edge):
    u, v = edge
    return (u, v) if u < v else (v, u)


class _LabelAndCheck(beam.DoFn):
    """Per node of the final graph: its label, and 1 on the ``unconverged`` output if not a star."""

    def process(self, kv):
        u, neighbours = kv
        m = min(neighbours)
        if m < u:
            # u must be a leaf: its only (distinct) neighbour is its centre
            if any(v != m for v in neighbours):
                yield pvalue.TaggedOutput("unconverged", 1)
            yield u, m
        else:
            yield u, u


class _RaiseIfUnconverged(beam.DoFn):
    def __init__(self, rounds: int) -> None:
        self._rounds = rounds

    def process(self, label, unconverged: int):
        if unconverged:
            raise NotConverged(
                f"dedup connected components did not converge in {self._rounds} rounds "
                f"({unconverged} nodes not yet attached to their component minimum); "
                f"raise dedup.max_iterations"
            )
        yield label


class ConnectedComponents(beam.PTransform):
    """``edges`` (u, v) → ``(node, component_min)`` for every node on an edge; fails if unconverged."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self._rounds = _at_least_one("rounds", rounds)

    def expand(self, edges):
        e = (
            edges
            | "canonical" >> beam.Map(_canonical)
            | "self-loops" >> beam.Filter(lambda uv: uv[0] != uv[1])
            | "distinct" >> beam.Distinct()
        )
        both = e | "both" >> beam.FlatMap(_both_directions)
        for i in range(self._rounds):
            both = (
                both
                | f"large{i}:group" >> beam.GroupByKey()
                | f"large{i}:star" >> beam.FlatMap(_large_star)
                | f"small{i}:group" >> beam.GroupByKey()
                | f"small{i}:star" >> beam.FlatMap(_small_star_both_directions)
            )
        checked = (
            both
            | "final:group" >> beam.GroupByKey()
            | "final:label" >> beam.ParDo(_LabelAndCheck()).with_outputs("unconverged", main="labels")
        )
        unconverged = checked.unconverged | "final:count" >> beam.CombineGlobally(sum)
        return checked.labels | "final:check" >> beam.ParDo(
            _RaiseIfUnconverged(self._rounds), unconverged=pvalue.AsSingleton(unconverged)
        )
