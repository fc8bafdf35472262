"""Trajectory validation: safe arithmetic, claim finding, answer extraction/comparison, each named
check, and the quality bar on the labelled en/ko set (tests/data/trajectories/labelled.jsonl)."""
from __future__ import annotations

import json
import threading
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.trajectories.answers import AnswerMatcher
from pipeline.trajectories.arith import evaluate, find_claims, format_number
from pipeline.trajectories.checks import OverlapIndex, Validator, estimate_tokens, split_completion

DATA = Path(__file__).resolve().parent.parent / "data" / "trajectories"
NO_MODELS = ["format", "answer", "steps", "repetition", "length", "contamination"]
UNITS = ["원", "개", "km", "명", "dollars"]


@pytest.fixture(scope="module")
def config():
    return load_config(overrides={"trajectories": {"decontaminate": [str(DATA / "benchmark.jsonl")]}})


@pytest.fixture(scope="module")
def light(config):
    """Every check that needs no model (language and PII have their own tests)."""
    v = Validator(config, order=NO_MODELS)
    v.setup()
    return v


@pytest.fixture(scope="module")
def full(config):
    """The default checks.yaml order: real language identifier and real PII engine."""
    v = Validator(config)
    v.setup()
    return v


def cand(completion, reference="84", lang="en", prompt="What is 12 times 7?"):
    return {"prompt": prompt, "completion": completion, "reference_answer": reference, "lang": lang}


# --- arithmetic ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr,value",
    [
        ("12 × 7", 84),
        ("1,200 + 350", 1550),
        ("3/4", Fraction(3, 4)),
        ("0.1 + 0.2", Fraction(3, 10)),
        ("(1,200 + 350) × 2 − 100", 3000),
        ("15% × 80", 12),
        ("2^10", 1024),
        ("\\frac{3}{4} \\times 8", 6),
        ("48,000 ÷ 100", 480),
    ],
)
def test_evaluate_exact(expr, value):
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    "expr",
    ["__import__('os').system('true')", "x + 1", "9 ** 9 ** 9", "1 / 0", "len('a')", "1, 2", "1 2", "[1] * 3", "2 ** 1000"],
)
def test_evaluate_refuses_anything_but_arithmetic(expr):
    assert evaluate(expr) is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("12 × 7 = 84", [True]),
        ("12 × 7 = 85", [False]),
        ("3/4 = 0.75", [True]),
        ("1,200 + 350 = 1,550", [True]),
        ("1,200 + 350 = 1,650", [False]),
        ("먼저 1,200원 × 7 = 8,400원입니다.", [True]),
        ("10 / 3 = 3.33", [True]),  # rounded to the written decimals
        ("10 / 3 = 3.4", [False]),
        ("10 ÷ 3 ≈ 3.3", [True]),
        ("3 × 4 + 2 = 12 + 2 = 14", [True]),
        ("3 × 4 + 2 = 12 + 2 = 15", [False]),
        ("- 12 × 7 = 84", [True]),  # bullet, not a minus
        ("We compute $12 \\times 7 = 84$, then $84 + 5 = 89$.", [True, True]),
        ("**12 × 7 = 84**", [True]),
        ("1/2 + 1/3 = 5/6", [True]),
        ("It is 3. 4 × 2 = 8", [True]),
        ("1 km = 1000 m", []),  # no operator: a conversion, not a claim
        ("total - 5 × 2 = 69", []),  # continues a worded expression: not checkable
        ("Step 2 = 12 × 7 = 85", [False]),
        ("12 x 7 = 84", [True]),
    ],
)
def test_find_claims(text, expected):
    assert [c.ok for c in find_claims(text, UNITS)] == expected


def test_format_number():
    assert format_number(Fraction(84000)) == "84,000"
    assert format_number(Fraction(7, 8)) == "0.875"
    assert format_number(Fraction(1, 3)) == "1/3"
    assert format_number(Fraction(-9, 2)) == "-4.5"


# --- answers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def matcher():
    return AnswerMatcher()


@pytest.mark.parametrize(
    "answer,method,reference,equal",
    [
        ("정답: 8,400원", "marker", "8400", True),
        ("답: 3시간", "marker", "3", True),
        ("따라서 답은 6,400원입니다.", "marker", "6,400원", True),
        ("Answer: 89", "marker", "89", True),
        ("Final answer: 90", "marker", "89", False),
        ("The result is \\boxed{\\frac{3}{4}}.", "boxed", "0.75", True),
        ("She pays **25%** of it.", "text", "0.25", True),
        ("Answer: 0.25", "marker", "25%", True),
        ("So we need 1 1/2 cups", "text", "3/2", True),
        ("It costs $1,250 in total.", "text", "1250", True),
        ("Answer: x^2 - 1", "marker", "(x-1)(x+1)", True),
        ("Answer: 2\\sqrt{2}", "marker", "\\sqrt{8}", True),
        ("Answer: 2\\sqrt{3}", "marker", "\\sqrt{8}", False),
        ("Answer: Seoul", "marker", "Seoul", True),
        ("Seoul.", "text", "Seoul", True),
        # A word answer must be the whole answer: "is not Seoul" contains it too.
        ("The capital is not Seoul.", "text", "Seoul", False),
        ("정답: 12개", "marker", "13", False),
    ],
)
def test_extract_and_compare(matcher, answer, method, reference, equal):
    ext = matcher.extract(answer)
    assert ext.method == method
    assert matcher.judge(ext, reference)[0] is equal


def test_answer_comparison_runs_off_the_main_thread():
    # Beam runs DoFns in threads: Math-Verify's signal-based timeouts must not be reached there.
    results = []
    m = AnswerMatcher(timeout_seconds=5)
    t = threading.Thread(target=lambda: results.append(m.compare("답: $\\frac{1}{2}x + x$", "\\frac{3x}{2}")))
    t.start()
    t.join()
    assert results == [(True, "math_verify")]


# --- format ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "completion,problems",
    [
        ("<think>\n12 × 7 = 84\n</think>\n\nAnswer: 84", []),
        ("12 × 7 = 84\n</think>\n\nAnswer: 84", ["missing_open_tag"]),
        ("<think>\n12 × 7 = 84\n\nAnswer: 84", ["missing_close_tag", "empty_thinking"]),
        ("<think>a</think><think>b</think>Answer: 84", ["multiple_open_tags", "multiple_close_tags", "text_before_think"]),
        ("Sure! <think>\n12 × 7 = 84\n</think>\n\nAnswer: 84", ["text_before_think"]),
        ("<think> \n </think>\n\nAnswer: 84", ["empty_thinking"]),
        ("<think>\n12 × 7 = 84\n</think>\n\n", ["empty_answer"]),
    ],
)
def test_format_check(light, completion, problems):
    out = light.validate(cand(completion))
    got = (out.details.get("format") or {}).get("problems", [])
    assert got == problems
    assert out.checks["format"] is (not problems)


def test_split_completion():
    thinking, answer, problems = split_completion("<think>\nx\n</think>\n\nAnswer: 1")
    assert (thinking, answer, problems) == ("x", "Answer: 1", [])


# --- answer / steps --------------------------------------------------------------------------
def test_answer_check_reason_and_detail(light):
    out = light.validate(cand("<think>\n12 × 7 = 84\n</think>\n\nAnswer: 85"))
    assert out.failed == ["answer"]
    assert light.reason("answer") == "answer_mismatch"
    assert out.details["answer"] == {"extracted": "marker", "compare": "mismatch"}


def test_answer_without_reference_needs_an_extractable_answer(light):
    ok = light.validate(cand("<think>\n12 × 7 = 84\n</think>\n\nAnswer: 84", reference=None))
    assert ok.accepted
    long_text = "<think>\nthinking about it\n</think>\n\n" + "A long reply with no marked answer and no digits at all. " * 4
    assert light.validate(cand(long_text, reference=None)).failed == ["answer"]


def test_one_wrong_step_rejects_and_is_named(light):
    out = light.validate(cand("<think>\n12 × 7 = 84\n84 + 5 = 90\n90 - 6 = 84\n</think>\n\nAnswer: 84"))
    assert out.failed == ["steps"]
    assert out.details["steps"] == {"claims": 3, "wrong": ["84 + 5 = 90"]}


# --- repetition / length / contamination -----------------------------------------------------
def test_repetition_catches_loops_not_step_lists(light):
    steps = "\n".join(f"Step {i}: {i} × 7 = {i * 7}." for i in range(1, 12))
    assert light.validate(cand(f"<think>\n{steps}\n</think>\n\nAnswer: 84")).checks["repetition"]
    loop = "12 × 7 = 84\n" + "Wait, let me check that again.\n" * 10
    out = light.validate(cand(f"<think>\n{loop}</think>\n\nAnswer: 84"))
    assert out.failed == ["repetition"] and out.details["repetition"]["max_line_repeats"] == 10
    tail = "12 × 7 = 84 " + "so so so " * 30
    assert "tail_loop_period" in light.validate(cand(f"<think>\n{tail}\n</think>\n\nAnswer: 84")).details["repetition"]


def test_length_bounds(light):
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("가나다") == 3
    out = light.validate(cand("<think>\nok\n</think>\n\nAnswer: 84"))
    assert "thinking_too_short" in out.details["length"]["problems"]


def test_contamination_word_ngrams(light):
    bench = json.loads((DATA / "benchmark.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]
    out = light.validate(cand("<think>\n48 + 36 = 84\n84 - 70 = 14\n</think>\n\nAnswer: 14", reference="14", prompt="Please solve. " + bench.upper()))
    assert out.failed == ["contamination"]
    assert light.reason("contamination") == "contaminated"
    assert out.details["contamination"]["overlap"] == {"prompt": 1}
    clean = light.validate(cand("<think>\n12 × 7 = 84\n</think>\n\nAnswer: 84", prompt="A baker makes 12 trays of 7 rolls. How many rolls?"))
    assert clean.accepted


def test_overlap_index_short_items_and_unspaced_text():
    idx = OverlapIndex(n=13, char_n=20, min_item_tokens=6)
    idx.add("What is the sum of the first ten primes?")  # 8 words < 13: must appear whole
    idx.add("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。")
    assert idx.overlap("Quick: what is the sum of the first ten primes? Show work.") == 1
    assert idx.overlap("What is the sum of the first ten numbers?") == 0
    assert idx.overlap("引用：吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。") == 1


# --- PII and language (real engines) ---------------------------------------------------------
def test_pii_check_uses_the_pii_engine(config):
    v = Validator(config, order=["format", "pii"])
    v.setup()
    out = v.validate(cand("<think>\n12 × 7 = 84. Mail it to jane.doe@example.com\n</think>\n\nAnswer: 84"))
    assert out.failed == ["pii"]
    assert out.details["pii"] == {"found": {"thinking": {"EMAIL_ADDRESS": 1}}}
    assert "jane.doe" not in json.dumps(out.details)
    assert v.validate(cand("<think>\n12 × 7 = 84\n</think>\n\nAnswer: 84")).accepted


def test_language_check_catches_a_switch_in_mid_thought(full):
    ko_prompt = "사과가 12개씩 7상자 있습니다. 모두 몇 개입니까?"
    good = "<think>\n한 상자에 12개씩 7상자가 있으므로 전체 개수는 곱셈으로 구합니다.\n12 × 7 = 84이므로 사과는 모두 84개입니다.\n</think>\n\n정답: 84개"
    assert full.validate(cand(good, lang="ko", prompt=ko_prompt)).accepted
    switched = good.replace("12 × 7 = 84이므로", "Now I will continue the reasoning in English because it is easier for me to explain. 12 × 7 = 84, so")
    out = full.validate(cand(switched, lang="ko", prompt=ko_prompt))
    assert out.failed == ["language"]
    assert out.details["language"]["found"] == {"thinking": ["en"]}


# --- the quality bar -------------------------------------------------------------------------
EXPECTED_REASON = {
    "wrong_answer": "answer",
    "wrong_step": "steps",
    "broken_tags": "format",
    "empty_thinking": "format",
    "language_switch": "language",
    "loop": "repetition",
    "pii": "pii",
    "benchmark_copy": "contamination",
}


def test_quality_bar_on_labelled_set(full):
    rows = [json.loads(line) for line in (DATA / "labelled.jsonl").read_text(encoding="utf-8").splitlines()]
    total, right, named = Counter(), Counter(), Counter()
    for row in rows:
        out = full.validate(row)
        key = (row["label"], row["lang"])
        total[key] += 1
        if row["label"] == "good":
            right[key] += out.accepted
        else:
            right[key] += not out.accepted
            named[key] += EXPECTED_REASON[row["label"]] in out.failed
    assert {lang for _, lang in total} == {"en", "ko"}
    assert {label for label, _ in total} == {"good", *EXPECTED_REASON}
    for key in total:
        assert total[key] >= 20
        assert right[key] / total[key] >= 0.95, (key, right[key], total[key])
        if key[0] != "good":  # rejected for the right reason, not by accident
            assert named[key] / total[key] >= 0.95, (key, named[key], total[key])
