"""The perturbation steps of Inv-Entropy and the external Semantic Volume: paraphrased questions
drawn by the cell's model with a fixed prompt and decoder, the responses to each by the cell's
sampler, and their embeddings.

The calculators are checked against what they are documented to ask the model for (a recording
generator); the track end to end on the tiny model with the real default MiniLM (installed
offline by the test setup): finite scores, paraphrases shared by a model's decoders, the
responses to the question itself being the cell's samples (counted as cached), and draws cached
one by one, so that a run stopped part-way redraws only what it had not stored."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.cache import Cache
from entropy_bench.calculators.perturbation_responses import PerturbationResponses
from entropy_bench.calculators.perturbations import PARAPHRASE_PROMPT, PARAPHRASER, Perturbations
from entropy_bench.calculators.question_embeddings import QuestionEmbeddings
from entropy_bench.calculators.response_embeddings import ResponseEmbeddings
from entropy_bench.methods.records import Generation
from entropy_bench.models.hf import load_model
from entropy_bench.runner import run_sweep
from entropy_bench.tasks.arithmetic import Arithmetic
from entropy_bench.tasks.base import TASKS
from entropy_bench.tracking import PARENT_ID_TAG
from entropy_bench.tracks.generation_data import Generator
from entropy_bench.tracks.spec import SpecError

from sweep_fixtures import tiny_sweep

MEASURES = [
    {"name": "inv_entropy", "n_perturbations": 2, "n_responses": 2},
    {"name": "semantic_volume", "source": "queries", "n_perturbations": 2},
]


def gen(text: str) -> Generation:
    return Generation(text=text, token_ids=[1], logprob=[-0.5], entropy=[0.3], warped_logprob=[-0.5],
                      warped_entropy=[0.3], top_ids=[], top_logprobs=[], finish_reason="stop")


class RecordingGenerator:
    """Records each draw; the k-th continuation of row r is the text ``" <r>#<k> "``; the model
    reads ``task``'s prompts marked ``<fit>`` (as ``Generator.prompt`` fits them to its window)."""

    def __init__(self, task=None):
        self.calls = []
        self.task = task

    def prompt(self, example):
        return "<fit>" + self.task.prompt(example)

    def draw(self, prompts, rows, n, **settings):
        self.calls.append({"prompts": list(prompts), "rows": list(rows), "n": n, **settings})
        return [[gen(f" {row}#{k} ") for k in range(1, n + 1)] for row in rows]


def test_perturbations_are_the_question_and_n_paraphrases_by_a_fixed_prompt_and_decoder():
    task = TASKS.build("arithmetic")
    examples = task.load("test", 2)
    generator = RecordingGenerator()
    out = Perturbations(n=3).compute({"examples": examples, "task": task, "generator": generator})
    ids = [e["id"] for e in examples]
    assert out == [[e["expression"]] + [f"{i}/paraphrase#{k}" for k in (1, 2, 3)] for e, i in zip(examples, ids)]
    (call,) = generator.calls
    assert call["prompts"] == [PARAPHRASE_PROMPT.format(question=e["expression"]) for e in examples]
    assert call["prompts"][0].endswith(f"Question: {examples[0]['expression']}\nRewritten:")
    assert call["rows"] == [f"{i}/paraphrase" for i in ids] and call["n"] == 3
    assert call["decoder"] is PARAPHRASER and call["stop"] == ("\n",) and call["max_new_tokens"] == 128


def test_perturbation_responses_prompt_each_question_as_the_task_prompts_its_example():
    task = TASKS.build("arithmetic", style="word", num_fewshot=1)
    (example,) = task.load("test", 1)
    questions = [example["question"], "Another wording?", ""]
    generator = RecordingGenerator(task)
    out = PerturbationResponses(n=2, r=3).compute(
        {Perturbations(2): [questions], "examples": [example], "task": task, "generator": generator})
    (call,) = generator.calls
    assert call["prompts"][0] == "<fit>" + task.prompt(example)  # the example's own prompt: its samples' rows
    assert call["prompts"][1] == "<fit>" + task.prompt({**example, "question": "Another wording?"})
    assert "Question: \n" in call["prompts"][2]  # an empty paraphrase is kept as it is
    assert call["rows"] == [example["id"], f"{example['id']}/paraphrase1", f"{example['id']}/paraphrase2"]
    assert call["n"] == 3 and "decoder" not in call  # the cell's sampler, the task's length and stops
    assert out == [[[f" {row}#{k} " for k in (1, 2, 3)] for row in call["rows"]]]


class HashEncoders:
    def embed(self, model, texts):
        return torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(len(t))) for t in texts])


def test_perturbation_embeddings_keep_the_question_and_response_axes():
    questions = [["a", "bb", "ccc"], ["d", "ee", "fff"]]
    responses = [[["x" * (i + j + k) for k in range(2)] for j in range(3)] for i in range(2)]
    q = QuestionEmbeddings("m", 2).compute({Perturbations(2): questions, "encoders": HashEncoders()})
    r = ResponseEmbeddings("m", 2, 2).compute({PerturbationResponses(2, 2): responses, "encoders": HashEncoders()})
    assert [t.shape for t in q] == [(3, 4)] * 2 and [t.shape for t in r] == [(3, 2, 4)] * 2
    assert torch.equal(q[1][2], HashEncoders().embed("m", ["fff"])[0])
    assert torch.equal(r[1][2][1], HashEncoders().embed("m", ["x" * 4])[0])  # example 1, question 2, response 1


# --- the generation track --------------------------------------------------------------------------


def child_metrics(uri: str) -> dict[str, dict]:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], max_results=100)
    return {r.data.params["decoder"]: r.data.metrics for r in runs if PARENT_ID_TAG in r.data.tags}


@pytest.fixture(scope="module")
def perturbed(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("perturbations")
    uri, cache = f"sqlite:///{tmp / 'mlruns.db'}", tmp / "cache"
    spec = tiny_sweep(tiny_model_dir, limit=3, n_samples=2, uncertainty=MEASURES)
    run_sweep(sweep.parse(spec), tracking_uri=uri, cache_dir=cache, progress=False)
    return dict(metrics=child_metrics(uri), cache=Cache(cache), spec=spec)


def test_perturbation_measures_score_every_example_end_to_end(perturbed):
    for decoder, metrics in perturbed["metrics"].items():
        means = {k: v for k, v in metrics.items() if k.startswith("test/uq/") and k.endswith("/mean")}
        assert len(means) == 2, means
        assert all(math.isfinite(v) for v in means.values()), (decoder, means)


def test_paraphrases_are_shared_by_the_decoders_and_the_samples_reused(perturbed):
    """Per cell, 3 examples: 3 answers, 3 × 2 samples, 3 × 2 paraphrases, 3 × 3 × 2 responses
    (3 questions each), of which those to the question itself (3 × 2) are the cell's samples."""
    greedy, tempered = perturbed["metrics"]["greedy"], perturbed["metrics"]["temperature(temperature=0.7)"]
    drawn = 3 + 6 + 6 + 18
    for metrics in (greedy, tempered):
        assert metrics["cost/generations_computed"] + metrics["cost/generations_cached"] == drawn
    # the greedy cell ran first: only the responses to its own questions are cached; the second
    # cell finds the paraphrases as well
    assert greedy["cost/generations_cached"] == 6 and tempered["cost/generations_cached"] == 6 + 6


def test_a_task_without_a_question_is_refused_for_perturbation_measures(tiny_model_dir):
    @dataclasses.dataclass(frozen=True)
    class NoQuestion(Arithmetic):
        question_field = None

    TASKS.names()
    TASKS.register("test_no_question", paper="")(NoQuestion)
    try:
        spec = tiny_sweep(tiny_model_dir, tasks=[{"name": "test_no_question", "limit": 2}], uncertainty=MEASURES[1:])
        with pytest.raises(SpecError, match=r"semantic_volume\(.*reads the question.*test_no_question"):
            sweep.plan(sweep.parse(spec))
        sweep.plan(sweep.parse(dict(spec, uncertainty=["max_sequence_prob"])))  # other measures are fine
    finally:
        TASKS._entries.pop("test_no_question")


def test_generator_draws_are_cached_one_by_one(tiny_model_dir, tmp_path):
    """A draw stopped after its first prompts (a killed run) leaves those prompts' draws cached: the
    next draw generates only the rest, and returns what one uninterrupted draw returns."""
    (cell, *_) = sweep.plan(sweep.parse(tiny_sweep(tiny_model_dir, batch_size=2))).cells
    lm = load_model(str(tiny_model_dir))
    prompts, rows = ["1 + 1 =", "2 + 2 =", "3 + 3 ="], ["a", "b", "c"]
    whole = Generator(cell, lm, Cache(tmp_path / "whole"))
    expected = whole.draw(prompts, rows, 2, decoder=PARAPHRASER)
    assert (whole.generated, whole.cached) == (6, 0)
    stopped = Generator(cell, lm, Cache(tmp_path / "stopped"))
    stopped.draw(prompts[:1], rows[:1], 2, decoder=PARAPHRASER)
    resumed = Generator(cell, lm, Cache(tmp_path / "stopped"))
    again = resumed.draw(prompts, rows, 2, decoder=PARAPHRASER)
    assert (resumed.generated, resumed.cached) == (4, 2)
    assert [[g.token_ids for g in row] for row in again] == [[g.token_ids for g in row] for row in expected]
    for a, b in zip(sum(again, []), sum(expected, [])):
        np.testing.assert_allclose(a.logprob, b.logprob, atol=1e-5)
