"""``truncate_at_stop`` against lm-eval's way of cutting (each ``until`` string in turn)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from entropy_bench.tasks.base import truncate_at_stop


def lm_eval_cut(text: str, until: list[str]) -> str:
    for term in until:  # lm-eval's HFLM.generate_until
        text = text.split(term)[0]
    return text


@given(st.text(alphabet="abQ:\n é", max_size=30), st.lists(st.text(alphabet="abQ:\n é", min_size=1, max_size=3), max_size=4))
def test_equals_lm_eval_sequential_split(text, until):
    assert truncate_at_stop(text, until) == lm_eval_cut(text, until)


def test_hand_cases():
    assert truncate_at_stop("x = 4\nQuestion: y", ("Question:", "\n")) == "x = 4"
    assert truncate_at_stop("abc", ()) == "abc"
    assert truncate_at_stop("abc", ("", "c")) == "ab"  # an empty stop string stops nothing
    assert truncate_at_stop("abcabc", ["bc", "ca"]) == "a"
    assert truncate_at_stop(":é", ("é", ":é")) == ":"  # in turn, as lm-eval: not at the earliest occurrence
