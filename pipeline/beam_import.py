"""Importing Apache Beam (and probing pyarrow) without importing pandas.

pandas is imported twice over in a run without ever being used: ``import apache_beam`` (which any
``apache_beam.*`` import runs first) imports it only to register Beam's pandas batch converters
(``apache_beam.typehints``, inside ``try: import pandas``), and pyarrow's first ``pa.array(list)``
imports it only to ask whether the list is a pandas object. :func:`import_beam` runs both with
pandas hidden, so each takes the path it takes where pandas is not installed; afterwards pandas
imports normally again for whoever needs it (``Table.to_pandas`` tries the import again).

For processes that only run the pipeline: the command line (``curate run``, ``curate log``) and
the local workers call it before their first Beam import; ``curate verify``, which reads Parquet
without Beam, calls :func:`pyarrow_without_pandas`. In such a process ``pa.array`` does not
recognise a pandas Series as array-like until pandas has been used through pyarrow once.
"""
from __future__ import annotations

import contextlib
import os
import sys

# Optional imports the pipeline does not use; each is imported inside ``try: ... except ImportError``.
HIDDEN = ("pandas",)
# Google Cloud client libraries, which Beam imports (inside ``try: ... except ImportError``) only to
# offer gs:// paths and BigQuery I/O: about a third of Beam's import time. A run whose paths are all
# local hides them (its workers too, through LOCAL_ONLY_ENV); Beam's BigQuery module goes with them, as
# it warns on the root logger when apitools is missing.
GCP_CLIENTS = ("google.cloud", "google.api_core", "apitools", "apache_beam.io.gcp.bigquery")
# MongoDB's driver, which ``import apache_beam`` loads (inside ``try: ... except ImportError``) only for
# its MongoDB connector, in the launcher and in every worker; without it that module logs one warning,
# silenced here (MONGODB_CONNECTOR's logger).
MONGODB_CLIENTS = ("pymongo", "bson")
MONGODB_CONNECTOR = "apache_beam.io.mongodbio"
LOCAL_ONLY_ENV = "CURATE_LOCAL_PATHS_ONLY"


class _Hide:
    """A meta path finder that makes the modules of ``names`` (and their submodules) not found."""

    def __init__(self, names):
        self._names = tuple(names)

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == name or fullname.startswith(name + ".") for name in self._names):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@contextlib.contextmanager
def _hidden(names=HIDDEN):
    """While inside: the modules of ``names`` not imported yet cannot be imported."""
    finder = _Hide(name for name in names if name not in sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _settle_pyarrow_probes() -> None:
    import pyarrow

    pyarrow.lib._pandas_api.have_pandas  # noqa: B018 - the Python-side probe: tried, not found
    pyarrow.array([""])  # the first sequence conversion probes pandas once, in C++


def pyarrow_without_pandas() -> None:
    """Settles pyarrow's pandas probes with pandas hidden (``pyarrow.dataset``'s import and the
    first ``pa.array(list)`` would import pandas otherwise); for commands that read Parquet but
    never import Beam."""
    if "pandas" in sys.modules:
        return
    with _hidden():
        _settle_pyarrow_probes()


# The runners served offline by our local runner: Beam's DirectRunner (and its alias
# SwitchingDirectRunner) and the FnApiRunner it falls back to. Beam resolves a runner name
# case-insensitively, with or without its "Runner" suffix, or as a dotted class path; every spelling
# of these must come here, since Beam's own DirectRunner first tries the Prism runner, which
# downloads a binary.
LOCAL_RUNNER_PATHS = (
    "apache_beam.runners.direct.direct_runner.directrunner",
    "apache_beam.runners.direct.direct_runner.switchingdirectrunner",
    "apache_beam.runners.portability.fn_api_runner.fnapirunner",
)
LOCAL_RUNNER_NAMES = tuple(path.rsplit(".", 1)[1] for path in LOCAL_RUNNER_PATHS)


def is_local_runner(name) -> bool:
    """Whether ``name`` (a ``--runner`` value, None when not given) selects the offline local runner."""
    if not name:
        return True
    spelled = str(name).strip().lower()
    return spelled in LOCAL_RUNNER_PATHS or spelled in LOCAL_RUNNER_NAMES or spelled + "runner" in LOCAL_RUNNER_NAMES


def mentions_gcs(values) -> bool:
    """Whether any of the strings ``values`` names a gs:// path (conservatively: anywhere in it)."""
    return any("gs://" in str(v).lower() for v in values)


def import_beam(local_only: bool | None = None):
    """``apache_beam``, imported (and pyarrow's pandas probes settled) without the modules of
    :data:`HIDDEN` and :data:`MONGODB_CLIENTS` and, when ``local_only`` (default: ``$CURATE_LOCAL_PATHS_ONLY`` is ``1``), of
    :data:`GCP_CLIENTS` (gs:// paths then fail as an unknown scheme); where Beam or one of them is
    already imported, nothing is hidden from it."""
    if "apache_beam" in sys.modules:
        return sys.modules["apache_beam"]
    if local_only is None:
        local_only = os.environ.get(LOCAL_ONLY_ENV) == "1"
    import logging

    connector_log = logging.getLogger(MONGODB_CONNECTOR)
    was_disabled, connector_log.disabled = connector_log.disabled, True
    try:
        with _hidden(HIDDEN + MONGODB_CLIENTS + (GCP_CLIENTS if local_only else ())):
            import apache_beam

            _settle_pyarrow_probes()
    finally:
        connector_log.disabled = was_disabled
    return apache_beam
