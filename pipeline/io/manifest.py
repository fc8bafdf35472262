"""manifest.json — the commit marker of a run — and `curate verify`.

The manifest is written last, under a temporary name then renamed, so a half-written OUT never
looks done. It records what went in (inputs with sha256, bytes, records), what came out (every
shard with sha256, rows, bytes), how (resolved config and its sha256, the sha256 of every rules file
and of the language-ID model, runner and sanitized options) and what happened (stage_counts derived
from the decisions rows, so every number traces back to a row).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
from collections import defaultdict

import pyarrow.parquet as pq

import pipeline
from pipeline.io.fs import FileSystems  # Beam's, imported only for remote paths and writes
from pipeline.records import DROP, KEEP, QUARANTINE

MANIFEST = "manifest.json"
# Run machinery under OUT that is not part of a release (verify ignores it; readers never see it):
# the staging folder of a run in progress, or left by a killed run, and the run lock.
STAGING = "_staging"
LOCK = "_curate.lock"
TABLES = ["documents", "decisions", "quarantine", "signatures", "trajectories"]
# A committed shard: OUT/<table>/part-NNNNN.parquet, or part-NNNNN-<run_id>.parquet when a run
# replaces a release whose shards hold the plain names (the old files stay readable until commit).
SHARD_PATH = re.compile(r"^(%s)/part-[0-9]{5}(-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})?\.parquet$" % "|".join(TABLES))
# `curate report OUT` lists its HTML data card in `outputs` as {path, bytes, sha256, table: "report"}.
REPORT = "report.html"
REPORT_TABLE = "report"
# An erased document's decisions rows keep doc_id, action, stage and reason; their detail becomes
# this marker (see pipeline/erasure.py), so verify can recount what the release holds now.
ERASED_KEY = "erased_in_version"
ERASED_DETAIL_PREFIX = '{"%s": ' % ERASED_KEY
SIGNING_KEY_ENV = "CURATE_MANIFEST_KEY"
SIGNATURE_ALG = "HMAC-SHA256"
_SECRET = re.compile(r"(key|token|secret|password|passwd|credential|auth)", re.IGNORECASE)


def sanitize_options(options: dict) -> dict:
    """Beam options without secrets: any key that looks like a credential is redacted."""
    clean = {}
    for key, value in sorted(options.items()):
        if value is None or value is False or value == []:
            continue
        clean[key] = "<redacted>" if _SECRET.search(key) else value
    return json.loads(json.dumps(clean, default=str))


def merge_input_stats(files: list[dict], stats: list[dict]) -> list[dict]:
    by_uri: dict[str, dict] = {f["uri"]: {"uri": f["uri"], "bytes": f["size"], "sha256": None, "records": 0} for f in files}
    for row in stats:
        entry = by_uri.setdefault(row["uri"], {"uri": row["uri"], "bytes": None, "sha256": None, "records": 0})
        entry["records"] += int(row.get("records") or 0)
        if row.get("sha256"):
            entry["sha256"] = row["sha256"]
        if row.get("bytes") is not None:
            entry["bytes"] = int(row["bytes"])
    return [by_uri[k] for k in sorted(by_uri)]


def stage_counts(counts: list[tuple[str, str, str, int]], records_in: int) -> dict:
    """Per stage: in, out, dropped/quarantined by reason — from (stage, action, reason, n) of decisions.

    Per-record stages form a chain, so a stage's ``in`` is the previous stage's ``out``; the order
    is the registry's (:mod:`pipeline.stages.registry`), and a stage it does not know is a plugin
    stage, placed where plugins run. The trajectory stage counts its own candidates.
    """
    from pipeline.stages import registry

    removed: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: {DROP: {}, QUARANTINE: {}, KEEP: {}})
    for stage, action, reason, n in counts:
        bucket = removed[stage][action]
        bucket[reason] = bucket.get(reason, 0) + int(n)
    result = {}
    flowing = records_in
    chain = registry.stage_order(extra=[s for s in removed if not registry.counts_separately(s)])
    stages = chain + sorted(s for s in removed if s not in chain)
    for stage in stages:
        if stage not in removed and stage not in ("ingest", "output"):
            continue
        r = removed[stage]
        if stage == "output":
            result["output"] = {"in": flowing, "out": sum(r[KEEP].values()), "kept_by_reason": dict(sorted(r[KEEP].items()))}
            continue
        n_drop = sum(r[DROP].values())
        n_quar = sum(r[QUARANTINE].values())
        if stage in chain:
            entry = {"in": flowing, "out": flowing - n_drop - n_quar}
            flowing = entry["out"]
        else:  # e.g. trajectory: candidates, not documents
            n_keep = sum(r[KEEP].values())
            entry = {"in": n_keep + n_drop + n_quar, "out": n_keep}
        entry["dropped"] = dict(sorted(r[DROP].items()))
        entry["quarantined"] = dict(sorted(r[QUARANTINE].items()))
        result[stage] = entry
    return result


def summary_counts(counts: dict, records_in: int) -> dict:
    """The count fields of a run summary, all derived from ``stage_counts``."""
    from pipeline.stages import registry

    dropped: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    for stage, entry in counts.items():
        if stage == "output" or registry.counts_separately(stage):
            continue
        for reason, n in entry.get("dropped", {}).items():
            dropped[f"{stage}/{reason}"] = dropped.get(f"{stage}/{reason}", 0) + n
        for reason, n in entry.get("quarantined", {}).items():
            quarantined[f"{stage}/{reason}"] = quarantined.get(f"{stage}/{reason}", 0) + n
    summary = {
        "records_in": records_in,
        "kept": counts.get("output", {}).get("out", 0),
        "dropped": sum(dropped.values()),
        "dropped_by_reason": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "quarantined": sum(quarantined.values()),
        "quarantined_by_reason": dict(sorted(quarantined.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    if "trajectory" in counts:
        entry = counts["trajectory"]
        # A trajectory decisions row's reason is the first failed check (or the step that dropped the
        # prompt: teacher_error, near_duplicate_prompt, …); quarantines (stage_error) count as rejections too.
        rejected: dict[str, int] = {}
        for reason, n in [*entry.get("dropped", {}).items(), *entry.get("quarantined", {}).items()]:
            rejected[reason] = rejected.get(reason, 0) + n
        summary["trajectories"] = {
            "candidates": entry["in"],
            "accepted": entry["out"],
            "rejected_by_check": dict(sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
    return summary


def build_manifest(
    *,
    run_id: str,
    config,
    rules: dict[str, str],
    langid_model: dict | None,
    runner: str,
    options: dict,
    inputs: list[dict],
    outputs: list[dict],
    counts: dict,
    summary: dict,
    extra: dict | None = None,
) -> dict:
    resolved = config.to_dict()
    return {
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pipeline_version": pipeline.__version__,
        "config": resolved,
        "config_sha256": config.sha256(),
        "rules": rules,
        "langid_model": langid_model,
        "runner": runner,
        "options": options,
        "inputs": inputs,
        "outputs": outputs,
        "stage_counts": counts,
        "summary": summary,
        **(extra or {}),
    }


def canonical_json(manifest: dict) -> bytes:
    """The bytes the signature covers: the manifest without its ``signature``, keys sorted, compact."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def signing_key() -> bytes | None:
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode("utf-8") if key else None


def sign(manifest: dict, key: bytes) -> dict:
    """``manifest`` with ``signature``: HMAC-SHA256 over :func:`canonical_json`."""
    digest = hmac.new(key, canonical_json(manifest), hashlib.sha256).hexdigest()
    return {**manifest, "signature": {"alg": SIGNATURE_ALG, "key_env": SIGNING_KEY_ENV, "value": digest}}


def encode_manifest(manifest: dict) -> bytes:
    key = signing_key()
    if key:
        manifest = sign(manifest, key)
    return json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8")


def write_manifest(out: str, manifest: dict) -> str:
    """Write OUT/manifest.json atomically (temporary name, then rename): the rename is the commit point."""
    final = FileSystems.join(out, MANIFEST)
    temp = FileSystems.join(out, f".{MANIFEST}.{manifest['run_id']}.tmp")
    from pipeline.io.shards import sync_local

    with FileSystems.create(temp) as fh:
        fh.write(encode_manifest(manifest))
    sync_local(temp)
    FileSystems.rename([temp], [final])
    sync_local(out)
    return final


def read_manifest(out: str) -> dict:
    with FileSystems.open(FileSystems.join(out, MANIFEST)) as fh:
        return json.loads(fh.read().decode("utf-8"))


def release_root(against: str) -> str:
    """The OUT folder a ``dedup.against`` entry reads from: ``OUT``, ``OUT/signatures`` or a
    Parquet glob under ``OUT/signatures/``."""
    path = against.rstrip("/")
    if any(ch in path for ch in "*?[") or path.endswith(".parquet"):
        path = path.rsplit("/", 1)[0]
    if path.rsplit("/", 1)[-1] == "signatures":
        path = path.rsplit("/", 1)[0]
    return path


def dedup_release(against: str) -> dict:
    """``{path, run_id, manifest_sha256}`` of the release a ``dedup.against`` entry names, read
    from its manifest.json; ``run_id`` and ``manifest_sha256`` are None when there is none (a bare
    signatures folder)."""
    root = release_root(against)
    entry = {"path": root, "run_id": None, "manifest_sha256": None}
    try:
        with FileSystems.open(FileSystems.join(root, MANIFEST)) as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
        run_id = json.loads(data.decode("utf-8")).get("run_id")
    except (IOError, OSError, ValueError, AttributeError):
        return entry
    entry.update(run_id=run_id if isinstance(run_id, str) else None, manifest_sha256=hashlib.sha256(data).hexdigest())
    return entry


def checked_release_signatures(out: str) -> str:
    """``OUT/signatures`` of an earlier release named by ``curate run --dedup-against OUT``, once
    OUT has a manifest and passes verify (a release whose files changed since its run cannot be
    named by its manifest hash). A ``ConfigError`` (exit 2) naming OUT otherwise."""
    from pipeline.config import ConfigError

    if not FileSystems.exists(FileSystems.join(out, MANIFEST)):
        raise ConfigError(f"--dedup-against {out}: no {MANIFEST} (not a curate release, or its run did not finish)")
    problems = verify(out)
    if problems:
        raise ConfigError(f"--dedup-against {out}: fails curate verify ({len(problems)} problem(s), first: {problems[0]})")
    return FileSystems.join(out, "signatures")


# --- verify ---------------------------------------------------------------------------------
# A manifest larger than this is not one curate wrote (it lists files, not data).
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_CHUNK = 4 * 1024 * 1024


def is_machinery(rel: str) -> bool:
    """Paths under OUT that belong to a run in progress (or a killed one), not to the release."""
    first = rel.split("/", 1)[0]
    return first == STAGING or first.startswith(LOCK) or (first.startswith(f".{MANIFEST}.") and first.endswith(".tmp"))


def list_files(out: str) -> list[str]:
    """Every file under OUT, relative to OUT."""
    prefix = out.rstrip("/") + "/"
    found = []
    for match in FileSystems.match([prefix + "**"]):
        for meta in match.metadata_list:
            found.append(meta.path[len(prefix):] if meta.path.startswith(prefix) else meta.path)
    return sorted(found)


def _load_for_verify(out: str) -> tuple[dict | None, list[str]]:
    where = FileSystems.join(out, MANIFEST)
    try:
        with FileSystems.open(where) as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except (IOError, OSError):
        return None, [f"{where}: missing (the run did not finish, or this is not a run output)"]
    if len(data) > MAX_MANIFEST_BYTES:
        return None, [f"{where}: larger than {MAX_MANIFEST_BYTES >> 20} MB, not a curate manifest"]
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, [f"{where}: not UTF-8"]
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, [f"{where}: not valid JSON ({getattr(exc, 'msg', type(exc).__name__)})"]
    if not isinstance(manifest, dict):
        return None, [f"{where}: top level is {_json_type(manifest)}, not an object"]
    return manifest, []


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_report_entry(entry) -> bool:
    """The outputs entry of OUT/report.html (no rows: it is not a table shard)."""
    return isinstance(entry, dict) and entry.get("table") == REPORT_TABLE and entry.get("path") == REPORT


def _check_structure(manifest: dict) -> list[str]:
    """Problems with the manifest's own shape (the keys verify relies on)."""
    problems = []
    expect = {"run_id": str, "outputs": list, "inputs": list, "stage_counts": dict, "summary": dict}
    for key, kind in expect.items():
        if key not in manifest:
            problems.append(f"manifest: key '{key}' is missing")
        elif not isinstance(manifest[key], kind):
            problems.append(f"manifest: key '{key}' is {_json_type(manifest[key])}, expected {_json_type(kind())}")
    if isinstance(manifest.get("outputs"), list):
        seen = set()
        for i, entry in enumerate(manifest["outputs"]):
            if not isinstance(entry, dict):
                problems.append(f"manifest: outputs[{i}] is {_json_type(entry)}, not an object")
                continue
            for key, ok, what in (("path", lambda v: isinstance(v, str), "a string"),
                                  ("sha256", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v), "64 hex digits"),
                                  ("rows", lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
                                  ("bytes", lambda v: _is_int(v) and v >= 0, "a non-negative integer")):
                if key == "rows" and is_report_entry(entry):
                    continue
                if key not in entry:
                    problems.append(f"manifest: outputs[{i}].{key} is missing")
                elif not ok(entry[key]):
                    problems.append(f"manifest: outputs[{i}].{key} must be {what}")
            path = entry.get("path")
            if isinstance(path, str):
                if not SHARD_PATH.match(path) and not is_report_entry(entry):
                    # also keeps a tampered manifest from pointing verify outside OUT
                    problems.append(f"manifest: outputs[{i}].path is not a shard path (<table>/part-NNNNN.parquet)")
                elif path in seen:
                    problems.append(f"manifest: outputs[{i}].path {path} is listed twice")
                seen.add(path)
    if isinstance(manifest.get("inputs"), list):
        for i, entry in enumerate(manifest["inputs"]):
            if not isinstance(entry, dict) or not _is_int(entry.get("records")) or entry["records"] < 0:
                problems.append(f"manifest: inputs[{i}].records must be a non-negative integer")
    return problems


def _hash_file(path: str) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with FileSystems.open(path) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _decision_counts(path: str) -> list[tuple[str, str, str, int]]:
    with FileSystems.open(path) as fh:
        table = pq.read_table(fh, columns=["stage", "action", "reason"])
    if not table.num_rows:
        return []
    grouped = table.group_by(["stage", "action", "reason"], use_threads=False).aggregate([("stage", "count")])
    return list(zip(*(grouped.column(c).to_pylist() for c in ("stage", "action", "reason", "stage_count"))))


def _erased_keeps(path: str) -> dict[str, int]:
    """Kept rows later erased, by stage (``output``: documents; ``trajectory``: samples)."""
    import pyarrow.compute as pc

    with FileSystems.open(path) as fh:
        table = pq.read_table(fh, columns=["stage", "action", "detail"])
    marked = pc.and_(pc.equal(table.column("action"), KEEP),
                     pc.starts_with(table.column("detail").fill_null(""), ERASED_DETAIL_PREFIX))
    stages = table.column("stage").filter(marked).to_pylist()
    return {stage: stages.count(stage) for stage in set(stages)}


def _language_totals(path: str) -> list[list]:
    from pipeline.tokens import language_totals

    with FileSystems.open(path) as fh:
        return language_totals(pq.read_table(fh, columns=["lang", "text"]))


def _check_languages(summary: dict, langs: dict[str, list[int]] | None) -> list[str]:
    """summary.languages (docs and text bytes per language) against the documents shards' rows.
    A manifest written before the field existed has no ``languages``: nothing to check."""
    if langs is None or "languages" not in summary:
        return []
    stated = summary["languages"]
    if not isinstance(stated, dict):
        return [f"manifest: summary.languages is {_json_type(stated)}, expected an object"]
    problems = []
    for lang in sorted(set(stated) | set(langs)):
        entry = stated.get(lang)
        docs, size = (langs.get(lang) or [0, 0, 0])[:2]
        if not isinstance(entry, dict) or entry.get("docs") != docs or entry.get("bytes") != size:
            problems.append(f"manifest: summary.languages[{lang!r}] does not match the documents shards "
                            f"({docs} docs, {size} text bytes)")
    return problems


def _check_signature(manifest: dict) -> list[str]:
    key = signing_key()
    if key is None:
        return []
    sig = manifest.get("signature")
    if sig is None:
        return [f"manifest: not signed, but ${SIGNING_KEY_ENV} is set"]
    if not isinstance(sig, dict) or sig.get("alg") != SIGNATURE_ALG or not isinstance(sig.get("value"), str):
        return [f"manifest: signature is malformed (expected {{\"alg\": \"{SIGNATURE_ALG}\", \"value\": hex}})"]
    try:
        expected = hmac.new(key, canonical_json(manifest), hashlib.sha256).hexdigest()
    except ValueError:
        return ["manifest: cannot be canonicalised for the signature check"]
    if not hmac.compare_digest(expected, sig["value"]):
        return [f"manifest: signature does not match (the manifest changed, or ${SIGNING_KEY_ENV} is not the key it was signed with)"]
    return []


def _check_counts(manifest: dict, rows: dict[str, int], decisions: list | None,
                  langs: dict[str, list[int]] | None = None, erased: dict[str, int] | None = None) -> list[str]:
    """Counts and summaries against the shards' row counts, the decisions rows themselves and the
    documents rows' languages and text bytes. ``erased``: kept rows an erasure removed since the run
    (by stage), which the run's stage_counts still count but the release no longer holds."""
    summary, counts = manifest["summary"], manifest["stage_counts"]
    erased = erased or {}
    problems = _check_languages(summary, langs)
    records_in = sum(e["records"] for e in manifest["inputs"])
    if summary.get("records_in") != records_in:
        problems.append(f"manifest: summary.records_in is {summary.get('records_in')!r} but the inputs hold {records_in} records")
    if summary.get("kept") != rows["documents"]:
        problems.append(f"manifest: summary.kept is {summary.get('kept')!r} but the documents shards hold {rows['documents']} rows")
    trajectory = counts.get("trajectory", {})
    accepted = trajectory.get("out") if isinstance(trajectory, dict) else None
    accepted = 0 if "trajectory" not in counts else accepted
    if _is_int(accepted):
        accepted -= erased.get("trajectory", 0)
    if accepted != rows["trajectories"]:
        less = f" (less {erased['trajectory']} erased)" if erased.get("trajectory") else ""
        problems.append(f"manifest: stage_counts.trajectory.out{less} is {accepted!r} but the trajectories shards hold {rows['trajectories']} rows")
    if decisions is None:
        return problems  # a decisions shard is already reported as damaged
    from pipeline.stages import registry

    record_rows = sum(n for stage, _, _, n in decisions if not registry.counts_separately(stage))
    if record_rows != records_in:
        problems.append(f"decisions: {record_rows} rows for input records, but the inputs hold {records_in} records (every record gets exactly one)")
    derived = stage_counts(decisions, records_in)
    if derived != counts:
        differing = sorted(set(derived) ^ set(counts) | {k for k in set(derived) & set(counts) if derived[k] != counts[k]})
        problems.append(f"manifest: stage_counts do not match the decisions rows (stages {', '.join(differing)})")
    expected = summary_counts(derived, records_in)
    expected["kept"] -= erased.get("output", 0)
    if "trajectories" in expected:
        expected["trajectories"]["accepted"] -= erased.get("trajectory", 0)
    stated = summary.get("erased")
    if erased and not isinstance(stated, dict):
        problems.append("manifest: decisions rows are marked erased but summary.erased is missing")
    elif isinstance(stated, dict):
        for key, stage in (("documents", "output"), ("trajectories", "trajectory")):
            if stated.get(key) != erased.get(stage, 0):
                problems.append(f"manifest: summary.erased.{key} is {stated.get(key)!r} but the decisions rows mark {erased.get(stage, 0)} erased")
    for key, value in expected.items():
        if summary.get(key) != value:
            problems.append(f"manifest: summary.{key} does not match the decisions rows")
    return problems


def _check_report(out: str, entry: dict) -> list[str]:
    try:
        size, digest = _hash_file(FileSystems.join(out, REPORT))
    except (IOError, OSError):
        return [f"{REPORT}: missing"]
    if size != entry.get("bytes"):
        return [f"{REPORT}: size {size} bytes, manifest says {entry.get('bytes')}"]
    if digest != entry.get("sha256"):
        return [f"{REPORT}: sha256 mismatch (file changed since curate report wrote it)"]
    return []


def verify(out: str) -> list[str]:
    """Problems found (empty list when OUT matches its manifest exactly). One line per problem;
    never raises on a damaged or hostile OUT."""
    manifest, problems = _load_for_verify(out)
    if manifest is None:
        return problems
    problems = _check_structure(manifest) + _check_signature(manifest)
    outputs = manifest["outputs"] if isinstance(manifest.get("outputs"), list) else []
    listed = set()
    rows = {table: 0 for table in TABLES}
    decisions: list | None = []
    erased: dict[str, int] = {}
    langs: dict[str, list[int]] | None = {}
    for entry in outputs:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if is_report_entry(entry) and rel not in listed:
            listed.add(rel)
            problems += _check_report(out, entry)
            continue
        if not isinstance(rel, str) or not SHARD_PATH.match(rel) or rel in listed:
            continue
        listed.add(rel)
        table = rel.split("/", 1)[0]
        path = FileSystems.join(out, rel)
        try:
            size, digest = _hash_file(path)
        except (IOError, OSError):
            problems.append(f"{rel}: missing")
            decisions = None if table == "decisions" else decisions
            continue
        damaged = False
        if size != entry.get("bytes"):
            problems.append(f"{rel}: size {size} bytes, manifest says {entry.get('bytes')}")
        if digest != entry.get("sha256"):
            problems.append(f"{rel}: sha256 mismatch (file changed since the run)")
            damaged = True
        if not damaged:
            try:
                with FileSystems.open(path) as fh:
                    n = pq.ParquetFile(fh).metadata.num_rows
                if table == "decisions" and decisions is not None:
                    decisions += _decision_counts(path)
                    for stage, marked in _erased_keeps(path).items():
                        erased[stage] = erased.get(stage, 0) + marked
                if table == "documents" and langs is not None:
                    from pipeline.tokens import add_language_totals

                    add_language_totals(langs, _language_totals(path))
            except Exception as exc:  # noqa: BLE001 - any parse failure is a verification failure
                problems.append(f"{rel}: unreadable Parquet ({type(exc).__name__})")
                damaged = True
            else:
                rows[table] += n
                if n != entry.get("rows"):
                    problems.append(f"{rel}: {n} rows, manifest says {entry.get('rows')}")
        if damaged and table == "decisions":
            decisions = None
    if isinstance(manifest.get("outputs"), list):
        for table in TABLES:
            if not any(rel.startswith(table + "/") for rel in listed):
                problems.append(f"manifest: no {table} shard listed (every run writes at least one per table)")
    from pipeline.io import versions

    for rel in list_files(out):
        if rel != MANIFEST and rel not in listed and not is_machinery(rel) and not versions.is_archive(rel):
            problems.append(f"{rel}: not listed in the manifest")
    problems += versions.check_archive(out, manifest)
    if not problems:
        problems += _check_counts(manifest, rows, decisions, langs, erased)
    return problems
