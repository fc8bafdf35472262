"""The Python API: one call runs the pipeline the way `curate run` does (docs/python-api.md).

    from pipeline.api import curate

    result = curate(["examples/corpus"], "out/", config={"dedup": {"threshold": 0.8}})
    result.summary["kept"], result.manifest["stage_counts"]
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Union

from pipeline.config import Config, ConfigBase, load_config
from pipeline.run import RunResult, run

PathLike = Union[str, "os.PathLike[str]"]


def curate(
    inputs: Sequence[PathLike] | PathLike,
    output: PathLike,
    config: Config | Mapping | PathLike | None = None,
    overwrite: bool = False,
    beam_args: Sequence[str] = (),
) -> RunResult:
    """Curate ``inputs`` (files, folders or globs) into the folder ``output``.

    ``config`` is a loaded :class:`~pipeline.config.Config`, a mapping of overrides on the defaults
    (same keys as the YAML file) or the path of a YAML config file; ``None`` runs the defaults.
    ``beam_args`` are Beam pipeline options (e.g. ``["--runner=DirectRunner"]``). Raises
    :class:`~pipeline.config.ConfigError` for a bad config and ``pipeline.io.outdir.OutputRefused`` for
    an OUT that may not be written — the errors `curate run` exits 2 on.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(config, ConfigBase):  # any Config class, also one built after a stage registered
        cfg = config
    elif isinstance(config, Mapping):
        cfg = load_config(overrides=dict(config))
    else:
        cfg = load_config(config)
    return run(cfg, [os.fspath(i) for i in inputs], os.fspath(output), beam_args=list(beam_args), overwrite=overwrite)
