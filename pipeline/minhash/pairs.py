"""Which members of one LSH bucket are near duplicates: the pair check shared by the dedup stage
(clusters of documents) and the trajectory stage (near-duplicate prompts).

Two MinHash signatures estimate the Jaccard similarity of their shingle sets as the share of equal
values; a pair is similar when that share reaches the threshold.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np


def equal_values_needed(threshold: float, num_perm: int) -> int:
    """Equal signature values for an estimated Jaccard ≥ ``threshold`` (a threshold that is a whole
    number of values up to float rounding, such as 0.7 × 10, needs exactly that many)."""
    return int(np.ceil(threshold * num_perm - 1e-9))


def stack_signatures(blobs, dtype) -> np.ndarray:
    """Signature bytes (one blob per member, all of one length) → a (members, num_perm) array."""
    blobs = list(blobs)
    return np.frombuffer(b"".join(blobs), dtype=dtype).reshape(len(blobs), -1)


def similar_rows(candidates: np.ndarray, signature: np.ndarray, need: int) -> np.ndarray:
    """Indices of the rows of ``candidates`` sharing at least ``need`` values with ``signature``."""
    return np.flatnonzero(np.count_nonzero(candidates == signature, axis=1) >= need)


def earlier_similar(signatures: np.ndarray, threshold: float) -> Iterator[tuple[int, np.ndarray]]:
    """For each row ``j`` with a similar earlier row: ``(j, ascending indices i < j similar to j)``."""
    need = equal_values_needed(threshold, signatures.shape[1])
    for j in range(1, signatures.shape[0]):
        found = similar_rows(signatures[:j], signatures[j], need)
        if found.size:
            yield j, found
