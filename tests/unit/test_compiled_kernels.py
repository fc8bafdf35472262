"""The ahead-of-time compiled kernels (pipeline.compiled_kernels) against the numba JIT kernels they
are built from: every kernel call the langid and quality stages make on real text (the 18-language
fixture, three paragraphs a document, and one-paragraph documents) gives bit-equal arrays from
both; the argument typing that picks a compiled variant agrees with numba's own ``typeof``; a
stale build or ``CURATE_COMPILED_KERNELS=0`` means the JIT kernels; and a worker with the compiled
build runs both stages and the license matcher without importing numba (the license matcher's
compiled calls are compared with its NumPy reference in ``tests/unit/test_license_fast.py``).

The module is built by ``make install`` / ``make test`` (``python -m pipeline.compiled_kernels build``);
without it the comparisons have nothing to compare and skip saying so."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import compiled_kernels
from pipeline.compiled_kernels import numba_type_name

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "langid" / "paragraphs.jsonl"

needs_build = pytest.mark.skipif(not compiled_kernels.available(),
                                 reason="pipeline/_compiled_kernels not built from these sources: run "
                                        "`python -m pipeline.compiled_kernels build` (make install does)")


def _fixture_texts() -> list[str]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    by_lang: dict[str, list[str]] = {}
    for row in rows:
        by_lang.setdefault(row["lang"], []).append(row["text"])
    docs = ["\n\n".join(p[i : i + 3]) for _, p in sorted(by_lang.items()) for i in range(0, len(p), 3)]
    return docs + [row["text"] for row in rows[::5]] + ["", "12345 <b>", "a\n\n\nb\n- item\n- item …"]


def _equal(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", [
    np.zeros(3, np.uint8), np.frombuffer(b"abc", dtype=np.uint8), np.zeros((2, 3), np.float32),
    np.zeros((3, 2), np.float32)[:, 0], np.zeros(4, np.int64)[::2], np.asfortranarray(np.zeros((2, 3))),
    np.zeros(2, np.bool_), np.zeros(0, np.uint64), 7, True, 1.5, np.float32(0.5), np.uint64(3), np.int64(2),
])
def test_argument_typing_equals_numba_typeof(value):
    numba = pytest.importorskip("numba")
    assert numba_type_name(value) == str(numba.typeof(value))


@needs_build
def test_every_stage_kernel_call_equals_the_jit_kernel(monkeypatch):
    """Each call the stages make runs a compiled variant (its types match one) and returns bit for bit
    what the JIT kernel returns for copies of the same arguments."""
    from pipeline.config import load_config
    from pipeline.lang import fastpredict, identifier
    from pipeline.quality import compiled as quality_compiled
    from pipeline.stages.langid import LanguageFilter
    from pipeline.stages.quality import QualityFilter

    calls: dict[str, int] = {}
    variant_types = {name: [tuple(t) for _, t in entries] for name, entries in compiled_kernels._module()[1]["kernels"].items()}

    def checked(name: str, aot):
        jit = compiled_kernels._jit(name)

        def run(*args):
            assert tuple(numba_type_name(a) for a in args) in variant_types[name], f"{name}: no compiled variant for these types"
            before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            got = aot(*args)
            mutated_aot = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            # the JIT kernel on the arguments as they were (kernels fill output arrays in place)
            again = [np.require(a, requirements="C").copy() if isinstance(a, np.ndarray) else a for a in before]
            for a, orig in zip(again, args):
                if isinstance(orig, np.ndarray) and not orig.flags.writeable:
                    a.setflags(write=False)
            want = jit(*again)
            assert _equal(got, want), f"{name}: results differ"
            assert all(_equal(x, y) for x, y in zip(mutated_aot, again)), f"{name}: arrays written differ"
            calls[name] = calls.get(name, 0) + 1
            return got

        return run

    for name in ("tokenise", "lines_and_paragraphs", "count_affixed", "ngram_first_failures", "stop_word_counts", "_fill_set"):
        kernel = "fill_set" if name == "_fill_set" else name
        monkeypatch.setattr(quality_compiled, name, checked(kernel, getattr(quality_compiled, name)))
    monkeypatch.setattr(fastpredict, "_compile", lambda: checked("predict_lines", compiled_kernels.dispatch("predict_lines")))
    monkeypatch.setattr(identifier, "_NATIVE", {})  # a new predictor, built with the checked kernel

    config = load_config(None)
    lang, quality = LanguageFilter(config), QualityFilter(config)
    lang.setup()
    quality.setup()
    records = [{"id": str(i), "text": t} for i, t in enumerate(_fixture_texts())]
    for i in range(0, len(records), 64):
        batch = records[i : i + 64]
        lang.process_batch(batch)
        quality.process_batch(batch)
    assert set(calls) == {"predict_lines", "tokenise", "lines_and_paragraphs", "count_affixed", "ngram_first_failures",
                          "stop_word_counts", "fill_set"}, calls


@needs_build
def test_a_worker_with_the_compiled_build_does_not_import_numba(tmp_path):
    code = (
        "import sys, json\n"
        "from pipeline.config import load_config\n"
        "from pipeline.stages.langid import LanguageFilter\n"
        "from pipeline.stages.quality import QualityFilter\n"
        "c = load_config(None); l = LanguageFilter(c); q = QualityFilter(c); l.setup(); q.setup()\n"
        "recs = [{'id': '1', 'text': 'The river opens a window near the garden.\\nThe teacher reads it.\\n\\nDer Fluss.'}]\n"
        "l.process_batch(recs); q.process_batch(recs)\n"
        "from pipeline.stages.license import LicenseDetector\n"
        "d = LicenseDetector(c); d.setup()\n"
        "found = sorted({m.expr for m in d.matcher.match(open('/usr/share/common-licenses/Apache-2.0').read())})\n"
        "from pipeline.minhash.minhash import MinHasher\n"
        "sig = MinHasher.from_config(c.dedup).signatures([recs[0]['text'], '今日はいい天気ですね'], ['en', 'ja'])\n"
        "print(json.dumps({'numba': 'numba' in sys.modules, 'lang': recs[0]['lang'], 'license': found, 'sig': list(sig.shape)}))\n"
    )
    # An empty cache folder: the first worker builds the license index (writable arrays) and saves
    # it, the second maps the saved one (read-only arrays); both kinds need their compiled variants,
    # whatever the cache held when the module was built.
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    for worker in ("builds the index", "maps the saved index"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"numba": False, "lang": "en", "license": ["Apache-2.0"], "sig": [2, 128]}, worker
    assert list((tmp_path / "cache").rglob("*")), "the first worker saved no index: the second did not map one"


def test_switch_off_or_stale_build_means_the_jit_kernels(monkeypatch, tmp_path):
    monkeypatch.setattr(compiled_kernels, "_LOADED", {})
    monkeypatch.setenv(compiled_kernels.ENV_SWITCH, "0")
    assert not compiled_kernels.available()

    monkeypatch.setattr(compiled_kernels, "_LOADED", {})
    monkeypatch.delenv(compiled_kernels.ENV_SWITCH)
    stale = tmp_path / "info.json"
    stale.write_text(json.dumps({"digest": "0" * 64, "kernels": {}}), encoding="utf-8")
    monkeypatch.setattr(compiled_kernels, "INFO_FILE", stale)
    assert not compiled_kernels.available()
    # and the dispatcher then runs the JIT kernel
    values = np.array([5, 9, 5], dtype=np.uint64)
    keys, used = np.zeros(16, np.uint64), np.zeros(16, np.bool_)
    compiled_kernels.dispatch("fill_set")(values, keys, used)
    assert sorted(keys[used].tolist()) == [5, 9]


@needs_build
def test_arguments_of_other_types_go_to_the_jit_kernel_not_the_compiled_one(monkeypatch):
    """The compiled wrapper would read a wrong dtype as raw memory: a call whose types no variant was
    built for must reach the JIT kernel (which types it itself)."""
    module, _info = compiled_kernels._module()

    def must_not_run(*_args):
        raise AssertionError("compiled variant called with other argument types")

    monkeypatch.setattr(module, "count_affixed__0", must_not_run)
    lines = ["- one", "two", "- three", "* four"]
    text = "".join(lines)
    cps = np.array([ord(c) for c in text], dtype=np.uint32)  # writable: the stage passes read-only
    ends = np.cumsum([len(x) for x in lines]).astype(np.int64)
    starts = (ends - [len(x) for x in lines]).astype(np.int64)
    bounds = np.array([0, 2, 4], dtype=np.int64)
    pat = np.array([ord("-"), ord("*")], dtype=np.uint32)
    offs = np.array([0, 1, 2], dtype=np.int64)
    got = compiled_kernels.dispatch("count_affixed")(cps, starts, ends, bounds, pat, offs, False)
    want = [sum(x.startswith(("-", "*")) for x in lines[:2]), sum(x.startswith(("-", "*")) for x in lines[2:])]
    assert got.tolist() == want


def _kinds_of_values() -> list:
    base = np.zeros((3, 2), np.float32)
    readonly = np.zeros(4, np.uint32)
    readonly.flags.writeable = False
    unaligned = np.frombuffer(b"\0" * 17, dtype=np.uint8)[1:].view(np.uint64)
    big_endian = np.zeros(2, dtype=">u8")
    return [np.zeros(3, np.uint8), np.frombuffer(b"abc", dtype=np.uint8), base, base[:, 0], base.T,
            np.asfortranarray(np.zeros((2, 3))), np.zeros(4, np.int64)[::2], np.zeros(0, np.uint64), readonly,
            unaligned, big_endian, np.zeros(1, np.uint32), np.zeros((1, 1), np.uint32), np.zeros(2, np.bool_),
            7, True, 1.5, np.float32(0.5), np.uint64(3), np.int64(2), "text"]


def test_equal_argument_kind_keys_mean_equal_numba_type_names():
    """The dispatcher remembers its choice per argument_kind_key: two values with one key must
    have one numba type name (else a remembered compiled variant would read the wrong memory)."""
    values = _kinds_of_values()
    names_by_key: dict = {}
    for value in values:
        names_by_key.setdefault(compiled_kernels.argument_kind_key(value), set()).add(numba_type_name(value))
    assert all(len(names) == 1 for names in names_by_key.values()), names_by_key
    assert len(names_by_key) >= 15  # the kinds above are told apart, not lumped together


@needs_build
def test_the_remembered_choice_follows_the_argument_kinds(monkeypatch):
    """A kernel called with read-only, then writable, then read-only text arrays runs the compiled
    variant, the JIT kernel, and the compiled variant again: the remembered choice is per kind of
    arguments, and the types are worked out once per kind, not once per call."""
    module, _info = compiled_kernels._module()
    compiled_calls, named = [], []
    real = getattr(module, "count_affixed__0")
    monkeypatch.setattr(module, "count_affixed__0", lambda *a: compiled_calls.append(1) or real(*a))
    real_name = compiled_kernels.numba_type_name
    monkeypatch.setattr(compiled_kernels, "numba_type_name", lambda v: named.append(1) or real_name(v))
    run = compiled_kernels.dispatch("count_affixed")
    lines = ["- one", "two", "- three", "* four"]
    writable = np.array([ord(c) for c in "".join(lines)], dtype=np.uint32)
    readonly = writable.copy()
    readonly.flags.writeable = False
    ends = np.cumsum([len(x) for x in lines]).astype(np.int64)
    starts = (ends - [len(x) for x in lines]).astype(np.int64)
    affixes = np.array([ord("-"), ord("*")], dtype=np.uint32)
    affixes.flags.writeable = False  # as the stage passes them
    rest = (starts, ends, np.array([0, 2, 4], dtype=np.int64), affixes, np.array([0, 1, 2], dtype=np.int64), False)
    for cps, compiled in ((readonly, 1), (writable, 1), (readonly, 2), (readonly, 3)):
        assert run(cps, *rest).tolist() == [1, 2]
        assert len(compiled_calls) == compiled
    assert len(named) == 2 * 7  # two kinds of arguments, seven arguments each
