"""The one place the Beam graph is wired from the config, stage by stage.

    ingest → license → langid → quality → pii  ─┬→ dedup (first shuffle) → documents, signatures
                                                 └→ trajectories (when enabled)
    every stage's drops/quarantines ──────────────→ decisions

Per-record stages are fused ParDos over batches of records and all run before the first shuffle;
PII is scrubbed before any text is shuffled or written (quarantine excerpts included). Small run
metadata (shard infos, input stats, decision counts) is written as JSON lines next to the staged
shards and read back by the driver to commit the run.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from pipeline.config import Config
from pipeline.io.shards import WriteShards
from pipeline.records import document_row, final_keep_row

# Per-record stages in SPEC.md order: (config section, "module:PTransform").
RECORD_STAGES = [
    ("license", "pipeline.stages.license:LicenseStage"),
    ("langid", "pipeline.stages.langid:LanguageStage"),
    ("quality", "pipeline.stages.quality:QualityStage"),
    ("pii", "pipeline.stages.pii:PiiStage"),
]
DEDUP_STAGE = "pipeline.stages.dedup:DedupStage"
TRAJECTORY_STAGE = "pipeline.trajectories.stage:TrajectoryStage"
TABLES = ["documents", "decisions", "quarantine", "signatures", "trajectories"]
META_DIR = "_meta"


def load_transform(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def enabled_stages(cfg: Config) -> list[str]:
    names = [name for name, _ in RECORD_STAGES if getattr(cfg, name).enabled]
    if cfg.dedup.enabled and (cfg.dedup.exact or cfg.dedup.near):
        names.append("dedup")
    if cfg.trajectories.enabled:
        names.append("trajectories")
    return names


class _DocumentsAndKeepDecisions(beam.DoFn):
    """Kept records → document rows (main) and their final `keep` decisions rows."""

    def __init__(self, run_id: str):
        self._run_id = run_id

    def process(self, batch):
        docs = [document_row(r, self._run_id) for r in batch]
        yield docs
        yield pvalue.TaggedOutput("decisions", [final_keep_row(r, self._run_id) for r in batch])


class _ScrubQuarantine(beam.DoFn):
    """Quarantine rows keep a raw excerpt; with PII on, the excerpt is scrubbed before it is written."""

    def __init__(self, config: Config):
        self._config = config

    def setup(self):
        from pipeline.pii.engine import PiiEngine

        self._engine = PiiEngine.from_config(self._config)

    def process(self, row):
        raw = row.get("raw") or b""
        if raw:
            text, _counts = self._engine.scrub(raw.decode("utf-8", errors="replace"), None)
            row = dict(row, raw=text.encode("utf-8"))
        yield row


def _write_jsonl(pcoll, staging: str, name: str):
    return pcoll | f"{name}:json" >> beam.Map(lambda r: json.dumps(r, sort_keys=True, default=str)) | (
        f"{name}:write" >> beam.io.WriteToText(FileSystems.join(staging, META_DIR, name), file_name_suffix=".jsonl")
    )


class CountDecisions(beam.CombineFn):
    """(stage, action, reason) → count over decisions rows or batches of rows; combiner-lifted."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, element):
        for row in element if isinstance(element, list) else (element,):
            key = (row["stage"], row["action"], row["reason"])
            acc[key] = acc.get(key, 0) + 1
        return acc

    def merge_accumulators(self, accs):
        merged = {}
        for acc in accs:
            for key, n in acc.items():
                merged[key] = merged.get(key, 0) + n
        return merged

    def extract_output(self, acc):
        return acc


@dataclass
class GraphHandles:
    staging: str


def build(p: beam.Pipeline, cfg: Config, files: list[dict], staging: str, run_id: str) -> GraphHandles:
    from pipeline.io.sources import ReadInputs

    run = cfg.run
    ingest = p | "ingest" >> ReadInputs(files, run, run_id)
    records = ingest.records
    decisions = [ingest.decisions]
    quarantine = ingest.quarantine
    if cfg.pii.enabled:
        quarantine = quarantine | "quarantine:pii" >> beam.ParDo(_ScrubQuarantine(cfg))

    for name, path in RECORD_STAGES:
        if not getattr(cfg, name).enabled:
            continue
        out = records | name >> load_transform(path)(cfg, run_id)
        records = out.kept
        decisions.append(out.decisions)

    signatures = None
    if cfg.dedup.enabled and (cfg.dedup.exact or cfg.dedup.near):
        out = records | "dedup" >> load_transform(DEDUP_STAGE)(cfg, run_id)
        records = out.kept
        decisions.append(out.decisions)
        signatures = out.signatures

    final = records | "output" >> beam.ParDo(_DocumentsAndKeepDecisions(run_id)).with_outputs("decisions", main="documents")
    decisions.append(final.decisions)  # batches (lists) of rows; writers and counters take both

    shard_infos = [
        final.documents | "write:documents" >> WriteShards("documents", staging, run, run_id, sort_key="doc_id"),
        quarantine | "write:quarantine" >> WriteShards("quarantine", staging, run, run_id, sort_key="doc_id"),
    ]
    if signatures is not None:
        shard_infos.append(signatures | "write:signatures" >> WriteShards("signatures", staging, run, run_id, sort_key="doc_id"))

    if cfg.trajectories.enabled:
        traj = records | "trajectories" >> load_transform(TRAJECTORY_STAGE)(cfg, run_id)
        decisions.append(traj.decisions)
        shard_infos.append(traj.samples | "write:trajectories" >> WriteShards("trajectories", staging, run, run_id, sort_key="sample_id"))

    all_decisions = decisions | "decisions:flatten" >> beam.Flatten()
    shard_infos.append(all_decisions | "write:decisions" >> WriteShards("decisions", staging, run, run_id, sort_key="doc_id"))

    counts = (
        all_decisions
        | "counts:combine" >> beam.CombineGlobally(CountDecisions())
        | "counts:rows" >> beam.FlatMap(lambda acc: [dict(stage=k[0], action=k[1], reason=k[2], n=n) for k, n in sorted(acc.items())])
    )
    _write_jsonl(counts, staging, "counts")
    _write_jsonl(ingest.inputs, staging, "inputs")
    _write_jsonl(shard_infos | "shards:flatten" >> beam.Flatten(), staging, "shards")
    return GraphHandles(staging=staging)


def read_meta(staging: str, name: str) -> list[dict]:
    rows = []
    for match in FileSystems.match([FileSystems.join(staging, META_DIR, f"{name}*.jsonl")]):
        for meta in sorted(match.metadata_list, key=lambda m: m.path):
            with FileSystems.open(meta.path) as fh:
                for line in fh.read().decode("utf-8").splitlines():
                    if line.strip():
                        rows.append(json.loads(line))
    return rows

