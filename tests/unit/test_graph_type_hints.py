"""Output types the graph declares instead of letting Beam infer them (pipeline/graph.py): each
declared type is what Beam's own inference gives for that transform, so every PCollection keeps
the element type, and the coder, it had."""
from __future__ import annotations

import apache_beam as beam
from apache_beam import typehints

from pipeline import graph
from pipeline.config import load_config
from pipeline.runners import local_pipeline


def _applied(pipeline: beam.Pipeline) -> list:
    found = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            found.append(node)

    pipeline.visit(Visitor())
    return found


def test_declared_decision_scrubber_output_equals_beams_inference(tmp_path):
    cfg = load_config()
    assert cfg.pii.enabled  # the default graph scrubs decision rows
    src = tmp_path / "a.jsonl"
    src.write_text('{"text": "hello"}\n', encoding="utf-8")
    files = [{"uri": str(src), "format": "jsonl", "compression": None, "size": src.stat().st_size}]
    p = local_pipeline()
    graph.build(p, cfg, files, str(tmp_path / "staging"), "run-1", read_workers=2)
    scrubbers = [n for n in _applied(p) if n.full_label.startswith("decisions:pii:") and isinstance(n.transform, beam.ParDo)]
    assert len(scrubbers) >= 2
    for node in scrubbers:
        declared = node.transform.get_type_hints().simple_output_type(node.full_label)
        [main_input] = node.main_inputs.values()
        inferred = node.transform.infer_output_type(main_input.element_type)  # Beam's own inference
        assert declared == inferred == typehints.Any, node.full_label
        [out] = node.outputs.values()
        assert out.element_type == inferred, node.full_label
