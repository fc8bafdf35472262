"""Entry point for orchestrators that launch a Beam pipeline as a Python file or module.

Airflow's ``BeamRunPythonPipelineOperator`` (and ``python -m apache_beam...``-style launchers) run
``python <py_file> --runner=X --option=value ...`` with no sub-command, so this file defaults to
``curate run``::

    python -m pipeline.entrypoint --input=gs://b/in/*.jsonl --output=gs://b/out --runner=DataflowRunner ...
    python /path/to/pipeline/entrypoint.py --input=... --output=...       # same thing, as a file

A first argument of ``run``, ``audit`` or ``verify`` selects that sub-command instead.
"""
from __future__ import annotations

import sys

COMMANDS = {"run", "audit", "verify"}


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        argv = ["run", *argv]
    return cli_main(argv)


if __name__ == "__main__":
    if not __package__:  # run as a file: import this very package, not its modules as top-level names
        import os

        sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
