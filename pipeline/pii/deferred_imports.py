"""Import spaCy without its command-line modules until something uses them, and presidio without
compiling its built-in patterns twice.

``import spacy`` runs ``from .cli.info import info``, which imports all of ``spacy.cli`` (typer,
weasel, the download, train and project commands) — a good part of presidio's import cost, paid
by every worker, while the PII engine only ever tokenizes. :func:`defer_spacy_cli`, called before
spaCy is first imported, puts stand-ins for ``spacy.cli`` and ``spacy.cli.info`` in
``sys.modules``: the first attribute read of ``spacy.cli`` (``spacy.cli.download``,
``from spacy.cli import setup_cli``) or a call of ``spacy.info`` imports the real modules, which
then replace the stand-ins. Submodules (``import spacy.cli.download``) import as before.

``presidio_analyzer.Pattern(...)`` compiles its regex to validate it, and presidio's recognizer
modules build their patterns at class definition: importing ``presidio_analyzer`` compiles every
built-in pattern (the URL recognizer's top-level-domain alternations above all) once without the
flags it is matched with, then again with them on first use. :func:`trust_presidio_patterns`,
called before presidio is first imported, skips that validation while the ``presidio_analyzer``
package itself imports, and puts it back when the import ends: patterns built afterwards (rules
files, user recognizers) are validated as before. The built-in patterns' validity is a test
(tests/unit/test_pii_deferred_imports.py compiles every one).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
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


_PRESIDIO, _PATTERN = "presidio_analyzer", "presidio_analyzer.pattern"
_VALIDATOR = "_Pattern__validate_regex"  # Pattern.__validate_regex, name-mangled
skipped_validations = 0  # patterns built without validation (read by tests)


def _skip_validation(pattern: str) -> None:
    global skipped_validations
    skipped_validations += 1


class _TrustPresidioPatterns(importlib.abc.MetaPathFinder):
    """Finds ``presidio_analyzer`` and its ``pattern`` module as the path finder would, and runs
    them with Pattern's validation off from the moment ``pattern`` is executed until the package's
    own ``__init__`` has finished (or failed); then leaves ``sys.meta_path``."""

    def __init__(self) -> None:
        self.original = None  # Pattern's validator while it is replaced

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in (_PRESIDIO, _PATTERN):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            self.leave()
            return spec
        run = loader.exec_module
        if fullname == _PATTERN:
            def exec_module(module):
                run(module)
                cls = getattr(module, "Pattern", None)
                original = getattr(cls, "__dict__", {}).get(_VALIDATOR)
                if isinstance(original, staticmethod):
                    self.original = (cls, original)
                    setattr(cls, _VALIDATOR, staticmethod(_skip_validation))
        else:
            def exec_module(module):
                try:
                    run(module)
                finally:
                    self.leave()
        loader.exec_module = exec_module
        return spec

    def leave(self) -> None:
        if self.original is not None:
            cls, original = self.original
            setattr(cls, _VALIDATOR, original)
            self.original = None
        with _LOCK:
            if self in sys.meta_path:
                sys.meta_path.remove(self)


def trust_presidio_patterns() -> bool:
    """Install the finder when presidio is not imported yet; True when installed."""
    if _PRESIDIO in sys.modules:
        return False
    with _LOCK:
        if any(isinstance(f, _TrustPresidioPatterns) for f in sys.meta_path):
            return False
        sys.meta_path.insert(0, _TrustPresidioPatterns())
        return True
