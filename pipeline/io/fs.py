"""``FileSystems`` with Beam's interface that imports Apache Beam only for what needs it.

Local paths (no ``scheme://``) are joined, opened for reading, tested and listed with the standard
library, exactly as Beam's LocalFileSystem does them (``os.path.join``, ``io.open(path, "rb")`` for
a name without a compression suffix, ``os.path.exists``, ``os.walk`` for ``folder/**``); everything
else — remote URIs, compressed names, globs, writes — goes to ``apache_beam.io.filesystems``. So
``curate verify``, ``curate audit`` and a config error read a local release without importing Beam
(docs/benchmarks.md: start-up).
"""
from __future__ import annotations

import io
import os
import re
from typing import NamedTuple

# Beam's FileSystems.URI_SCHEMA_PATTERN: what Beam treats as a scheme.
_SCHEME = re.compile(r"(?P<scheme>[a-zA-Z][-a-zA-Z0-9+.]*)://.*")
# Suffixes Beam's CompressionTypes.AUTO decompresses on open.
_COMPRESSED = (".bz2", ".deflate", ".gz", ".zst", ".zstd", ".xz", ".lzma")
_GLOB = re.compile(r"[\[*?]")


def _beam():
    from apache_beam.io.filesystems import FileSystems as BeamFileSystems

    return BeamFileSystems


def _local(path: str) -> bool:
    return isinstance(path, str) and _SCHEME.match(path.strip()) is None


class _Metadata(NamedTuple):
    path: str
    size_in_bytes: int
    last_updated_in_seconds: float


class _MatchResult(NamedTuple):
    pattern: str
    metadata_list: list


class FileSystems:
    """Drop-in for ``apache_beam.io.filesystems.FileSystems`` (the calls curate makes)."""

    @staticmethod
    def get_scheme(path: str) -> str | None:
        match = _SCHEME.match(path.strip())
        return match.group("scheme") if match else None

    @staticmethod
    def join(base: str, *paths: str) -> str:
        return os.path.join(base, *paths) if _local(base) else _beam().join(base, *paths)

    @staticmethod
    def open(path: str, *args, **kwargs):
        if not args and not kwargs and _local(path) and not path.lower().endswith(_COMPRESSED):
            return io.open(path, "rb")
        return _beam().open(path, *args, **kwargs)

    @staticmethod
    def exists(path: str) -> bool:
        return os.path.exists(path) if _local(path) else _beam().exists(path)

    @staticmethod
    def match(patterns: list[str], limits=None) -> list:
        if limits is None and all(_local(p) and p.endswith("/**") and not _GLOB.search(p[:-3]) for p in patterns):
            return [_MatchResult(p, _walk(p[:-3])) for p in patterns]
        return _beam().match(patterns, limits)


def _walk(folder: str) -> list[_Metadata]:
    """Every file under ``folder`` (symlinked folders not followed), as Beam lists ``folder/**``."""
    found = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                found.append(_Metadata(path, os.path.getsize(path), os.path.getmtime(path)))
            except OSError:
                continue
    return found


for _name in ("create", "rename", "delete", "mkdirs", "copy", "split", "metadata", "checksum", "get_filesystem"):
    # Writes and the rest go to Beam unchanged (imported on first call).
    setattr(FileSystems, _name, staticmethod(lambda *a, _n=_name, **k: getattr(_beam(), _n)(*a, **k)))
