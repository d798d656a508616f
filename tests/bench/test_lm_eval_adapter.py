"""The lm-eval model ``entropy_bench`` against lm-eval's own ``hf`` model on the same weights
(loglikelihood, rolling loglikelihood, greedy ``generate_until``), and its seeding against the
suite's generation loop."""

from __future__ import annotations

import pytest

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.api.registry import get_model  # noqa: E402

import entropy_bench.lm_eval_adapter as adapter  # noqa: E402
from entropy_bench.methods.decoders.base import parse_decoder  # noqa: E402
from entropy_bench.tracks.generation_data import row_seed  # noqa: E402

PAIRS = [("Question: Tom has", " 3 apples"), ("1 + 2 = ", "3"), ("", "Lena has 12"),
         ("Lena", " has 12 marbles and gives away 5"), ("Lena has 12", " marbles")]
LONG_TEXT = " ".join(["Lena has 12 marbles and gives away 5, so she has 7 marbles left."] * 30)


def requests(kind: str, args: list[tuple], task: str = "t", doc_ids=None) -> list[Instance]:
    doc_ids = range(len(args)) if doc_ids is None else doc_ids
    return [Instance(kind, {}, a, 0, (task, d, 1)) for a, d in zip(args, doc_ids)]


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    ours = get_model("entropy_bench").create_from_arg_string(f"pretrained={tiny_model_dir},batch_size=2")
    theirs = get_model("hf").create_from_arg_string(f"pretrained={tiny_model_dir},dtype=float32,device=cpu,batch_size=2")
    return ours, theirs


def test_registered_beside_lm_eval_own_models():
    assert get_model("entropy_bench") is adapter.EntropyBenchLM
    assert get_model("hf").__name__ == "HFLM"


def test_loglikelihood_equals_lm_eval_hf(models):
    ours, theirs = models
    got, expected = ours.loglikelihood(requests("loglikelihood", PAIRS)), theirs.loglikelihood(requests("loglikelihood", PAIRS))
    assert [g for _, g in got] == [g for _, g in expected]
    assert [v for v, _ in got] == pytest.approx([v for v, _ in expected], abs=1e-4)


def test_a_greedy_continuation_is_greedy_and_scores_its_log_probs(models):
    ours, _ = models
    (text,) = ours.generate_until(requests("generate_until", [("Question: Tom has 3", {"until": [], "max_gen_toks": 4})]))
    ((logprob, greedy),) = ours.loglikelihood(requests("loglikelihood", [("Question: Tom has 3", text)]))
    assert greedy and logprob < 0


def test_rolling_loglikelihood_equals_lm_eval_hf_over_several_windows(models):
    ours, theirs = models
    assert len(ours.tok_encode(LONG_TEXT)) > ours.max_length  # more than one window
    got = ours.loglikelihood_rolling(requests("loglikelihood_rolling", [(LONG_TEXT,)]))
    expected = theirs.loglikelihood_rolling(requests("loglikelihood_rolling", [(LONG_TEXT,)]))
    assert got == pytest.approx(expected, rel=1e-5)


def test_greedy_generate_until_equals_lm_eval_hf(models):
    ours, theirs = models
    args = [(p, {"until": ["\n\n", " 3 3"], "max_gen_toks": 12, "do_sample": False})
            for p in ["Question: Tom has 3", "1 + 2 =", "Lena has", "Question:"]]
    assert ours.generate_until(requests("generate_until", args)) == theirs.generate_until(requests("generate_until", args))


def test_sampling_uses_the_row_seed_of_the_row_prefix_and_repeats_are_samples(tiny_model_dir):
    decoder = "temperature(temperature=1.0)"
    ours = adapter.EntropyBenchLM(pretrained=str(tiny_model_dir), decoder=decoder, seed=3,
                                  row_prefix="toy/test/", batch_size=3)
    (request,) = requests("generate_until", [("Lena has", {"until": [], "max_gen_toks": 6})], task="gsm8k_local", doc_ids=[7])
    texts = ours.generate_until([request, request, request])  # lm-eval's repeats: one instance, three times
    seeds = [row_seed(3, "toy/test/7", k) for k in range(3)]
    expected = ours.lm.generate(["Lena has"] * 3, parse_decoder(decoder), seeds=seeds, max_new_tokens=6)
    assert texts == [g.text for g in expected]
    assert len(set(texts)) > 1


def test_model_arguments_keep_a_decoder_id_whole_and_refuse_unknown_ones(tiny_model_dir):
    ours = adapter.EntropyBenchLM.create_from_arg_string(
        f"pretrained={tiny_model_dir},decoder=temperature(temperature=0.7)+top_k(top_k=5),seed=2",
        {"batch_size": 4, "device": None})
    assert ours.decoder.id == "temperature(temperature=0.7)+top_k(top_k=5)"
    assert (ours.seed, ours.batch_size) == (2, 4)
    given = adapter.EntropyBenchLM.create_from_arg_obj({"pretrained": str(tiny_model_dir), "batch_size": 8},
                                                       {"batch_size": 1, "device": "cpu"})
    assert given.batch_size == 8  # the model arguments over lm-eval's --batch_size default
    with pytest.raises(TypeError, match="unknown model argument.*'dtype'"):
        adapter.EntropyBenchLM(pretrained=str(tiny_model_dir), dtype="float16")
    with pytest.raises(ValueError, match="auto"):
        adapter.EntropyBenchLM(pretrained=str(tiny_model_dir), batch_size="auto")
