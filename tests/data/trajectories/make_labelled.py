"""Writes labelled.jsonl and benchmark.jsonl: good and defective trajectory candidates, en and ko.

    .venv/bin/python tests/data/trajectories/make_labelled.py

Good samples come in several writing styles (the programmatic teacher's, bullet lists with a check,
LaTeX with \\boxed, prose with a bold answer); each defect is made from a good sample by one edit.
Labels: good, wrong_answer, wrong_step, broken_tags, empty_thinking, language_switch, loop, pii,
benchmark_copy. The benchmark items are written for this file (GSM8K-like, not copied from GSM8K).
"""
from __future__ import annotations

import ast
import json
import random
from pathlib import Path

from pipeline.config import load_config
from pipeline.trajectories.arith import format_number, normalize_expression
from pipeline.trajectories.teachers.programmatic import ProgrammaticTeacher
from pipeline.trajectories.templates import generate_word_problems, load_templates

HERE = Path(__file__).resolve().parent
PER_KIND = 20

BENCHMARK = [
    ("en", "A baker makes 48 muffins in the morning and 36 muffins in the afternoon. She sells 70 muffins during the day. How many muffins are left at the end of the day?", "14"),
    ("en", "Tom reads 12 pages of his book every evening. His book has 300 pages and he has already read 84 pages. How many more evenings will he need to finish the book?", "18"),
    ("en", "A farmer plants 15 rows of tomato plants with 24 plants in each row. A storm destroys 45 of the plants. How many tomato plants are left standing in the field?", "315"),
    ("en", "A school orders 9 boxes of markers with 32 markers in each box and shares them equally among 8 classrooms. How many markers does each classroom receive?", "36"),
    ("en", "Lena saves 25 dollars every week for 14 weeks and then spends 120 dollars on a new bicycle helmet and lights. How much money does she have left after the purchase?", "230"),
    ("ko", "빵집에서 오전에 빵을 48개, 오후에 36개 만들었습니다. 하루 동안 70개를 팔았다면 남은 빵은 모두 몇 개입니까?", "14"),
    ("ko", "지호는 매일 저녁 책을 12쪽씩 읽습니다. 책은 모두 300쪽이고 지금까지 84쪽을 읽었다면 책을 다 읽으려면 며칠 저녁이 더 필요합니까?", "18"),
    ("ko", "농부가 토마토를 한 줄에 24그루씩 15줄 심었습니다. 폭풍으로 45그루가 쓰러졌다면 밭에 남아 있는 토마토는 모두 몇 그루입니까?", "315"),
    ("ko", "학교에서 한 상자에 32개씩 들어 있는 마커를 9상자 주문하여 8개 교실에 똑같이 나누어 주었습니다. 한 교실은 마커를 몇 개씩 받습니까?", "36"),
    ("ko", "수아는 매주 25,000원씩 14주 동안 저금한 뒤 120,000원짜리 자전거 헬멧과 전등을 샀습니다. 산 뒤에 남은 돈은 얼마입니까?", "230,000"),
]
BENCH_SOLUTIONS = {
    "14": ["48 + 36 = 84", "84 - 70 = 14"],
    "18": ["300 - 84 = 216", "216 ÷ 12 = 18"],
    "315": ["15 × 24 = 360", "360 - 45 = 315"],
    "36": ["9 × 32 = 288", "288 ÷ 8 = 36"],
    "230": ["25 × 14 = 350", "350 - 120 = 230"],
    "230,000": ["25,000 × 14 = 350,000", "350,000 - 120,000 = 230,000"],
}


def steps_of(expression: str) -> list[tuple[str, str, str, str]]:
    """(left, op, right, result) display strings, bottom-up, as the programmatic teacher computes them."""
    t = ProgrammaticTeacher({})
    steps: list[str] = []
    t._walk(ast.parse(normalize_expression(expression), mode="eval").body, steps)
    out = []
    for s in steps:
        lhs, res = s.rsplit(" = ", 1)
        a, op, b = lhs.split(" ", 2)
        out.append((a, op, b, res))
    return out


def render(style: int, lang: str, steps, result: str, unit: str | None, plan: str | None) -> tuple[str, str]:
    """(thinking, answer) in one of four styles."""
    u = "" if not unit else (f" {unit}" if lang == "en" else unit)
    claims = [f"{a} {op} {b} = {r}" for a, op, b, r in steps]
    if lang == "en":
        if style == 0:
            lines = ([plan] if plan else []) + [f"Step {i + 1}: {c}." for i, c in enumerate(claims)] + [f"So the result is {result}{u}."]
            return "\n".join(lines), f"Answer: {result}{u}"
        if style == 1:
            lines = ["Let me work through this carefully."] + [f"- {c}" for c in claims]
            lines.append("That gives the final value, and the numbers are consistent with the question.")
            return "\n".join(lines), f"The answer is **{result}{u}**."
        if style == 2:
            tex = ", then ".join("$" + c.replace("×", "\\times").replace("÷", "\\div").replace("−", "-") + "$" for c in claims)
            return f"We need to combine the quantities in the right order. We compute {tex}. This is the quantity the question asks for.", f"$\\boxed{{{result.replace(',', '')}}}$"
        lines = [f"Okay, first I compute {claims[0]}."] + [f"Then {c}." for c in claims[1:]] + [f"Nothing else is needed, so the final value is {result}."]
        return " ".join(lines), f"Final answer: {result}{u}"
    if style == 0:
        lines = ([plan] if plan else []) + [f"{i + 1}단계: {c}입니다." for i, c in enumerate(claims)] + [f"따라서 결과는 {result}{u}입니다."]
        return "\n".join(lines), f"정답: {result}{u}"
    if style == 1:
        lines = ["차근차근 계산해 보겠습니다."] + [f"- {c}" for c in claims]
        lines.append("계산한 값이 문제에서 묻는 양과 맞는지 다시 확인했습니다.")
        return "\n".join(lines), f"답은 **{result}{u}**입니다."
    if style == 2:
        tex = ", 그다음 ".join("$" + c.replace("×", "\\times").replace("÷", "\\div").replace("−", "-") + "$" for c in claims)
        return f"문제에 나온 수를 올바른 순서로 계산해야 합니다. {tex} 입니다. 이것이 문제에서 구하는 값입니다.", f"$\\boxed{{{result.replace(',', '')}}}$"
    lines = [f"우선 {claims[0]}이 됩니다."] + [f"이어서 {c}입니다." for c in claims[1:]] + [f"더 필요한 계산은 없으므로 최종 값은 {result}입니다."]
    return " ".join(lines), f"답: {result}{u}"


def compose(thinking: str, answer: str) -> str:
    return f"<think>\n{thinking}\n</think>\n\n{answer}"


EN_SWITCH = "Actually, I will explain the rest of my reasoning in another language so the calculation is easier to follow for everyone reading it."
KO_SWITCH = "이제부터는 나머지 풀이 과정을 한국어로 자세하게 설명하겠습니다. 계산 순서를 다시 한 번 꼼꼼하게 살펴보면 다음과 같습니다."
ZH_SWITCH = "接下来我用中文继续说明剩下的推理过程，这样计算的每一步都会更加清楚，也更容易检查。"
PII_EN = [
    "I will send this worked solution to jessica.moore@example.com after checking it once more.",
    "If anything is unclear, call Daniel at (415) 555-0134 to go over the numbers.",
    "The customer card used for the purchase was 4111 1111 1111 1111 according to the receipt.",
]
PII_KO = [
    "풀이를 확인한 뒤 kim.minsu@example.co.kr 으로 결과를 보내겠습니다.",
    "궁금한 점이 있으면 010-2345-6789 로 연락해 주세요.",
    "영수증에 적힌 주민등록번호 900101-1234568 는 계산과 관계가 없습니다.",
]


def main() -> None:
    rng = random.Random(7)
    cfg = load_config()
    data = load_templates(cfg.rule_file("trajectories/templates.yaml"))
    rows = []
    for lang in ("en", "ko"):
        problems = list(generate_word_problems(data, PER_KIND * 8, seed=11 if lang == "en" else 12, langs=(lang,)))
        it = iter(problems)

        def good(style=None):
            p = next(it)
            task = p["task"]
            st = steps_of(task["expression"])
            s = rng.randrange(4) if style is None else style
            thinking, answer = render(s, lang, st, p["reference_answer"], task.get("unit"), task.get("plan"))
            return p, st, thinking, answer, s

        def add(label, p, completion, note=""):
            rows.append({"id": f"{lang}-{label}-{sum(1 for r in rows if r['label'] == label and r['lang'] == lang):02d}", "label": label, "note": note, "lang": lang,
                         "prompt": p["prompt"], "reference_answer": p["reference_answer"], "completion": completion})

        for i in range(PER_KIND):
            p, st, th, an, _ = good(i % 4)
            add("good", p, compose(th, an))
        for i in range(PER_KIND):  # wrong final answer (thinking concludes the same wrong value)
            p, st, th, an, _ = good()
            ref = p["reference_answer"]
            wrong = format_number(int(ref.replace(",", "")) + rng.choice([1, 2, 10, -1, 100]))
            th = th.replace(f"{ref}.", f"{wrong}.").replace(f"{ref}입니다", f"{wrong}입니다")
            add("wrong_answer", p, compose(th, an.replace(ref, wrong).replace(ref.replace(",", ""), wrong.replace(",", ""))))
        for i in range(PER_KIND):  # one wrong intermediate step
            p, st, th, an, _ = good()
            k = rng.randrange(len(st))
            a, op, b, r = st[k]
            bad_r = format_number(int(r.replace(",", "")) + rng.choice([1, 2, 10, -1])) if "." not in r and "/" not in r else r + "1"
            th = th.replace(f"{a} {op} {b} = {r}", f"{a} {op} {b} = {bad_r}", 1)
            th = th.replace(f"{a} \\times {b} = {r}", f"{a} \\times {b} = {bad_r}", 1).replace(f"{a} \\div {b} = {r}", f"{a} \\div {b} = {bad_r}", 1)
            th = th.replace(f"{a} - {b} = {r}", f"{a} - {b} = {bad_r}", 1)
            add("wrong_step", p, compose(th, an), note=f"step {k + 1}")
        breakers = [
            lambda th, an: f"{th}\n</think>\n\n{an}",
            lambda th, an: f"<think>\n{th}\n\n{an}",
            lambda th, an: f"<think>\n{th}\n<think>\n</think>\n\n{an}",
            lambda th, an: f"<thinking>\n{th}\n</thinking>\n\n{an}",
            lambda th, an: f"Sure! <think>\n{th}\n</think>\n\n{an}",
            lambda th, an: f"</think>\n{th}\n<think>\n\n{an}",
            lambda th, an: f"<think>\n{th}\n</think>\n\n",
            lambda th, an: f"{th}\n\n{an}",
        ]
        for i in range(PER_KIND):
            p, st, th, an, _ = good()
            add("broken_tags", p, breakers[i % len(breakers)](th, an), note=f"variant {i % len(breakers)}")
        for i in range(PER_KIND):
            p, st, th, an, _ = good()
            filler = ["", " ", "\n\n", "\t \n"][i % 4]
            add("empty_thinking", p, f"<think>{filler}</think>\n\n{an}")
        for i in range(PER_KIND):  # language switch: part or all of the thinking in another language
            p, st, th, an, s = good(0)
            if lang == "en":
                other = KO_SWITCH if i % 2 == 0 else ZH_SWITCH
                lines = th.split("\n")
                th2 = "\n".join(lines[:1] + [other] + lines[1:]) if i % 3 else other + "\n" + "\n".join(f"{c}." for c in [f"{a} {op} {b} = {r}" for a, op, b, r in st]) + "\n" + KO_SWITCH
            else:
                lines = th.split("\n")
                th2 = "\n".join(lines[:1] + [EN_SWITCH] + lines[1:]) if i % 3 else ("Let me work this out in English. " + " ".join(f"We get {a} {op} {b} = {r}." for a, op, b, r in st) + " " + EN_SWITCH)
            add("language_switch", p, compose(th2, an))
        for i in range(PER_KIND):  # degenerate loops
            p, st, th, an, _ = good()
            a, op, b, r = st[0]
            kind = i % 4
            if kind == 0:
                loop = ("Wait, let me check that again. " if lang == "en" else "잠깐, 다시 확인해 보겠습니다. ") + f"{a} {op} {b} = {r}."
                th2 = th + "\n" + "\n".join([loop] * 12)
            elif kind == 1:
                th2 = th + "\n" + ("so the answer is " if lang == "en" else "그래서 답은 ") * 40
            elif kind == 2:
                th2 = "\n\n".join([th] * 6)
            else:
                th2 = th + " " + ("hmm " if lang == "en" else "음 ") * 60
            add("loop", p, compose(th2, an), note=f"variant {kind}")
        for i in range(PER_KIND):
            p, st, th, an, _ = good()
            leak = (PII_EN if lang == "en" else PII_KO)[i % 3]
            add("pii", p, compose(th + "\n" + leak, an))
        bench = [b for b in BENCHMARK if b[0] == lang]
        for i in range(PER_KIND):
            _l, q, ref = bench[i % len(bench)]
            prefix = ["", "Solve: " if lang == "en" else "풀어 보세요: ", "", "Question: " if lang == "en" else "문제: "][i % 4]
            claims = BENCH_SOLUTIONS[ref]
            if lang == "en":
                th = "\n".join(f"Step {k + 1}: {c}." for k, c in enumerate(claims)) + f"\nSo the result is {ref}."
                an = f"Answer: {ref}"
            else:
                th = "\n".join(f"{k + 1}단계: {c}입니다." for k, c in enumerate(claims)) + f"\n따라서 결과는 {ref}입니다."
                an = f"정답: {ref}"
            add("benchmark_copy", {"prompt": prefix + q, "reference_answer": ref}, compose(th, an))
    with open(HERE / "labelled.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(HERE / "benchmark.jsonl", "w", encoding="utf-8") as fh:
        for lang, q, ref in BENCHMARK:
            fh.write(json.dumps({"text": q, "answer": ref, "lang": lang}, ensure_ascii=False) + "\n")
    print(len(rows), "labelled rows")


if __name__ == "__main__":
    main()
