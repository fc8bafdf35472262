"""The named outputs a composite stage returns (``out.kept``, ``out.decisions``, ...)."""
from __future__ import annotations


class StageOutputs(dict):
    """A dict of PCollections with attribute access: ``out.samples`` is ``out["samples"]``.

    Beam accepts a dict as a PTransform's output, so the outputs keep their names in the graph. A
    name that is also a dict method (``items``, ``keys``, ...) would read as the method, so it is
    refused."""

    def __init__(self, **outputs) -> None:
        shadowed = sorted(name for name in outputs if hasattr(dict, name))
        if shadowed:
            raise ValueError(f"output names {shadowed} are dict methods; name the outputs otherwise")
        super().__init__(**outputs)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
