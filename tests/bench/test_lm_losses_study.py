"""The LM-losses study on a tiny random GPT-2: answer-only targets, the linear cross-entropy path
equal to the materialised-logits losses (value and gradients), metrics against a hand computation,
determinism under the seed, and the files and MLflow run of a 2-step run."""

from __future__ import annotations

import copy
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from entropy_bench.models.hf import load_model
from entropy_bench.studies import lm_losses as study

ROWS = [
    {"question": "Tom has 3 apples. He gets 4 more. How many apples does Tom have now?",
     "answer": "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"},
    {"question": "Lena has 12 marbles and gives away 5. How many are left?",
     "answer": "12 - 5 = <<12-5=7>>7 marbles are left.\n#### 7"},
    {"question": "What is 5 + 4?", "answer": "5 + 4 = 9\n#### 9"},
    {"question": "What is 9 - 8?", "answer": "9 - 8 = 1\n#### 1"},
]  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    """A tiny model's ops are far faster on one thread (25× on a shared 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def batches(lm, rows, size=2):
    examples = study.encode(lm.tokenizer, rows)
    pad = lm.tokenizer.pad_token_id
    return [study.collate(examples[s : s + size], pad, range(s, min(s + size, len(examples))))
            for s in range(0, len(examples), size)]  # fmt: skip


def test_collate_targets_are_the_next_answer_tokens():
    batch = study.collate([study.Example((1, 2, 3, 4, 5), 2), study.Example((6, 7, 8), 1)], pad_id=0)
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    ignore = study.IGNORE_INDEX
    # the prompt's last position predicts the first answer token; the final position predicts nothing
    assert batch.targets.tolist() == [[ignore, 3, 4, 5, ignore], [7, 8, ignore, ignore, ignore]]
    assert batch.answer_tokens == 5


def test_encode_splits_prompt_and_answer(lm):
    (example,) = study.encode(lm.tokenizer, ROWS[:1])
    prompt = lm.tokenizer.decode(example.ids[: example.n_prompt])
    assert prompt == "Question: " + ROWS[0]["question"] + "\nAnswer:"
    assert lm.tokenizer.decode(example.ids[example.n_prompt :]) == " " + ROWS[0]["answer"]


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("label", ["cross_entropy", "label_smoothing", "logit_z_loss"])
def test_linear_path_equals_materialised_logits(lm, label, dtype, tol):
    model = copy.deepcopy(lm.model).to(dtype)
    (batch,) = batches(lm, ROWS[:3], size=3)
    results = []
    for materialised in (False, True):
        model.zero_grad(set_to_none=True)
        loss = study.batch_loss(model, batch, label, materialised=materialised)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (linear, linear_grads), (logits, logits_grads) = results
    torch.testing.assert_close(linear, logits, atol=tol, rtol=0)
    assert linear_grads.keys() == logits_grads.keys()
    for name in linear_grads:
        torch.testing.assert_close(linear_grads[name], logits_grads[name], atol=tol, rtol=0, msg=name)
    assert any(g.abs().max() > 0 for g in linear_grads.values())


def test_kernel_losses_go_through_linear_cross_entropy(lm, monkeypatch):
    """CE, label smoothing and z-loss call the kernel on hidden states and the head's weight; EMO does not."""
    (batch,) = batches(lm, ROWS[:2], size=2)
    kernel, seen = study.linear_cross_entropy, []

    def recording(hidden, weight, targets, bias=None, **options):
        seen.append((tuple(hidden.shape), weight is lm.model.get_output_embeddings().weight, options))
        return kernel(hidden, weight, targets, bias, **options)

    monkeypatch.setattr(study, "linear_cross_entropy", recording)
    for label in ("cross_entropy", "label_smoothing", "logit_z_loss", "emo"):
        embeddings = lm.model.get_output_embeddings().weight.detach() if label == "emo" else None
        study.batch_loss(lm.model, batch, label, embeddings)
    rows = (batch.answer_tokens, lm.model.config.n_embd)
    options = {"ignore_index": study.IGNORE_INDEX, "impl": "auto"}
    assert seen == [(rows, True, options), (rows, True, {**options, "label_smoothing": 0.1}),
                    (rows, True, {**options, "z_loss": 1e-4})]  # fmt: skip


def test_emo_value_is_cross_entropy(lm):
    (batch,) = batches(lm, ROWS[:2], size=2)
    embeddings = lm.model.get_output_embeddings().weight.detach().clone()
    emo = study.batch_loss(lm.model, batch, "emo", embeddings)
    ce = study.batch_loss(lm.model, batch, "cross_entropy")
    assert float(emo.detach()) == pytest.approx(float(ce.detach()), abs=1e-5)


def test_metrics_match_a_hand_computation(lm):
    test_batches = batches(lm, ROWS, size=3)
    stats = study.token_stats(lm.model, test_batches, rows_at_once=7)  # several row chunks
    # independently: full-vocabulary logits of the whole sequence, answer positions from the rows
    nll, confidence, correct, entropy, example = [], [], [], [], []
    for i, ex in enumerate(study.encode(lm.tokenizer, ROWS)):
        ids = torch.tensor([ex.ids])
        with torch.no_grad():
            logits = lm.model(ids).logits[0].double()
        positions = torch.arange(ex.n_prompt - 1, len(ex.ids) - 1)
        targets = ids[0, positions + 1]
        dist = torch.distributions.Categorical(logits=logits[positions])
        nll += (-dist.log_prob(targets)).tolist()
        confidence += dist.probs.max(-1).values.tolist()
        correct += (dist.probs.argmax(-1) == targets).double().tolist()
        entropy += dist.entropy().tolist()
        example += [i] * len(positions)
    assert stats["example"].tolist() == example
    np.testing.assert_allclose(stats["nll"], nll, atol=1e-5)
    np.testing.assert_allclose(stats["confidence"], confidence, atol=1e-6)
    np.testing.assert_array_equal(stats["correct"], correct)
    np.testing.assert_allclose(stats["entropy"], entropy, atol=1e-5)

    out = study.metrics(stats, seed=0, n_resamples=50)
    assert out["test_perplexity"] == pytest.approx(math.exp(np.mean(nll)), rel=1e-5)
    assert out["mean_entropy"] == pytest.approx(np.mean(entropy), abs=1e-5)
    assert out["token_accuracy"] == pytest.approx(np.mean(correct))
    assert out["answer_tokens"] == len(nll)
    # ECE with 10 equal-width bins [0, .1], (.1, .2], …, (.9, 1]
    conf, corr = np.array(confidence), np.array(correct)
    bins = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)
    hand = sum(np.mean(bins == b) * abs(corr[bins == b].mean() - conf[bins == b].mean())
               for b in range(10) if np.any(bins == b))  # fmt: skip
    assert out["test_ece"] == pytest.approx(hand, abs=1e-6)
    for column in ("test_perplexity", "test_ece", "mean_entropy"):
        assert out[f"{column}_low"] <= out[column] <= out[f"{column}_high"]


def test_schedule_is_seeded_and_without_repeats():
    first = study.schedule(100, steps=5, batch_size=4, seed=1)
    assert first == study.schedule(100, steps=5, batch_size=4, seed=1)
    assert first != study.schedule(100, steps=5, batch_size=4, seed=2)
    flat = [i for step in first for i in step]
    assert len(flat) == len(set(flat)) == 20
    with pytest.raises(ValueError):
        study.schedule(10, steps=3, batch_size=4, seed=0)


def test_same_seed_same_table_and_model_untouched(lm):
    train_batches = batches(lm, ROWS[:4], size=2)  # 2 steps
    test_batches = batches(lm, ROWS, size=2)
    before = {n: p.clone() for n, p in lm.model.state_dict().items()}
    first, curves = study.run_losses(lm.model, train_batches, test_batches, seed=0, n_resamples=50)
    second, _ = study.run_losses(lm.model, train_batches, test_batches, seed=0, n_resamples=50)
    pd.testing.assert_frame_equal(first, second)
    for name, value in lm.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert first["loss"].tolist() == ["initial", *study.LABELS]
    assert all(len(curve) == 2 for curve in curves.values())
    # fine-tuning moved every model away from the initial one
    assert first["test_perplexity"].iloc[0] not in set(first["test_perplexity"].iloc[1:])


def test_run_writes_files_and_one_mlflow_run(tiny_model_dir, shared_data, tmp_path, monkeypatch):
    """A 2-step run on GSM8K; the memory rows' subprocess measurement (kernel_bench's, tested
    there) is replaced by fixed numbers, checked through to memory.csv and MLflow."""
    from entropy_bench import kernel_bench

    specs = []

    def measured(spec):
        specs.append(spec)
        peak = 3 * 2**20 if spec["implementation"] == "eager" else 2**20
        return {"status": "ok", "peak_bytes": peak, "grad_bytes": 2**19, "median_ms": 2.0, "p20_ms": 1.0, "p80_ms": 3.0}

    monkeypatch.setattr(kernel_bench, "measure_in_subprocess", measured)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    table = study.run_lm_losses(tracking_uri=uri, out_dir=out, model=str(tiny_model_dir), steps=2, batch_size=2,
                                test_examples=4, seed=0, memory_tokens=(256,))
    for name in ("table.md", "table.csv", "memory.md", "memory.csv", "train_loss.png"):
        assert (out / name).stat().st_size > 0
    assert len(pd.read_csv(out / "table.csv")) == len(table) == 1 + len(study.LABELS)
    memory = pd.read_csv(out / "memory.csv")
    assert memory["implementation"].tolist() == ["ours:torch", "eager"]
    assert memory["peak_mib"].tolist() == [1.0, 3.0]
    assert memory["peak_ratio_vs_naive"].tolist() == pytest.approx([1 / 3, 1.0])
    vocab, hidden = load_model(str(tiny_model_dir)).model.get_output_embeddings().weight.shape
    assert [s["shape"] for s in specs] == [[256, vocab, hidden]] * 2
    assert {s["op"] for s in specs} == {"linear_cross_entropy"}
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("lm-losses").experiment_id])
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "train_loss/emo")) == 2
    assert {"test_perplexity/initial", "test_ece/label_smoothing", "mean_entropy/logit_z_loss",
            "peak_mib/eager/tokens_256"} <= set(run.data.metrics)
    assert run.data.metrics["peak_mib/eager/tokens_256"] == 3.0  # fmt: skip
    assert run.data.params["steps"] == "2"
    assert "train_loss.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
