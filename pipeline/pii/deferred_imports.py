"""Import spaCy without its command-line modules until something uses them.

``import spacy`` runs ``from .cli.info import info``, which imports all of ``spacy.cli`` (typer,
weasel, the download, train and project commands) — a good part of presidio's import cost, paid
by every worker, while the PII engine only ever tokenizes. :func:`defer_spacy_cli`, called before
spaCy is first imported, puts stand-ins for ``spacy.cli`` and ``spacy.cli.info`` in
``sys.modules``: the first attribute read of ``spacy.cli`` (``spacy.cli.download``,
``from spacy.cli import setup_cli``) or a call of ``spacy.info`` imports the real modules, which
then replace the stand-ins. Submodules (``import spacy.cli.download``) import as before.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

_CLI, _INFO = "spacy.cli", "spacy.cli.info"
_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in for a module not imported yet: reading an attribute imports it."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)  # import machinery probes: no reason to import
        return getattr(_import_real(self.__name__), name)


def _import_real(name: str) -> types.ModuleType:
    with _LOCK:
        stand_ins = {n: sys.modules.pop(n) for n in (_CLI, _INFO) if isinstance(sys.modules.get(n), _Deferred)}
        if stand_ins:
            importlib.import_module(_CLI)  # runs spacy/cli/__init__ (and imports .info): sets spacy.cli
            for n, stand_in in stand_ins.items():  # a reference kept to a stand-in reads the real module
                stand_in.__dict__.update(importlib.import_module(n).__dict__)
        return importlib.import_module(name)


def _info(*args, **kwargs):
    """``spacy.info``: spaCy's own, imported on first call."""
    return _import_real(_INFO).info(*args, **kwargs)


def defer_spacy_cli() -> bool:
    """Install the stand-ins when spaCy is not imported yet and has the layout they expect;
    True when installed."""
    if "spacy" in sys.modules or _CLI in sys.modules:
        return False
    with _LOCK:
        try:
            spec = importlib.util.find_spec("spacy")
        except (ImportError, ValueError):
            return False
        if spec is None or not spec.submodule_search_locations:
            return False
        cli_dir = os.path.join(list(spec.submodule_search_locations)[0], "cli")
        if not os.path.isfile(os.path.join(cli_dir, "info.py")):
            return False
        cli = _Deferred(_CLI)
        cli.__path__ = [cli_dir]  # submodules are found where they are
        cli.__package__ = _CLI
        info = _Deferred(_INFO)
        info.__package__ = _CLI
        info.info = _info
        sys.modules[_CLI], sys.modules[_INFO] = cli, info
        return True
