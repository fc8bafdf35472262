"""Connected components as Beam transforms: large-star / small-star, unrolled, with a proof of convergence.

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
        if rounds < 1:
            raise ValueError("rounds must be at least 1")
        self._rounds = rounds

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
