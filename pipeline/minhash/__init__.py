"""MinHash shared by the dedup stage and any tool that compares against a release's signatures."""
from pipeline.minhash.lsh import band_keys, optimal_bands
from pipeline.minhash.minhash import SCHEME, MinHasher, jaccard, permutations
from pipeline.minhash.shingles import exact_key, exact_key_of_normalized, normalize

__all__ = [
    "SCHEME",
    "MinHasher",
    "band_keys",
    "exact_key",
    "exact_key_of_normalized",
    "jaccard",
    "normalize",
    "optimal_bands",
    "permutations",
]
