"""The measurement harness (benchmarks/side_by_side.py, bench_e2e.measure, corpus.text_paragraphs):
what it measures of a real process, how it counts documents per stage, projects, and splices."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_e2e  # noqa: E402
import corpus  # noqa: E402
import side_by_side  # noqa: E402


def test_measure_sees_cpu_and_memory_of_a_grandchild():
    # A child that starts a grandchild holding 120 MB and burning CPU: the measurement must see the
    # grandchild's memory as its largest process and count its CPU seconds.
    grandchild = "import time; b = bytearray(120 * 2**20); t = time.process_time()\nwhile time.process_time() - t < 0.2: pass"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}], check=True)"
    r = bench_e2e.measure([sys.executable, "-c", child])
    assert r["rc"] == 0
    assert r["cpu"] >= 0.2
    assert r["peak_proc_mb"] >= 120
    assert r["peak_rss_mb"] >= r["peak_proc_mb"]
    assert r["procs"] >= 2
    holder = [p for p in r["per_process"] if "bytearray" in p["cmd"] and "subprocess" not in p["cmd"]]
    assert len(holder) == 1 and holder[0]["peak_mb"] >= 120
    assert r["load1"] >= 0


def test_text_paragraphs_split_at_blank_lines_and_drop_short_ones():
    raw = textwrap.dedent("""\
        This is the first paragraph of a README file,
        wrapped over two lines.

        short

        \t
        The second paragraph is long enough to be kept as a paragraph.
        """).encode()
    assert corpus.text_paragraphs(raw) == [
        "This is the first paragraph of a README file, wrapped over two lines.",
        "The second paragraph is long enough to be kept as a paragraph.",
    ]
    assert corpus.text_paragraphs(b"\xff\xfe not utf-8") == []


def test_docs_reaching_each_stage_follow_the_drops_in_order():
    run = {"records_in": 100, "quarantined": 3, "kept": 70,
           "dropped_by_reason": {"ingest/empty": 2, "license/opt_out": 5, "quality/word_count": 15, "dedup/near_duplicate": 5},
           "stages": {"license": "on", "langid": "on", "quality": "on", "pii": "on", "dedup": "on"}}
    order = ["ingest", "license", "langid", "quality", "pii", "dedup", "output"]
    # 100 read, 3 quarantined, 2 empty → 95 reach license; 5 opt-outs → 90; quality drops 15 → 75 reach pii and dedup
    assert side_by_side.docs_reaching_ours(run, order) == {"license": 95, "langid": 90, "quality": 90, "pii": 75, "dedup": 75, "output": 70}
    run["stages"]["license"] = run["stages"]["quality"] = "off"
    run["dropped_by_reason"] = {"dedup/near_duplicate": 5}
    assert side_by_side.docs_reaching_ours(run, order) == {"langid": 97, "pii": 97, "dedup": 97, "output": 70}


def _runs(*walls_cpus):
    return [{"wall": w, "cpu": c} for w, c in walls_cpus]


def test_projection_is_amdahl_over_per_stage_cpu():
    key = side_by_side.cell_key
    cells = {
        key("m", 1000, "ours", 1): _runs((300, 100), (330, 110), (280, 90)),  # median CPU 100
        key("m", 1000, "ours", 2): _runs((250, 120)),  # 20 CPU s more than one worker
        key("m", 1000, "ours_off", 1): _runs((12, 10)),
        key("m", 1000, "ours_license_alone", 1): _runs((30, 20)),  # 10 CPU s of its own
        key("m", 1000, "ours_dedup_alone", 1): _runs((70, 60)),  # 50
    }
    p = side_by_side.projection(cells, "m", 1000)
    # 60 s spreadable, 40 s serial: 100 / (40 + 30) at 2 workers, 100 / (40 + 15) at 4
    assert p["parallel"] == pytest.approx(60)
    assert p["ideal2"] == pytest.approx(100 / 70)
    assert p["ideal4"] == pytest.approx(100 / 55)
    # with the 20 s extra per added worker spread too: 40 + 80/2 = 80 at 2, 40 + 120/4 = 70 at 4
    assert p["with_overhead2"] == pytest.approx(100 / 80)
    assert p["with_overhead4"] == pytest.approx(100 / 70)
    # at ten times the documents (one-worker run measured there), the per-stage CPU scales with them
    cells[key("m", 10_000, "ours", 1)] = _runs((3000, 1000))
    p10 = side_by_side.projection(cells, "m", 10_000)
    assert p10["measured_at"] == 1000 and p10["parallel"] == pytest.approx(600)
    assert side_by_side.projection(cells, "other", 1000) is None


def test_critical_path_takes_each_stage_at_its_busiest_process_or_its_cpu_over_the_cores():
    import stage_cpu

    phases = [
        {"runner": 1.0, "workers": [0.5]},  # start-up: the runner alone → 1.0 on any number of cores
        {"runner": 0.2, "workers": [10.0, 2.0]},  # one worker did most: 10.0 however many cores
        {"runner": 0.4, "workers": [5.0, 5.0, 5.0, 5.0]},  # even: 20.4 / cores, at least 5.0
    ]
    assert stage_cpu.critical_path(phases, 1) == pytest.approx(1.5 + 12.2 + 20.4)
    assert stage_cpu.critical_path(phases, 2) == pytest.approx(1.0 + 10.0 + 10.2)
    assert stage_cpu.critical_path(phases, 4) == pytest.approx(1.0 + 10.0 + 5.1)
    assert stage_cpu.critical_path(phases, 8) == pytest.approx(1.0 + 10.0 + 5.0)


def test_splice_puts_the_headline_on_top_and_keeps_the_rest(tmp_path, monkeypatch):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmarks\n\n## Profile\n\nkept text\n", encoding="utf-8")
    monkeypatch.setattr(side_by_side, "RESULTS_MD", results_md)
    report = "# Side by side\n\nintro line\n## Headline\n\n| a |\n## Targets\n\n| t |\n## Documents reaching each stage\n\nnot in the headline\n"
    side_by_side.splice(report)
    side_by_side.splice(report.replace("| a |", "| b |"))  # a second run replaces the block, never stacks it
    text = results_md.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n")
    assert text.count(side_by_side.BEGIN) == 1 and text.count(side_by_side.END) == 1
    assert "| b |" in text and "| a |" not in text and "| t |" in text
    assert "not in the headline" not in text
    assert text.index(side_by_side.END) < text.index("## Profile") and "kept text" in text


def test_merged_streams_name_every_commit_they_were_measured_on(tmp_path, monkeypatch):
    monkeypatch.setattr(side_by_side, "WORK", tmp_path)
    monkeypatch.setattr(side_by_side, "RESULTS_JSON", tmp_path / "side_by_side.json")
    for name, commit, first in (("side_by_side_a.json", "aaa1111", "2026-12-06 10:00"), ("side_by_side_b.json", "bbb2222", "2026-12-06 12:00")):
        (tmp_path / name).write_text(json.dumps({"commit": commit, "first": first, "last": first, "cells": {}}))
    out = side_by_side.merged({})
    assert out["commits"] == ["aaa1111", "bbb2222"] and out["first"] == "2026-12-06 10:00" and out["last"] == "2026-12-06 12:00"
    assert "`aaa1111`, `bbb2222`" in side_by_side._commits_text(out)
    assert side_by_side._commits_text({"commit": "ccc3333"}) == "commit `ccc3333`"
