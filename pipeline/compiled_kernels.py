"""The numba kernels of langid, quality, the license matcher and MinHash compiled ahead of time into one extension module.

Why: a worker that JIT-loads the kernels imports numba and starts LLVM (even when the machine code
comes from numba's on-disk cache), which holds more memory than the kernels' data. The same kernels
built once with numba's ahead-of-time compiler (``numba.pycc``, from the numba wheel and the
machine's C compiler) load as a plain extension module: no numba import, no LLVM in the worker.

Build (``make install`` and ``make test`` run it; re-run after changing a kernel)::

    .venv/bin/python -m pipeline.compiled_kernels build

It writes ``pipeline/_compiled_kernels.*.so`` and ``pipeline/_compiled_kernels.json``: the digest
of the kernel sources it was built from and, per exported kernel, the argument types each variant
was compiled for — the types numba's JIT gave the same calls on a sample batch (``_exercise``).

Use: :func:`dispatch` returns a callable that runs the compiled variant whose argument types equal
the call's (numba's own typing of the arguments, re-derived here without numba) and otherwise the
JIT kernel. The compiled wrapper does not check argument types itself (a wrong dtype is read as
raw memory), so nothing reaches it unchecked. No module, a module built from other sources (digest
differs), or ``CURATE_COMPILED_KERNELS=0``: the JIT kernels, as before. Same machine code from the
same numba typing; ``tests/unit/test_compiled_kernels.py`` compares both on real text bit for bit.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

MODULE_NAME = "_compiled_kernels"
HERE = Path(__file__).resolve().parent
INFO_FILE = HERE / f"{MODULE_NAME}.json"
# kernel name → module holding its numba (JIT) definition
KERNELS = {
    "predict_lines": "pipeline.lang.fastpredict",
    "tokenise": "pipeline.quality.kernels",
    "lines_and_paragraphs": "pipeline.quality.kernels",
    "count_affixed": "pipeline.quality.kernels",
    "ngram_first_failures": "pipeline.quality.kernels",
    "stop_word_counts": "pipeline.quality.kernels",
    "fill_set": "pipeline.quality.kernels",
    "find_slots": "pipeline.compliance.kernels",
    "count_postings": "pipeline.compliance.kernels",
    "select_postings": "pipeline.compliance.kernels",
    "permute_min_affine32": "pipeline.minhash.kernels",
}
SOURCES = ("lang/fastpredict.py", "quality/kernels.py", "compliance/kernels.py", "minhash/kernels.py", "compiled_kernels.py")
ENV_SWITCH = "CURATE_COMPILED_KERNELS"  # "0": always the JIT kernels

_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


def source_digest() -> str:
    """What the module must have been built from: the kernel sources, the numba version and the processor."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    for rel in SOURCES:
        h.update((HERE / rel).read_bytes())
    try:
        h.update(version("numba").encode())
    except PackageNotFoundError:
        h.update(b"no numba")
    h.update(machine_id().encode())
    return h.hexdigest()


def machine_id() -> str:
    """The processor the module was built for: it uses that instruction set, as the JIT would, so
    a copy on a machine with another processor is not loaded (the JIT kernels run there)."""
    import platform

    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features", "model name")):
                    flags += line.strip() + "\n"
                if line.strip() == "":
                    break  # the first processor's lines
    except OSError:
        pass
    return f"{platform.machine()}\n{flags}"


def _module() -> tuple[Any, dict] | None:
    """(extension module, build info) when built from today's sources; else None."""
    with _LOCK:
        if "module" not in _LOADED:
            found = None
            if os.environ.get(ENV_SWITCH, "1") != "0" and INFO_FILE.is_file():
                try:
                    info = json.loads(INFO_FILE.read_text(encoding="utf-8"))
                    if info.get("digest") == source_digest():
                        found = (importlib.import_module(f"pipeline.{MODULE_NAME}"), info)
                except (ImportError, OSError, ValueError):
                    found = None
            _LOADED["module"] = found
        return _LOADED["module"]


def available() -> bool:
    return _module() is not None


def numba_type_name(value: Any) -> str:
    """numba's ``str(typeof(value))`` for the argument kinds the kernels take (arrays, scalars)."""
    if isinstance(value, np.ndarray):
        if value.flags.c_contiguous:
            layout = "C"
        elif value.flags.f_contiguous:
            layout = "F"
        else:
            layout = "A"
        prefix = "" if value.flags.aligned else "unaligned "
        prefix += "" if value.flags.writeable else "readonly "
        return f"{prefix}array({value.dtype.name}, {value.ndim}d, {layout})"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, np.generic):
        return value.dtype.name
    return f"unsupported {type(value).__name__}"


_CHOSEN_ENTRIES = 256  # argument kinds remembered per kernel (a handful occur)


def argument_kind_key(value: Any) -> Any:
    """A key that is equal for two values exactly when :func:`numba_type_name` is: cheap to make
    (no dtype name formatting), so a kernel's variant is looked up once per kind of arguments."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        return (value.dtype, value.ndim, flags.c_contiguous, flags.f_contiguous, flags.aligned, flags.writeable)
    return type(value)


def _jit(name: str) -> Callable:
    return importlib.import_module(KERNELS[name]).jit_kernel(name)


def dispatch(name: str) -> Callable:
    """A callable running kernel ``name``: its compiled variant for these argument types, else the JIT one."""
    state: dict[str, Any] = {}

    def variants() -> list[tuple[tuple[str, ...], Callable]]:
        if "variants" not in state:
            found = _module()
            out = []
            if found is not None:
                module, info = found
                for export, types in info["kernels"].get(name, []):
                    out.append((tuple(types), getattr(module, export)))
            state["variants"] = out
        return state["variants"]

    chosen: dict[tuple, Callable | None] = {}  # argument_kind_key → compiled variant (None: the JIT kernel)

    def run(*args):
        key = tuple(map(argument_kind_key, args))
        fn = chosen.get(key, False)
        if fn is False:
            types = tuple(numba_type_name(a) for a in args)
            fn = next((f for want, f in variants() if want == types), None)
            if len(chosen) < _CHOSEN_ENTRIES:
                chosen[key] = fn
        if fn is not None:
            return fn(*args)
        return _jit(name)(*args)

    run.__name__ = name
    return run


def namespace(names: tuple[str, ...]) -> Any:
    """An object whose attribute ``name`` is :func:`dispatch` (``name``) for each of ``names``."""
    from types import SimpleNamespace

    return SimpleNamespace(**{name: dispatch(name) for name in names})


# -- build --------------------------------------------------------------------------------------


def _exercise() -> None:
    """Runs the langid and quality stage cores (JIT kernels) on a small mixed batch, so that each
    kernel is compiled for the argument types the stages pass."""
    from pipeline.config import load_config
    from pipeline.stages.langid import LanguageFilter
    from pipeline.stages.quality import QualityFilter

    texts = [
        "The quick brown fox jumps over the lazy dog.\nIt was the best of times.\n\n- a list item\n- another item\n"
        "Read the manual, then run the tests; the results are written to the output folder.",
        "Der schnelle braune Fuchs springt über den faulen Hund. Das ist ein Satz.\n\nNoch ein Absatz hier…",
        "今日はいい天気ですね。散歩に行きましょう。\n\n東京の公園はとても広いです。",
        "数据处理流水线将文本分成段落并检测语言。\n这是第二行。",
        "오늘은 날씨가 좋습니다. 공원에 갑시다.",
        "def main():\n    return 0\n\nif x { y = 1; }\n# comment line\n",
        "repeat this line\nrepeat this line\nrepeat this line\n\nrepeat this line\n",
        "",
        "12345 67890 https://example.org/page <b>bold</b> &amp;",
        "Bonjour tout le monde. Ceci est un document en français avec plusieurs phrases.\n\n"
        "Il contient deux paragraphes, et chacun est assez long pour être jugé.",
    ]
    rng = random.Random(7)
    words = ("river market window garden teacher morning letter station kitchen village summer doctor "
             "engine bridge museum forest picture island winter ticket").split()
    verbs = "reads opens finds paints builds visits cleans moves writes follows".split()
    for _ in range(4):  # ordinary prose: long enough to reach every rule
        lines = [f"The {rng.choice(words)} {rng.choice(verbs)} a {rng.choice(words)} near the {rng.choice(words)}, "
                 f"and the {rng.choice(words)} {rng.choice(verbs)} it." for _ in range(24)]
        texts.append("\n".join(lines[:12]) + "\n\n" + "\n".join(lines[12:]))
    config = load_config(None)
    lang, quality = LanguageFilter(config), QualityFilter(config)
    lang.setup()
    quality.setup()
    records = [{"text": t, "id": str(i)} for i, t in enumerate(texts * 3)]
    lang.process_batch(records)
    quality.process_batch(records)
    for record in records:  # the per-document path too
        quality.process(dict(record))
    _exercise_license(config, texts)
    _exercise_minhash(config, texts)


def _exercise_minhash(config, texts: list[str]) -> None:
    """MinHash signatures of a batch (word and character shingles) and of one long document."""
    from pipeline.minhash.minhash import MinHasher

    hasher = MinHasher.from_config(config.dedup)
    langs = ("en", "ja", "zh", "ko", "de")  # word shingles and character shingles
    hasher.signatures(texts, [langs[i % len(langs)] for i in range(len(texts))])
    hasher.signature(" ".join(texts) * 20, "en")


# A license text (MIT) and a notice (Apache-2.0), written out here: documents the matcher finds.
_LICENSE_TEXTS = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    "associated documentation files (the \"Software\"), to deal in the Software without restriction, including "
    "without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell "
    "copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the "
    "following conditions:\n\nThe above copyright notice and this permission notice shall be included in all "
    "copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF "
    "ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A "
    "PARTICULAR PURPOSE AND NONINFRINGEMENT.",
    "Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use this file except in "
    "compliance with the License. You may obtain a copy of the License at "
    "http://www.apache.org/licenses/LICENSE-2.0 Unless required by applicable law or agreed to in writing, "
    "software distributed under the License is distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR "
    "CONDITIONS OF ANY KIND, either express or implied.",
)


def _exercise_license(config, texts: list[str]) -> None:
    """The license matcher's kernel calls, with its index memory-mapped (read-only arrays, as a
    worker loads it) and freshly built (writable arrays, the run that builds the index)."""
    from pipeline.stages.license import LicenseDetector

    detector = LicenseDetector(config)
    detector.setup()
    matcher = detector.matcher
    # Both kinds of index arrays are made here whatever the set-up above found: it maps the index
    # from the user's cache folder when an earlier process saved it there and builds it otherwise,
    # so a build on a machine without that cache (a fresh clone's first `make install`) would
    # otherwise miss the read-only variants every later worker needs.
    for writable in (False, True):
        for name in ("gram_keys", "gram_starts", "post_refs"):
            array = np.array(getattr(matcher, name))
            array.flags.writeable = writable
            setattr(matcher, name, array)
        # the matcher's set-up calls (empty arrays), as __init__ makes them
        none = np.zeros(0, dtype=np.int64)
        slots = matcher._find(np.zeros(0, dtype=np.uint64), matcher.gram_keys, matcher.bucket_starts)
        counts = matcher._count(slots, matcher.gram_starts, matcher.post_refs, len(matcher.ref_sizes))
        matcher._select(none, matcher.gram_starts, matcher.post_refs, counts > 0, counts, none)
        for text in (*_LICENSE_TEXTS, *texts):
            matcher.match(text)


def build(output_dir: Path = HERE) -> Path:
    """Compiles every kernel for the argument types :func:`_exercise` gave it; writes the module and its info file."""
    os.environ[ENV_SWITCH] = "0"  # the build exercises the JIT kernels
    _LOADED.clear()
    from numba.pycc import CC

    _exercise()
    cc = CC(MODULE_NAME)
    cc.output_dir = str(output_dir)
    cc.verbose = False
    cc.target_cpu = "host"  # as numba's JIT compiles: for this machine's instruction set (see machine_id)
    exported: dict[str, list[tuple[str, list[str]]]] = {}
    for name in KERNELS:
        jit_kernel = _jit(name)
        for i, sig in enumerate(jit_kernel.nopython_signatures):
            export = f"{name}__{i}"
            cc.export(export, sig)(jit_kernel.py_func)
            exported.setdefault(name, []).append((export, [str(t) for t in sig.args]))
        if name not in exported:
            raise RuntimeError(f"kernel {name} was not exercised: nothing to compile")
    cc.compile()
    info = {"digest": source_digest(), "kernels": exported}
    (output_dir / INFO_FILE.name).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return output_dir


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["build"]:
        print("usage: python -m pipeline.compiled_kernels build", file=sys.stderr)
        return 2
    out = build()
    print(f"compiled kernels written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
