"""The LSH pair check shared by dedup and the trajectory stage, on hand-made signatures (values are
ours: equal positions are chosen so the expected pairs can be counted by eye)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.beam_outputs import StageOutputs
from pipeline.minhash.pairs import earlier_similar, equal_values_needed, stack_signatures
from pipeline.stages.dedup.near import bucket_edges
from pipeline.trajectories.prompt_dedup import bucket_losers

# C is the middle of a chain: A agrees with C on positions 0-7, B on positions 2-9, so A~C and B~C
# share 8 of 10 values while A and B share only 6 (positions 2-7).
C = np.arange(100, 110, dtype=np.uint32)
A = C.copy()
A[8:] = [1, 2]
B = C.copy()
B[:2] = [3, 4]
FAR = np.arange(500, 510, dtype=np.uint32)


@pytest.mark.parametrize(
    ("threshold", "num_perm", "needed"),
    [(0.8, 10, 8), (0.7, 10, 7), (0.55, 100, 55), (0.8, 128, 103), (0.75, 128, 96), (0.5, 9, 5)],
)
def test_equal_values_needed_is_the_smallest_count_reaching_the_threshold(threshold, num_perm, needed):
    assert equal_values_needed(threshold, num_perm) == needed


def test_earlier_similar_lists_every_earlier_match_in_order():
    sigs = stack_signatures([A.tobytes(), B.tobytes(), C.tobytes(), FAR.tobytes()], "uint32")
    assert sigs.shape == (4, 10)
    got = [(j, found.tolist()) for j, found in earlier_similar(sigs, 0.8)]
    assert got == [(2, [0, 1])]  # B is not similar to A; FAR to nothing
    assert [(j, found.tolist()) for j, found in earlier_similar(sigs, 0.6)] == [(1, [0]), (2, [0, 1])]


def test_prompt_losers_drop_each_prompt_that_matches_an_earlier_one():
    members = [(("c", "hc"), C.tobytes()), (("a", "ha"), A.tobytes()), (("b", "hb"), B.tobytes()), (("a", "ha"), A.tobytes())]
    # B matches only the later C, so it stays; C loses to the first earlier match, A.
    assert list(bucket_losers(members, 0.8)) == [("hc", "a")]
    assert list(bucket_losers(members[:1], 0.8)) == []


def test_dedup_bucket_edges_join_the_chain_into_one_cluster():
    members = [("c", C.tobytes()), ("a", A.tobytes()), ("b", B.tobytes()), ("z", FAR.tobytes())]
    assert sorted(bucket_edges(members, 0.8, True, np.uint32)) == [("b", "a"), ("c", "a")]


def test_stage_outputs_read_as_attributes():
    out = StageOutputs(kept=1, decisions=2)
    assert (out.kept, out.decisions, out["kept"]) == (1, 2, 1)
    with pytest.raises(AttributeError):
        out.signatures
    # out.items would be dict.items, not the PCollection: such a name is refused where it is made
    with pytest.raises(ValueError, match="items"):
        StageOutputs(items=1, decisions=2)
