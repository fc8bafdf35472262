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
import io
import json
import re
from collections import defaultdict

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

import pipeline
from pipeline.records import DROP, KEEP, QUARANTINE

MANIFEST = "manifest.json"
# Stage order of SPEC.md; `output` is where kept documents get their final decisions row.
STAGE_ORDER = ["ingest", "license", "langid", "quality", "pii", "dedup", "output"]
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

    Per-record stages form a chain, so a stage's ``in`` is the previous stage's ``out``. The
    trajectory stage counts its own candidates.
    """
    removed: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: {DROP: {}, QUARANTINE: {}, KEEP: {}})
    for stage, action, reason, n in counts:
        bucket = removed[stage][action]
        bucket[reason] = bucket.get(reason, 0) + int(n)
    result = {}
    flowing = records_in
    stages = STAGE_ORDER + sorted(s for s in removed if s not in STAGE_ORDER)
    for stage in stages:
        if stage not in removed and stage not in ("ingest", "output"):
            continue
        r = removed[stage]
        if stage == "output":
            result["output"] = {"in": flowing, "out": sum(r[KEEP].values()), "kept_by_reason": dict(sorted(r[KEEP].items()))}
            continue
        n_drop = sum(r[DROP].values())
        n_quar = sum(r[QUARANTINE].values())
        if stage in STAGE_ORDER:
            entry = {"in": flowing, "out": flowing - n_drop - n_quar}
            flowing = entry["out"]
        else:  # e.g. trajectory: candidates, not documents
            n_keep = sum(r[KEEP].values())
            entry = {"in": n_keep + n_drop + n_quar, "out": n_keep}
        entry["dropped"] = dict(sorted(r[DROP].items()))
        entry["quarantined"] = dict(sorted(r[QUARANTINE].items()))
        result[stage] = entry
    return result


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


def write_manifest(out: str, manifest: dict) -> str:
    """Write OUT/manifest.json atomically (temporary name, then rename)."""
    final = FileSystems.join(out, MANIFEST)
    temp = FileSystems.join(out, f".{MANIFEST}.{manifest['run_id']}.tmp")
    data = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8")
    with FileSystems.create(temp) as fh:
        fh.write(data)
    FileSystems.rename([temp], [final])
    return final


def read_manifest(out: str) -> dict:
    with FileSystems.open(FileSystems.join(out, MANIFEST)) as fh:
        return json.loads(fh.read().decode("utf-8"))


# --- verify ---------------------------------------------------------------------------------
def _list_files(out: str) -> list[str]:
    prefix = out.rstrip("/") + "/"
    found = []
    for match in FileSystems.match([prefix + "**"]):
        for meta in match.metadata_list:
            found.append(meta.path[len(prefix):] if meta.path.startswith(prefix) else meta.path)
    return sorted(found)


def verify(out: str) -> list[str]:
    """Problems found (empty list when OUT matches its manifest exactly)."""
    try:
        manifest = read_manifest(out)
    except (IOError, OSError, FileNotFoundError):
        return [f"{FileSystems.join(out, MANIFEST)}: missing (the run did not finish, or this is not a run output)"]
    except json.JSONDecodeError as exc:
        return [f"{FileSystems.join(out, MANIFEST)}: not valid JSON ({exc.msg})"]
    problems = []
    listed = set()
    for entry in manifest.get("outputs", []):
        rel = entry["path"]
        listed.add(rel)
        path = FileSystems.join(out, rel)
        try:
            with FileSystems.open(path) as fh:
                data = fh.read()
        except (IOError, OSError, FileNotFoundError):
            problems.append(f"{rel}: missing")
            continue
        if len(data) != entry["bytes"]:
            problems.append(f"{rel}: size {len(data)} bytes, manifest says {entry['bytes']}")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{rel}: sha256 mismatch (file changed since the run)")
            continue
        try:
            rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 - any parse failure is a verification failure
            problems.append(f"{rel}: unreadable Parquet ({type(exc).__name__})")
            continue
        if rows != entry["rows"]:
            problems.append(f"{rel}: {rows} rows, manifest says {entry['rows']}")
    for rel in _list_files(out):
        if rel != MANIFEST and rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    return problems
