"""The Beam half of stage ``dedup`` (see :mod:`pipeline.stages.dedup` for what it decides and how):
its PTransform, DoFns and held batches; imported when the graph is built."""
from __future__ import annotations

import hashlib
import pickle
import tempfile

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from pipeline import progress
from pipeline.beam_outputs import StageOutputs
from pipeline.minhash import MinHasher, band_keys, exact_key_of_normalized, normalize, optimal_bands
from pipeline.records import DROP, SIGNATURES_SCHEMA, Reason, decision_row
from pipeline.stages.dedup.exact import EXACT_VERDICTS, V_EXACT_DROP, V_GROUP, V_NEAR, ExactDedup
from pipeline.stages.dedup import _against_paths
from pipeline.stages.dedup.near import NearDedup
from pipeline.stages.dedup.packing import PackPerBundle

STAGE = "dedup"
PRIOR = "!"  # node-id prefix of documents from an earlier release: sorts before every hex doc_id
_K = "_dedup"  # internal record key: (exact_key, signature bytes or None)
HOLD_DIR = "_dedup"  # under the run's staging folder: the held batches
SIG_DIR = "_dedup_sigs"  # under the run's staging folder: each held batch's signatures, for near dedup's checks
_HOLD_LEVEL = 1  # zstd level of held batches: fast; they are read once and deleted with the staging folder


def _local_staging() -> str:
    """A temporary folder for held batches when no run staging folder is given, removed when the
    process that built the pipeline exits."""
    import atexit
    import shutil

    path = tempfile.mkdtemp(prefix="curate-dedup-")
    atexit.register(shutil.rmtree, path, True)
    return path


def hold_name(batch: list[dict]) -> str:
    """A held batch's file name, from its doc_ids: a retried bundle rewrites the same file."""
    digest = hashlib.sha1("\n".join(r["doc_id"] for r in batch).encode("utf-8")).hexdigest()
    return f"{digest}.pkl.zst"


def write_held(path: str, batch: list[dict]) -> None:
    import zstandard

    data = zstandard.ZstdCompressor(level=_HOLD_LEVEL).compress(pickle.dumps(batch, protocol=5))
    with FileSystems.create(path) as fh:
        fh.write(data)


def read_held(path: str) -> list[dict]:
    import zstandard

    with FileSystems.open(path) as fh:
        data = fh.read()
    return pickle.loads(zstandard.ZstdDecompressor().decompress(data))


def signatures_path(sig_dir: str, name: str) -> str:
    """Where the signatures of held batch ``name`` are written (a plain pickle: MinHash values do
    not compress)."""
    return FileSystems.join(sig_dir, name.split(".", 1)[0] + ".sigs.pkl")


def write_signatures(path: str, doc_ids: list[str], sigs: np.ndarray) -> None:
    """A held batch's signatures (one row per doc_id, documents without shingles left out)."""
    with FileSystems.create(path) as fh:
        fh.write(pickle.dumps((doc_ids, np.ascontiguousarray(sigs)), protocol=5))


def read_signatures(path: str) -> dict[str, bytes]:
    """doc_id → signature bytes of one held batch, as :func:`write_signatures` wrote them."""
    with FileSystems.open(path) as fh:
        doc_ids, sigs = pickle.loads(fh.read())
    return {doc_id: sigs[i].tobytes() for i, doc_id in enumerate(doc_ids)}


def signature_batch(signed: list[tuple], run_id: str, dtype) -> pa.RecordBatch:
    """Rows of :data:`~pipeline.records.SIGNATURES_SCHEMA` for kept records ``(doc_id, exact key,
    signature bytes or None, lang)``, built as one Arrow batch from the signatures' bytes: the
    same rows as one dict per record with its signature as a list of ints (tested), without a
    Python int per signature value."""
    n = len(signed)
    doc_ids, keys, sigs, langs = zip(*signed)
    present = [sig is not None for sig in sigs]
    values = np.frombuffer(b"".join(sig for sig in sigs if sig is not None), dtype=dtype).astype(np.uint32, copy=False)
    width = values.size // max(1, sum(present))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.asarray(present, dtype=np.int32) * width, out=offsets[1:])
    minhash = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values, type=pa.uint32()), mask=None if all(present) else pa.array([not p for p in present])
    )
    string = pa.string()
    columns = [pa.array(doc_ids, string), pa.array(keys, string), minhash, pa.array(langs, string), pa.array([run_id] * n, string)]
    return pa.RecordBatch.from_arrays(columns, schema=SIGNATURES_SCHEMA)


__all__ = ["DedupStage", "STAGE"]


def _dedup_section(config):
    return getattr(config, "dedup", config)


class _Prepare(beam.DoFn):
    """Batch → ``(exact_key, (node, band_keys))`` (band keys as little-endian uint64 bytes, see
    :func:`~pipeline.stages.dedup.near._memberships`) on the main output, a node being
    ``(doc_id, held file name)``; the batch is written to a held file, named once on ``held``; with
    near dedup verifying pairs, the signatures of its documents with shingles go to a file of the
    same name under ``sig_dir``.

    The node carries its held file, so every verdict goes straight to its file (no join of all
    doc_ids with their files), and near dedup reads the signatures of the few candidate documents
    from their batch's file instead of shuffling every document's 512 bytes into a join."""

    def __init__(self, dedup_config, hold_dir: str, sig_dir: str) -> None:
        self._cfg = dedup_config
        self._hold_dir = hold_dir
        self._sig_dir = sig_dir
        self._hasher = None
        self._bands = None
        self._verify = bool(dedup_config.near and dedup_config.verify_jaccard)

    def setup(self) -> None:
        from pipeline.runtime import tune_gc

        tune_gc()
        if self._cfg.near:
            self._hasher = MinHasher.from_config(self._cfg)
            self._bands = optimal_bands(self._cfg.threshold, self._cfg.num_perm)

    def process(self, batch):
        if not batch:
            return
        # normalised once: the exact key and the shingles both start from it
        norms = [normalize(r.get("text") if isinstance(r.get("text"), str) else "") for r in batch]
        sigs = keys = empty = None
        if self._hasher is not None:
            sigs = self._hasher.signatures_of_normalized(norms, [r.get("lang") for r in batch])
            keys = band_keys(sigs, *self._bands).astype("<u8", copy=False)
            empty = (sigs == self._hasher.empty_value).all(axis=1)
        name = hold_name(batch)
        for i, (record, norm) in enumerate(zip(batch, norms)):
            key = exact_key_of_normalized(norm)
            sig = bands = None
            if sigs is not None:
                sig = sigs[i].tobytes()
                if not empty[i]:
                    bands = keys[i].tobytes()
            record[_K] = (key, sig)
            yield key, ((record["doc_id"], name), bands)
        if self._verify and sigs is not None:
            shingled = np.flatnonzero(~empty)
            write_signatures(
                signatures_path(self._sig_dir, name), [batch[i]["doc_id"] for i in shingled.tolist()], sigs[shingled]
            )
        write_held(FileSystems.join(self._hold_dir, name), batch)
        yield pvalue.TaggedOutput("held", (name, None))


class _PriorSignatures(beam.DoFn):
    """Rows of an earlier release's signatures → ``(exact_key, (node, band_keys))`` as :class:`_Prepare`
    emits them, the node ``(PRIOR + doc_id, "")`` (no held file: nothing to apply), and
    ``(node, signature bytes)`` on ``sigs`` for near dedup's checks."""

    def __init__(self, dedup_config) -> None:
        self._cfg = dedup_config
        self._bands = None
        self._dtype = None
        self._verify = bool(dedup_config.near and dedup_config.verify_jaccard)

    def setup(self) -> None:
        hasher = MinHasher.from_config(self._cfg)
        self._dtype = hasher.dtype
        self._empty = hasher.empty_value
        self._bands = optimal_bands(self._cfg.threshold, self._cfg.num_perm) if self._cfg.near else None

    def process(self, row):
        node = (PRIOR + row["doc_id"], "")
        bands = None
        values = row.get("minhash")
        if self._bands is not None and values is not None:
            if len(values) != self._cfg.num_perm:
                raise ValueError(
                    f"dedup.against: a signature has {len(values)} values but dedup.num_perm is "
                    f"{self._cfg.num_perm}; compare releases made with the same MinHash settings"
                )
            arr = np.asarray(values, dtype=self._dtype)
            if not (arr == self._empty).all():
                bands = band_keys(arr[None, :], *self._bands)[0].astype("<u8", copy=False).tobytes()
                if self._verify:
                    yield pvalue.TaggedOutput("sigs", (node, arr.tobytes()))
        yield row["exact_hash"], (node, bands)


def _near_verdict(label):
    """(node, representative node) → (held file, (doc_id, (V_NEAR, representative doc_id))); nodes of
    an earlier release have no file: nothing to apply."""
    (doc_id, name), (rep, _) = label
    if name:
        yield name, (doc_id, (V_NEAR, rep))


class _ApplyHeld(beam.DoFn):
    """(file, [[(doc_id, verdict), ...] | None, ...]) → the held batch's kept records as one batch,
    decisions rows for its dropped ones, one Arrow batch of signature rows for its kept ones."""

    def __init__(self, hold_dir: str, run_id: str, threshold: float, dtype: str) -> None:
        self._hold_dir = hold_dir
        self._run_id = run_id
        self._threshold = threshold
        self._dtype = dtype

    def process(self, kv):
        name, values = kv
        verdicts: dict[str, list] = {}
        for pack in values:
            if pack is not None:
                for doc_id, verdict in pack:
                    verdicts.setdefault(doc_id, []).append(verdict)
        kept = []
        dropped = 0
        signed: list[tuple] = []  # (doc_id, exact key, signature bytes or None, lang) of kept records
        for record in read_held(FileSystems.join(self._hold_dir, name)):
            doc_id = record["doc_id"]
            exact_drop = near = None
            group = False
            for kind, other in verdicts.get(doc_id, ()):
                if kind == V_EXACT_DROP:
                    exact_drop = other
                elif kind == V_NEAR:
                    near = other
                elif kind == V_GROUP:
                    group = True
            key, sig = record.pop(_K)
            if exact_drop is not None:
                dropped += 1
                yield pvalue.TaggedOutput("decisions", self._drop(record, Reason.EXACT_DUPLICATE, exact_drop, None))
            elif near is not None and near != doc_id:
                dropped += 1
                yield pvalue.TaggedOutput(
                    "decisions", self._drop(record, Reason.NEAR_DUPLICATE, near, {"threshold": self._threshold})
                )
            else:
                record["dup_cluster"] = near if near is not None else (doc_id if group else None)
                kept.append(record)
                signed.append((doc_id, key, sig, record.get("lang")))
        if signed:
            yield pvalue.TaggedOutput("signatures", signature_batch(signed, self._run_id, self._dtype))
        if dropped:
            progress.add(progress.DROPPED, dropped)
        if kept:
            yield kept

    def finish_bundle(self):
        progress.flush()  # the run's last progress line shows every bundle's counts

    def _drop(self, record, reason, other, detail):
        if other.startswith(PRIOR):
            other = other[len(PRIOR) :]
            detail = {**(detail or {}), "prior_release": True}
        return decision_row(record, action=DROP, stage=STAGE, reason=reason, detail=detail, dup_of=other, run_id=self._run_id)


class DedupStage(beam.PTransform):
    """Batches of records in; ``.kept`` batches, ``.decisions`` rows and ``.signatures`` out (Arrow
    record batches of :data:`~pipeline.records.SIGNATURES_SCHEMA`, one per held batch).

    ``staging`` is a folder every worker can read and write (the run's staging folder); batches are
    held under ``staging/_dedup`` until their verdicts are known. Without it (tests, one machine)
    a local temporary folder is used.
    """

    def __init__(self, config, run_id: str, staging: str | None = None, local: bool = True) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._staging = staging
        self._local = local  # the local runner: `dedup.components: auto` finds clusters in one step

    def expand(self, batches):
        cfg = _dedup_section(self._config)
        dtype = np.dtype(MinHasher.from_config(cfg).dtype).str
        staging = self._staging or _local_staging()
        hold_dir = FileSystems.join(staging, HOLD_DIR)

        sig_dir = FileSystems.join(staging, SIG_DIR)

        prepared = batches | "prepare" >> beam.ParDo(_Prepare(cfg, hold_dir, sig_dir)).with_outputs("held", main="light")
        light, prior_sigs = prepared.light, None
        against = list(getattr(cfg, "against", None) or [])
        if against:
            priors = [
                batches.pipeline
                | f"against{i}:read" >> beam.io.ReadFromParquet(pattern, columns=["doc_id", "exact_hash", "minhash"])
                | f"against{i}:light" >> beam.ParDo(_PriorSignatures(cfg)).with_outputs("sigs", main="light")
                for i, pattern in enumerate(_against_paths(against))
            ]
            light = [light, *(p.light for p in priors)] | "against:flatten" >> beam.Flatten()
            prior_sigs = [p.sigs for p in priors] | "against:sigs" >> beam.Flatten()

        # (held file, None) so that every file meets ``apply``; verdicts as (held file, [(doc_id, verdict), ...])
        verdicts = [prepared.held]
        if cfg.exact:
            exact = light | "exact" >> ExactDedup()
            survivors = exact.survivors
            verdicts.append(exact[EXACT_VERDICTS] | "exact:verdicts:pack" >> beam.ParDo(PackPerBundle()))
        else:
            survivors = light | "no-exact" >> beam.Values()
        if cfg.near:
            labels = survivors | "near" >> NearDedup(
                cfg.threshold, cfg.verify_jaccard, cfg.max_iterations, dtype, self._one_step_bound(cfg),
                sig_dir=sig_dir, prior_signatures=prior_sigs,
            )
            verdicts.append(
                labels | "near:verdicts" >> beam.FlatMap(_near_verdict) | "near:verdicts:pack" >> beam.ParDo(PackPerBundle())
            )

        out = (
            verdicts
            | "route" >> beam.Flatten()
            | "by-file:group" >> beam.GroupByKey()
            | "apply" >> beam.ParDo(_ApplyHeld(hold_dir, self._run_id, cfg.threshold, dtype)).with_outputs(
                "decisions", "signatures", main="kept"
            )
        )
        return StageOutputs(kept=out.kept, decisions=out.decisions, signatures=out.signatures)

    def _one_step_bound(self, cfg) -> int:
        """The one-step components' node bound, or 0 for the distributed rounds."""
        mode = cfg.components
        one_step = mode == "one_step" or (mode == "auto" and self._local)
        return cfg.one_step_max_nodes if one_step else 0
