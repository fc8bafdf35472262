"""Exact duplicates: documents whose normalised text (NFKC, casefold, whitespace collapsed) hashes
the same. One survivor per group — the smallest node id, so the choice does not depend on arrival
order or on the runner — and every other member is dropped ``exact_duplicate`` with ``dup_of`` the
survivor.

Only light tuples are grouped here (node id, exact key, band keys): the records
themselves wait in held files until their verdicts are known (see :mod:`pipeline.stages.dedup`).
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

EXACT_VERDICTS = "exact_verdicts"

# verdict kinds carried to the held batches
V_EXACT_DROP = "x"  # (V_EXACT_DROP, survivor)
V_GROUP = "g"  # survivor of an exact group of size > 1: (V_GROUP, itself)
V_NEAR = "n"  # (V_NEAR, representative) for every node of a near-duplicate cluster


class ExactGroups(beam.DoFn):
    """(exact_key, [light, ...]) → survivor light on the main output, verdicts on ``exact_verdicts``
    as ``(held file, (doc_id, verdict))``.

    ``light`` is ``(node, band_keys)``, a node ``(doc_id, held file)``; nodes of an earlier release
    have no file (``""``) and get no verdict: nothing to apply.
    """

    def process(self, kv):
        _, members = kv
        survivor = None
        count = 0
        for member in members:
            count += 1
            if survivor is None or member[0] < survivor[0]:
                survivor = member
        yield survivor
        if count > 1:
            sid, name = survivor[0]
            if name:
                yield pvalue.TaggedOutput(EXACT_VERDICTS, (name, (sid, (V_GROUP, sid))))
            for member in members:
                doc_id, name = member[0]
                if doc_id != sid and name:
                    yield pvalue.TaggedOutput(EXACT_VERDICTS, (name, (doc_id, (V_EXACT_DROP, sid))))


class ExactDedup(beam.PTransform):
    """``(exact_key, light)`` pairs → ``.survivors`` (light) and ``.exact_verdicts`` ((held file, (doc_id, verdict)))."""

    def expand(self, keyed):
        return (
            keyed
            | "group" >> beam.GroupByKey()
            | "survivors" >> beam.ParDo(ExactGroups()).with_outputs(EXACT_VERDICTS, main="survivors")
        )
