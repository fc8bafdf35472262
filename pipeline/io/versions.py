"""Manifest versions: every run and every erasure of OUT is a version with a parent.

``OUT/manifest.json`` is always the current version. When a newer version commits, the bytes of the
one it replaces are archived unchanged as ``OUT/versions/v{N:06d}.json`` (written before the new
manifest's rename, so the chain is whole at every instant). A manifest without ``version`` (written
before versions existed) reads as version 1, kind ``run``, parent null.

The archive is part of the release: ``curate verify`` checks that every archived file has a
version name below the current one and that each version's ``parent.manifest_sha256`` matches the
archived bytes of its parent; ``curate verify OUT --version N`` checks an earlier version's files
where they still exist and names the later version that removed each missing one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re

from pipeline.io.fs import FileSystems  # Beam's, imported only for remote paths and writes

from pipeline.io.manifest import MANIFEST, MAX_MANIFEST_BYTES, SHARD_PATH, list_files

VERSIONS = "versions"
ARCHIVE_PATH = re.compile(r"^versions/v([0-9]{6})\.json$")
RUN, ERASURE = "run", "erasure"


def archive_rel(version: int) -> str:
    return f"{VERSIONS}/v{version:06d}.json"


def is_archive(rel: str) -> bool:
    return rel.split("/", 1)[0] == VERSIONS


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: str) -> bytes | None:
    """A manifest file's bytes; None when it is missing or too large to be one."""
    try:
        with FileSystems.open(path) as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except (IOError, OSError):
        return None
    return data if len(data) <= MAX_MANIFEST_BYTES else None


def parse(data: bytes | None) -> dict | None:
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def version_of(manifest: dict) -> int:
    value = manifest.get("version", 1)
    return value if _is_int(value) and value >= 1 else 1


def kind_of(manifest: dict) -> str:
    return manifest.get("kind") if manifest.get("kind") in (RUN, ERASURE) else RUN


def archived_versions(out: str) -> dict[int, str]:
    """``{version: rel path}`` of the archive files under ``OUT/versions/``."""
    found = {}
    prefix = FileSystems.join(out, VERSIONS)
    if not FileSystems.exists(prefix):
        return found
    for rel in list_files(out):
        match = ARCHIVE_PATH.match(rel)
        if match:
            found[int(match.group(1))] = rel
    return found


def next_version_fields(out: str, current: bytes | None, kind: str) -> dict:
    """``{version, kind, parent}`` of a version committed over ``current`` (the bytes of OUT's
    manifest.json read under the lock; None when OUT has none)."""
    previous = parse(current)
    archived = archived_versions(out)
    if previous is not None and isinstance(previous.get("run_id"), str) and isinstance(previous.get("outputs"), list):
        base = version_of(previous)
        parent = {"version": base, "manifest_sha256": sha256_hex(current)}
    else:  # no readable manifest: nothing to chain to, but keep numbering above the archive
        base, parent = max(archived, default=0), None
    return {"version": base + 1, "kind": kind, "parent": parent}


def archive(out: str, version: int, data: bytes) -> str:
    """Write the exact bytes of version ``version``'s manifest to ``OUT/versions/``; its rel path."""
    from pipeline.io.shards import sync_local, write_bytes

    try:
        FileSystems.mkdirs(FileSystems.join(out, VERSIONS))
    except IOError:
        pass  # exists already, or an object store without folders
    rel = archive_rel(version)
    write_bytes(FileSystems.join(out, rel), data)
    sync_local(FileSystems.join(out, rel))
    sync_local(FileSystems.join(out, VERSIONS))
    return rel


def remove_uncommitted_archives(out: str) -> None:
    """An interrupted commit may leave the archive of the version still current (or a later one):
    remove those (call holding the lock), so only versions below the current one stay."""
    from pipeline.io.outdir import delete_quietly

    manifest = parse(read_bytes(FileSystems.join(out, MANIFEST)))
    current = version_of(manifest) if manifest is not None else None
    for number, rel in archived_versions(out).items():
        if current is not None and number >= current:
            delete_quietly(FileSystems.join(out, rel))
    folder = FileSystems.join(out, VERSIONS)
    if FileSystems.get_scheme(out) in (None, "file") and os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)  # made by a commit that did not happen: OUT is left as it was


def check_archive(out: str, manifest: dict) -> list[str]:
    """Problems with ``OUT/versions/`` for the current ``manifest``: foreign names, archives at or
    above the current version, and parent hashes that do not match the archived bytes."""
    problems = []
    current = version_of(manifest)
    files = [rel for rel in list_files(out) if is_archive(rel)]
    archived = {}
    for rel in files:
        match = ARCHIVE_PATH.match(rel)
        if not match:
            problems.append(f"{rel}: not a version archive (versions/vNNNNNN.json)")
        elif int(match.group(1)) >= current:
            problems.append(f"{rel}: archives version {int(match.group(1))}, but the current version is {current}")
        else:
            archived[int(match.group(1))] = rel
    chain = [(current, manifest)]
    for number in sorted(archived, reverse=True):
        chain.append((number, parse(read_bytes(FileSystems.join(out, archived[number])))))
    for number, version in chain:
        label = MANIFEST if number == current else archive_rel(number)
        if version is None:
            problems.append(f"{label}: not a manifest (unreadable JSON)")
            continue
        parent = version.get("parent")
        if parent is None or not isinstance(parent, dict) or not _is_int(parent.get("version")):
            continue
        rel = archive_rel(parent["version"])
        data = read_bytes(FileSystems.join(out, rel))
        if data is None:
            problems.append(f"{label}: its parent version {parent['version']} is not archived ({rel} missing)")
        elif sha256_hex(data) != parent.get("manifest_sha256"):
            problems.append(f"{rel}: sha256 does not match parent.manifest_sha256 of version {number}")
    return problems


def history(out: str) -> list[dict]:
    """Every version of OUT, oldest first: the archived manifests, then the current one."""
    entries = []
    for number, rel in sorted(archived_versions(out).items()):
        manifest = parse(read_bytes(FileSystems.join(out, rel)))
        if manifest is not None:
            entries.append(manifest)
    current = parse(read_bytes(FileSystems.join(out, MANIFEST)))
    if current is not None:
        entries.append(current)
    return entries


def log_entry(manifest: dict) -> dict:
    """One row of ``curate log``: version, time, kind, counts, reason (never content, never ids)."""
    summary = manifest.get("summary") if isinstance(manifest.get("summary"), dict) else {}
    version = version_of(manifest)
    entry = {
        "version": version,
        "time": manifest.get("created_at"),
        "kind": kind_of(manifest),
        "run_id": manifest.get("run_id"),
        "documents": summary.get("kept"),
        "trajectories": (summary.get("trajectories") or {}).get("accepted") if isinstance(summary.get("trajectories"), dict) else None,
        "removed": None,
        "reason": None,
    }
    if entry["kind"] == ERASURE:
        erasure = next((e for e in manifest.get("erasures") or [] if isinstance(e, dict) and e.get("version") == version), None)
        if erasure is not None:
            entry["removed"] = erasure.get("removed")
            entry["reason"] = erasure.get("reason")
    return entry


def format_log(entries: list[dict]) -> str:
    lines = [f"{'version':>7}  {'time':<25}  {'kind':<7}  {'documents':>9}  {'trajectories':>12}  removed / reason"]
    for e in entries:
        removed = e["removed"] or {}
        what = ""
        if e["kind"] == ERASURE:
            what = (f"-{removed.get('documents', 0)} docs, -{removed.get('signatures', 0)} signatures, "
                    f"-{removed.get('trajectories', 0)} trajectories, -{removed.get('quarantine', 0)} quarantine; "
                    f"reason: {e['reason']}")
        else:
            what = f"run {e['run_id']}"
        docs = "" if e["documents"] is None else e["documents"]
        traj = "" if e["trajectories"] is None else e["trajectories"]
        lines.append(f"{e['version']:>7}  {str(e['time']):<25}  {e['kind']:<7}  {docs:>9}  {traj:>12}  {what}")
    return "\n".join(lines)


def verify_version(out: str, number: int) -> list[str]:
    """Problems of an earlier version ``number``: each listed file that is missing (naming the later
    version that no longer lists it) or changed. The current version: :func:`manifest.verify`."""
    from pipeline.io.manifest import _hash_file, verify

    current = parse(read_bytes(FileSystems.join(out, MANIFEST)))
    if current is None:
        return [f"{FileSystems.join(out, MANIFEST)}: missing or unreadable (not a curate release)"]
    latest = version_of(current)
    if number == latest:
        return verify(out)
    if number < 1 or number > latest:
        return [f"version {number}: no such version (versions 1..{latest})"]
    rel = archive_rel(number)
    manifest = parse(read_bytes(FileSystems.join(out, rel)))
    if manifest is None:
        return [f"version {number}: {rel} is missing or unreadable, so its files cannot be checked"]
    later = {n: parse(read_bytes(FileSystems.join(out, r))) for n, r in archived_versions(out).items() if n > number}
    later[latest] = current
    problems = []
    for entry in manifest.get("outputs") or []:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not SHARD_PATH.match(path):
            continue
        # the first later version that no longer lists this file (same path and sha256)
        remover = next((n for n in sorted(later) if later[n] is not None
                        and (path, entry.get("sha256")) not in _listed(later[n])), None)
        removed = f"removed by version {remover} ({kind_of(later[remover])})" if remover else None
        try:
            size, digest = _hash_file(FileSystems.join(out, path))
        except (IOError, OSError):
            problems.append(f"{path}: {removed or 'missing'}")
            continue
        if size != entry.get("bytes") or digest != entry.get("sha256"):
            problems.append(f"{path}: {removed}; the file now at that path is another version's" if removed
                            else f"{path}: sha256 or size differs from version {number}'s manifest")
    return problems


def _listed(manifest: dict) -> set[tuple]:
    return {(e.get("path"), e.get("sha256")) for e in manifest.get("outputs") or [] if isinstance(e, dict)}
