"""The attack suite's scanner finds a planted value in the forms it promises (hand-written cases)."""
from __future__ import annotations

from .conftest import scan_text

EMAIL, CARD = "kim.minsu@example.com", "4539 1488 0343 6467"


def test_plain_escaped_and_reformatted_values_are_found():
    cells = "first cell\nsecond \"quoted\" cell\nmail kim.minsu\\u0040example.com here"
    assert scan_text("col", cells, [EMAIL]) == [f"col: {EMAIL!r}"]
    assert scan_text("col", "row\ncard 4539-1488-0343-6467\n", [CARD]) == [f"col: {CARD!r}"]
    assert scan_text("col", "row\ncard 4539148803436467", [CARD]) == [f"col: {CARD!r}"]


def test_absent_and_partial_values_are_not_reported():
    assert scan_text("col", "mail <EMAIL_ADDRESS>\n\\u0041 escaped A", [EMAIL]) == []
    assert scan_text("col", "card 4539 1488 0343", [CARD]) == []
