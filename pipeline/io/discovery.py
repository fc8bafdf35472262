"""Driver side of ingest: ``--input`` values → the files to read, with their format and compression.

:func:`expand_inputs` takes local paths, directories, globs, or any Beam filesystem URI such as
``gs://`` / ``s3://`` and lists the files from metadata only; :func:`detect_format` reads a file
name's extensions (the formats come from the reader registry, :mod:`pipeline.io.readers`).
"""
from __future__ import annotations

import glob
import logging
import os

from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError
from pipeline.io.readers import FORMAT_EXTS

_LOG = logging.getLogger("pipeline.ingest")

COMPRESSION_EXTS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_GLOB_CHARS = set("*?[")

class InputError(ConfigError):
    """An ``--input`` that matches nothing or names an unsupported file (a usage error, exit 2)."""


def detect_format(name: str) -> tuple[str, str | None] | None:
    """``(format, compression)`` from a file name, or None when unsupported.

    ``.gz``/``.zst`` are stripped first, so ``x.jsonl.zst`` is zstd JSONL and ``x.warc.gz`` is a
    gzip WARC (warcio reads its per-record gzip members itself).
    """
    base = name.rsplit("/", 1)[-1].lower()
    stem, ext = os.path.splitext(base)
    compression = COMPRESSION_EXTS.get(ext)
    if compression:
        stem, ext = os.path.splitext(stem)
    fmt = FORMAT_EXTS.get(ext)
    if fmt is None:
        return None
    return fmt, compression


def _has_glob(uri: str) -> bool:
    return any(c in _GLOB_CHARS for c in uri)


def _local_files(uri: str) -> tuple[list[tuple[str, int]], bool] | None:
    """Local matches as ``[(abs path, size)]`` and whether the file was named explicitly."""
    path = os.path.abspath(os.path.expanduser(uri[7:] if uri.startswith("file://") else uri))
    if os.path.isfile(path):
        return [(path, os.path.getsize(path))], True
    if os.path.isdir(path):
        roots = [path]
    elif _has_glob(path):
        roots = sorted(glob.glob(path, recursive=True))
    else:
        return None
    found = []
    for root in roots:
        if os.path.isfile(root):
            found.append((os.path.abspath(root), os.path.getsize(root)))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if os.path.isfile(full):
                    found.append((os.path.abspath(full), os.path.getsize(full)))
    return found, False


def _remote_files(uri: str) -> tuple[list[tuple[str, int]], bool]:
    """Matches through Beam's FileSystems (gs://, s3://, ...): a file, a glob, or a prefix/folder."""
    try:
        if _has_glob(uri):
            result = FileSystems.match([uri])[0]
            return [(m.path, m.size_in_bytes) for m in result.metadata_list], False
        result = FileSystems.match([uri])[0]
        exact = [(m.path, m.size_in_bytes) for m in result.metadata_list if m.path == uri]
        if exact:
            return exact, True
        result = FileSystems.match([uri.rstrip("/") + "/**"])[0]
        return [(m.path, m.size_in_bytes) for m in result.metadata_list if not m.path.endswith("/")], False
    except Exception as exc:  # noqa: BLE001 - a filesystem error names the input, never a traceback
        raise InputError(f"--input {uri}: cannot list ({type(exc).__name__}: {str(exc)[:200]})") from None


def expand_inputs(uris: list[str]) -> list[dict]:
    """``--input`` values → sorted, de-duplicated ``[{"uri", "size", "format", "compression"}]``.

    Local paths become absolute (so ``doc_id`` does not depend on the working directory).
    Directories are walked recursively; files with unsupported extensions inside a directory or a
    glob are skipped with one warning listing them; an explicitly named unsupported file, or an
    input that matches no supported file, raises :class:`InputError`.
    """
    files: dict[str, dict] = {}
    for uri in uris:
        if FileSystems.get_scheme(uri) not in (None, "file"):
            matched, explicit = _remote_files(uri)
        else:
            local = _local_files(uri)
            if local is None:
                raise InputError(f"--input {uri}: no such file, directory or matching glob")
            matched, explicit = local
        supported, skipped = [], []
        for path, size in matched:
            kind = detect_format(path)
            if kind is None:
                skipped.append(path)
            else:
                supported.append({"uri": path, "size": int(size), "format": kind[0], "compression": kind[1]})
        if explicit and skipped:
            raise InputError(
                f"--input {uri}: unsupported file type (supported: .jsonl, .json, .txt, .parquet, .warc, "
                "optionally with .gz or .zst)"
            )
        if skipped:
            shown = ", ".join(skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else "")
            _LOG.warning("--input %s: skipping %d file(s) of unsupported type: %s", uri, len(skipped), shown)
        if not supported:
            raise InputError(f"--input {uri}: matches no supported input file")
        for f in supported:
            files[f["uri"]] = f
    return [files[k] for k in sorted(files)]

