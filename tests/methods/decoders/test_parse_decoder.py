"""``parse_decoder``: a decoder id back to the decoder (sweep files and lm-eval model arguments)."""

from __future__ import annotations

import pytest

from entropy_bench.methods.decoders.base import build_decoder, parse_decoder
from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError

SPECS = [
    "greedy",
    {"name": "min_p", "min_p": 0.1},
    {"name": "temperature", "temperature": 0.7},
    [{"name": "temperature", "temperature": 0.7}, {"name": "top_p", "top_p": 0.9}],
    [{"name": "temperature", "temperature": 1.5}, {"name": "top_k", "top_k": 5}, {"name": "min_p", "min_p": 0.05}],
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_parse_is_the_inverse_of_the_id(spec):
    decoder = build_decoder(spec)
    assert parse_decoder(decoder.id) == decoder


def test_an_integer_for_a_float_parameter_is_the_same_decoder():
    assert parse_decoder("temperature(temperature=1)") == build_decoder({"name": "temperature", "temperature": 1.0})


@pytest.mark.parametrize("text, error", [("min_q(min_q=0.1)", UnknownMethodError), ("min_p(p=0.1)", InvalidParameterError),
                                         ("min_p(min_p=0.1", ValueError), ("greedy+", ValueError),
                                         ("min_p(min_p=abc)", InvalidParameterError)])
def test_bad_ids_are_clear_errors(text, error):
    with pytest.raises(error):
        parse_decoder(text)
