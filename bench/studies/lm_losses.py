"""Language-model losses on GSM8K: test perplexity, token calibration and entropy after a fixed budget.

A truncated SmolLM2 (``MODEL``: SmolLM2-135M-Instruct's first 4 of 30 decoder blocks, final norm
and tied LM head kept; float32, CPU; offline, the weights are those of the suite's packaged copy,
dequantised from Q4_1 GGUF, its ``model_source`` logged) is fine-tuned from the same initial weights under each loss
of ``VARIANTS``, then scored on GSM8K test answers, beside the un-fine-tuned model (``initial``).

Text. Plain text in lm-evaluation-harness's GSM8K format (:func:`entropy_bench.tasks.gsm8k.doc_to_text`,
the suite's own prompt): ``"Question: <q>\\nAnswer:"`` followed by ``" " + <answer>`` (the full
reference solution, reasoning and ``#### n``), no chat template (a 4-block model is no instruct
model) and no EOS. Prompt and answer are tokenised apart and concatenated (the boundary is exact),
cut to ``MAX_TOKENS`` = 544 tokens (or the model's context window; the longest GSM8K example is 542
SmolLM2 tokens, so nothing is cut). Only the answer tokens are predicted: position t's target is
token t + 1 where that token belongs to the answer, ``ignore_index`` elsewhere; the LM head sees
only those positions' hidden states.

Budget (the same for every loss): ``steps`` = 30 AdamW steps (``LR`` = 2·10⁻⁴ constant, betas
(0.9, 0.999), weight decay 0.01, fused; gradient norm clipped at 1), each on a batch of
``batch_size`` = 4 GSM8K train examples: the first 30·4 rows of a seeded permutation of the train
split (``torch.randperm`` under ``seed``), in the same order for every loss, so every loss sees the
same tokens at every step (seed 0: 509 answer tokens per step on average, 327 to 709, 15 267 in
all; logged as params). The lr is the small end of what moves this model in 30 steps: cut to 4
blocks, SmolLM2 starts at a CE of 15.7 nats per answer token (test perplexity ≈ 5·10⁶), and
5·10⁻⁵ left it near 10 after 20 steps of 8 examples. The objective is the mean over a batch's
answer tokens (``reduction="mean"``). Dropout off (SmolLM2 has none). One CPU thread
(``THREADS``): on the 2 cores shared with other work, two threads' spin-waits made steps slower
and their times erratic. Deterministic under ``seed`` on a given machine and thread count.

Losses (``VARIANTS``; ``label`` → ``train_loss/<label>`` in MLflow):

- ``cross_entropy``: ``linear_cross_entropy()``;
- ``label_smoothing``: ``linear_cross_entropy(label_smoothing=0.1)`` (Szegedy et al.'s ε);
- ``logit_z_loss``: ``linear_cross_entropy(z_loss=1e-4)``, CE + λ log²Z with PaLM's λ;
- ``emo``: the registry's ``emo``, ½(CE + sg(CE/DEMD)·DEMD) (value = CE, the combination of the
  paper's code), with cost embeddings a frozen copy of the LM head taken before fine-tuning. DEMD
  needs the probabilities of the whole vocabulary: EMO runs on materialised logits [N, V].

The first three call the linear cross-entropy kernel
(:func:`entropy_bench.kernels.linear_cross_entropy.linear_cross_entropy`, the function behind the
registry's ``linear_cross_entropy``, called directly to pin its ``impl``: ``KERNEL_IMPL`` =
``"torch"``, the chunked eager path; ``auto`` would pick ``compiled`` for the steps above 683
tokens and ``torch`` below) on hidden states [N, D] and the head's weight [V, D]: the [N, V] logits
are never formed. Each equals the registry's loss on materialised logits (``cross_entropy`` with
that ε, ``logit_z_loss``), which ``materialised=True`` runs instead (the tests check that both give
the same loss and gradients). The training curve is the objective's value: label smoothing's
includes its smoothing term, z-loss's its λ log²Z; EMO's equals CE.

Evaluation, on the first ``test_examples`` = 50 GSM8K test examples (6 331 answer tokens),
teacher-forced, on their answer tokens only (prompt as for training). Per answer token i, with
p = softmax(z_i) and y its target: NLL_i = −log p_y, confidence c_i = max_v p_v, correct_i =
[argmax_v p_v = y], entropy H_i = −Σ_v p_v log p_v (nats), from the kernel
:func:`entropy_bench.kernels.softmax_stats.softmax_stats`. Over the N answer tokens of the slice,
pooled:

- ``test_perplexity`` = exp((1/N) Σ_i NLL_i);
- ``test_ece`` = :func:`entropy_bench.metrics.uq.ece` (c, correct) with ``ECE_BINS`` = 10
  equal-width bins [0, 0.1], (0.1, 0.2], …, (0.9, 1];
- ``mean_entropy`` = (1/N) Σ_i H_i; also ``token_accuracy`` = mean correct and ``mean_confidence``;
- 95 % percentile bootstrap intervals (``*_low`` / ``*_high``) of the first three, resampling test
  examples (all tokens of a drawn example together; ``BOOTSTRAP_RESAMPLES`` = 1000, seeded by ``seed``).

Peak memory of the LM-head loss + backward, kernel vs naive path (materialised logits and
``torch.nn.functional.cross_entropy``), measured side by side by :mod:`entropy_bench.kernel_bench`
(its ``linear_cross_entropy`` op on random h[N, D], W[V, D], targets y[N]; a fresh subprocess per
phase; on CPU the rise of the resident-set high-water mark ``VmHWM`` over the resident set before
one call, after a warm-up call, with glibc returning every allocation ≥ 64 KiB on free; ``time_ms``
one timed call after a warm-up, ``MEMORY_REPEATS`` = 1) at the study's shape, N = the answer tokens
of the first training batch (517) with the model's V and D, and at N = ``LARGE_TOKENS`` = 2048;
kernel implementation ``KERNEL_IMPL``, the study's thread count. ``grad_mib`` is the gradients both
must return (∂h, ∂W), ``workspace_mib`` = peak − grad the rest. The decoder blocks' activations are
the same on both paths and not measured. Label smoothing and z-loss add vectors of N per-row values
to the kernel's memory, no more: the plain-CE call stands for the three.

Outputs in ``out_dir``: ``table.md`` / ``table.csv`` (one row per loss plus ``initial``),
``memory.md`` / ``memory.csv``, ``train_loss.png`` (the objective per step and loss); MLflow: one
run in experiment ``lm-losses`` with the protocol as params, per-step ``train_loss/<label>``, the
table's numbers as ``<column>/<label>`` and the memory rows as ``peak_mib/<impl>/tokens_<N>``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from entropy_bench.kernels.linear_cross_entropy import linear_cross_entropy
from entropy_bench.methods.registry import LOSSES
from entropy_bench.metrics.bootstrap import bootstrap_values, percentile_interval
from entropy_bench.metrics.uq import ece
from entropy_bench.models.hf import DEFAULT_MODEL
from entropy_bench.tasks.gsm8k import TARGET_DELIMITER, doc_to_text

MODEL = f"{DEFAULT_MODEL}#layers=4"
STEPS = 30
BATCH = 4
LR = 2e-4
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
MAX_TOKENS = 544
TEST_EXAMPLES = 50
EVAL_BATCH = 8
EVAL_ROWS = 512  # answer tokens whose [rows, V] logits are formed at once in evaluation
KERNEL_IMPL = "torch"  # the kernels' chunked eager path (kernels.dispatch)
THREADS = 1
ECE_BINS = 10
BOOTSTRAP_RESAMPLES = 1000
LARGE_TOKENS = 2048
MEMORY_REPEATS = 1
IGNORE_INDEX = -100
LABEL_SMOOTHING = 0.1
Z_LOSS = 1e-4
VARIANTS = (  # (label, linear_cross_entropy parameters or None (EMO: logits), materialised (LOSSES name, parameters))
    ("cross_entropy", {}, ("cross_entropy", {})),
    ("label_smoothing", {"label_smoothing": LABEL_SMOOTHING}, ("cross_entropy", {"label_smoothing": LABEL_SMOOTHING})),
    ("logit_z_loss", {"z_loss": Z_LOSS}, ("logit_z_loss", {"z_loss": Z_LOSS})),
    ("emo", None, ("emo", {})),
)
LABELS = tuple(label for label, _, _ in VARIANTS)
MEMORY_COLUMNS = ("tokens", "vocab", "hidden", "path", "implementation", "peak_mib", "grad_mib", "workspace_mib",
                  "logits_mib", "time_ms")


@dataclass(frozen=True)
class Example:
    """One tokenised question + answer: ``ids`` = prompt tokens then answer tokens."""

    ids: tuple[int, ...]
    n_prompt: int


@dataclass(frozen=True)
class Batch:
    """Right-padded ``input_ids`` / ``attention_mask`` [B, T]; ``targets`` [B, T] = the next token
    where it is an answer token, else ``IGNORE_INDEX``; ``example`` [B] indices of the examples."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor
    example: torch.Tensor

    @property
    def answer_tokens(self) -> int:
        return int((self.targets != IGNORE_INDEX).sum())


def encode(tokenizer, rows: Sequence[dict], max_tokens: int = MAX_TOKENS) -> list[Example]:
    """``doc_to_text(row)`` and ``" " + row["answer"]`` tokenised apart, concatenated, cut to ``max_tokens``."""
    out = []
    for row in rows:
        prompt = tokenizer(doc_to_text(row), add_special_tokens=False)["input_ids"]
        answer = tokenizer(TARGET_DELIMITER + row["answer"], add_special_tokens=False)["input_ids"]
        out.append(Example(tuple(prompt + answer)[:max_tokens], len(prompt)))
    return out


def collate(examples: Sequence[Example], pad_id: int, indices: Sequence[int] | None = None) -> Batch:
    """Right-pad ``examples`` into a :class:`Batch`; position t targets token t + 1 if t + 1 ≥ n_prompt."""
    length = max(len(e.ids) for e in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    targets = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    for b, e in enumerate(examples):
        ids = torch.tensor(e.ids)
        input_ids[b, : len(ids)] = ids
        attention_mask[b, : len(ids)] = 1
        targets[b, e.n_prompt - 1 : len(ids) - 1] = ids[e.n_prompt :]
    example = torch.tensor(list(indices) if indices is not None else range(len(examples)))
    return Batch(input_ids, attention_mask, targets, example)


def head_inputs(model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The final-norm hidden states at the answer positions [N, D], their targets [N] and the
    index of their batch row [N]: the decoder without its LM head (``model.base_model``)."""
    hidden = model.base_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    keep = batch.targets != IGNORE_INDEX
    rows = torch.arange(len(batch.targets)).unsqueeze(1).expand_as(keep)[keep]
    return hidden[keep], batch.targets[keep], rows


def head(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The LM head's weight [V, D] and bias [V] (None without one)."""
    layer = model.get_output_embeddings()
    return layer.weight, layer.bias


def batch_loss(model: torch.nn.Module, batch: Batch, label: str, cost_embeddings: torch.Tensor | None = None,
               materialised: bool = False, impl: str = "auto") -> torch.Tensor:
    """The objective of ``label`` (``VARIANTS``) on ``batch``, averaged over its answer tokens:
    through the ``linear_cross_entropy`` kernel (implementation ``impl``; no [N, V] logits), or
    with ``materialised`` (and always for EMO, whose ``cost_embeddings`` [V, D] it needs) the
    registry's loss on the logits."""
    linear, (name, params) = next((lin, mat) for lab, lin, mat in VARIANTS if lab == label)
    hidden, targets, _ = head_inputs(model, batch)
    weight, bias = head(model)
    if linear is not None and not materialised:
        return linear_cross_entropy(hidden, weight, targets, bias, ignore_index=IGNORE_INDEX, impl=impl, **linear)
    logits = hidden @ weight.T if bias is None else torch.addmm(bias, hidden, weight.T)
    extra = (cost_embeddings,) if name == "emo" else ()
    return LOSSES.build(name, ignore_index=IGNORE_INDEX, **params)(logits, targets, *extra)


def schedule(n_rows: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """Row indices of each step's batch: the first steps·batch_size of a seeded permutation."""
    if steps * batch_size > n_rows:
        raise ValueError(f"{steps} steps of {batch_size} examples need {steps * batch_size} rows, got {n_rows}")
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed))[: steps * batch_size]
    return order.view(steps, batch_size).tolist()


def train(model: torch.nn.Module, batches: Sequence[Batch], label: str, lr: float = LR,
          weight_decay: float = WEIGHT_DECAY, max_grad_norm: float = MAX_GRAD_NORM, impl: str = "auto") -> pd.DataFrame:
    """Fine-tune ``model`` in place under ``label``, one AdamW step per batch; a row per step
    (from 1) with the objective's value and the gradient norm before clipping."""
    cost_embeddings = head(model)[0].detach().clone() if label == "emo" else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    rows = []
    for step, batch in enumerate(batches, 1):
        loss = batch_loss(model, batch, label, cost_embeddings, impl=impl)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        rows.append(dict(step=step, train_loss=float(loss.detach()), grad_norm=float(grad_norm)))
    return pd.DataFrame(rows)


def token_stats(model: torch.nn.Module, batches: Sequence[Batch], rows_at_once: int = EVAL_ROWS,
                impl: str = "auto") -> pd.DataFrame:
    """One row per answer token of ``batches``: ``example``, ``nll``, ``confidence`` (max
    probability), ``correct`` (argmax = target) and ``entropy`` (nats) of its next-token
    distribution, from logits formed ``rows_at_once`` tokens at a time and reduced in one pass by
    :func:`entropy_bench.kernels.softmax_stats.softmax_stats` (implementation ``impl``). ``correct`` is log p_y = max_v log p_v
    (the target has the top logit; a tie for the top counts as correct)."""
    from entropy_bench.kernels.softmax_stats import softmax_stats

    weight, bias = head(model)
    parts = []
    with torch.inference_mode():
        for batch in batches:
            hidden, targets, rows = head_inputs(model, batch)
            for start in range(0, len(targets), rows_at_once):
                h, y = hidden[start : start + rows_at_once], targets[start : start + rows_at_once]
                stats = softmax_stats(h @ weight.T if bias is None else torch.addmm(bias, h, weight.T), y, impl=impl)
                parts.append(pd.DataFrame(dict(
                    example=batch.example[rows[start : start + rows_at_once]].numpy(),
                    nll=(-stats.target_logprob).double().numpy(),
                    confidence=stats.max_logprob.exp().double().numpy(),
                    correct=(stats.target_logprob >= stats.max_logprob).double().numpy(),
                    entropy=stats.entropy.double().numpy(),
                )))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def perplexity(nll: np.ndarray) -> float:
    return float(np.exp(np.mean(nll)))


def mean(values: np.ndarray) -> float:
    return float(np.mean(values))


def token_ece(confidence: np.ndarray, correct: np.ndarray) -> float:
    return ece(confidence, correct, n_bins=ECE_BINS)


def metrics(stats: pd.DataFrame, seed: int = 0, n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, float]:
    """Perplexity, ECE and mean entropy of the pooled tokens with example-bootstrap 95 % intervals
    (module docstring), token accuracy, mean confidence and the token count."""
    out = {}
    for column, statistic, arrays in (
        ("test_perplexity", perplexity, (stats["nll"],)),
        ("test_ece", token_ece, (stats["confidence"], stats["correct"])),
        ("mean_entropy", mean, (stats["entropy"],)),
    ):
        out[column] = statistic(*(a.to_numpy() for a in arrays))
        values = bootstrap_values(statistic, *arrays, clusters=stats["example"], n_resamples=n_resamples, seed=seed)
        out[f"{column}_low"], out[f"{column}_high"] = percentile_interval(values)
    out["token_accuracy"] = mean(stats["correct"].to_numpy())
    out["mean_confidence"] = mean(stats["confidence"].to_numpy())
    out["answer_tokens"] = float(len(stats))
    return out


def describe_variant(label: str) -> str:
    linear, (name, params) = next((lin, mat) for lab, lin, mat in VARIANTS if lab == label)
    if linear is None:
        return f"{name} (logits)"
    return "linear_cross_entropy" + (f"({', '.join(f'{k}={v:g}' for k, v in linear.items())})" if linear else "()")


def run_losses(model: torch.nn.Module, train_batches: Sequence[Batch], test_batches: Sequence[Batch],
               labels: Sequence[str] = LABELS, lr: float = LR, seed: int = 0,
               n_resamples: int = BOOTSTRAP_RESAMPLES, impl: str = "auto") -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Fine-tune a copy of ``model`` (left unchanged) under each loss of ``labels``, score it and
    the initial model on ``test_batches``: (the table, the training curves by label); ``impl``
    is the kernels' implementation."""
    rows = [dict(loss="initial", objective="none (not fine-tuned)",
                 **metrics(token_stats(model, test_batches, impl=impl), seed, n_resamples))]
    curves = {}
    for label in labels:
        tuned = copy.deepcopy(model)
        curves[label] = train(tuned, train_batches, label, lr=lr, impl=impl)
        rows.append(dict(loss=label, objective=describe_variant(label),
                         **metrics(token_stats(tuned, test_batches, impl=impl), seed, n_resamples)))
        del tuned
    table = pd.DataFrame(rows)
    last = {label: float(curve["train_loss"].tail(10).mean()) for label, curve in curves.items()}
    table.insert(2, "train_loss_last10", table["loss"].map(last))
    return table, curves


def memory_table(token_counts: Sequence[int], vocab: int, hidden: int, impl: str,
                 repeats: int = MEMORY_REPEATS) -> pd.DataFrame:
    """Peak memory and time of the LM-head loss + backward at each token count: the kernel
    (``ours:<impl>``) and the naive path (``eager``), each measured by
    :mod:`entropy_bench.kernel_bench` in fresh subprocesses (module docstring)."""
    from entropy_bench.kernel_bench import MEMORY_METHOD, measure_in_subprocess

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for tokens in token_counts:
        for implementation in (f"ours:{impl}", "eager"):
            spec = {"op": "linear_cross_entropy", "shape": [int(tokens), vocab, hidden], "dtype": "float32",
                    "implementation": implementation, "repeats": repeats, "device": device,
                    "threads": torch.get_num_threads()}  # fmt: skip
            result = measure_in_subprocess(spec)
            if result["status"] != "ok":
                raise RuntimeError(f"memory measurement of {implementation} at N={tokens} failed: {result['reason']}")
            rows.append(dict(
                tokens=int(tokens), vocab=vocab, hidden=hidden,
                path="linear_cross_entropy" if implementation != "eager" else "naive: logits + F.cross_entropy",
                implementation=implementation, peak_mib=result["peak_bytes"] / 2**20,
                grad_mib=result["grad_bytes"] / 2**20, workspace_mib=(result["peak_bytes"] - result["grad_bytes"]) / 2**20,
                logits_mib=tokens * vocab * 4 / 2**20, time_ms=result["median_ms"],
            ))  # fmt: skip
    table = pd.DataFrame(rows, columns=MEMORY_COLUMNS)
    naive = table[table.implementation == "eager"].set_index("tokens")
    table["peak_ratio_vs_naive"] = table["peak_mib"] / table["tokens"].map(naive["peak_mib"])
    table["workspace_ratio_vs_naive"] = table["workspace_mib"] / table["tokens"].map(naive["workspace_mib"])
    table.attrs["memory_method"] = MEMORY_METHOD[device]
    return table


def figure(curves: dict[str, pd.DataFrame], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for label, curve in curves.items():  # z-loss dashed: its curve lies on CE's
        ax.plot(curve["step"], curve["train_loss"], "--" if label == "logit_z_loss" else "-", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("training objective (mean over answer tokens)")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def run_lm_losses(tracking_uri: str | None = None, out_dir: str | Path = "results/losses/lm", model: str = MODEL,
                  steps: int = STEPS, batch_size: int = BATCH, lr: float = LR, test_examples: int = TEST_EXAMPLES,
                  seed: int = 0, memory_tokens: Sequence[int] | None = None, threads: int = THREADS,
                  impl: str = KERNEL_IMPL) -> pd.DataFrame:
    """Load ``model`` and GSM8K, fine-tune under every loss, score, measure the head's memory,
    write the files and log one MLflow run; returns the table. ``memory_tokens``: token counts
    of the memory rows (default: the first batch's answer tokens and ``LARGE_TOKENS``);
    ``threads``: torch's CPU threads for the whole study (restored after); ``impl``: the kernels'
    implementation."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(tracking_uri, Path(out_dir), model, steps, batch_size, lr, test_examples, seed, memory_tokens, impl)
    finally:
        torch.set_num_threads(previous)


def _run(tracking_uri, out, model, steps, batch_size, lr, test_examples, seed, memory_tokens, impl) -> pd.DataFrame:
    from entropy_bench.models.hf import load_model
    from entropy_bench.tasks.gsm8k import GSM8K
    from entropy_bench.tracking import Tracker

    started = time.perf_counter()
    lm = load_model(model)
    lm.model.float().eval()
    task = GSM8K(num_fewshot=0)
    train_rows = task.load("train")
    plan = schedule(len(train_rows), steps, batch_size, seed)
    pad_id = lm.tokenizer.pad_token_id
    max_tokens = min(MAX_TOKENS, lm.context_window or MAX_TOKENS)
    train_batches = [collate(encode(lm.tokenizer, [train_rows[i] for i in idx], max_tokens), pad_id, idx) for idx in plan]
    test = encode(lm.tokenizer, task.load("test", limit=test_examples), max_tokens)
    test_batches = [collate(test[s : s + EVAL_BATCH], pad_id, range(s, min(s + EVAL_BATCH, len(test))))
                    for s in range(0, len(test), EVAL_BATCH)]  # fmt: skip
    table, curves = run_losses(lm.model, train_batches, test_batches, lr=lr, seed=seed, impl=impl)
    train_seconds = time.perf_counter() - started

    weight = head(lm.model)[0]
    vocab, hidden = weight.shape
    step_tokens = [b.answer_tokens for b in train_batches]
    memory_tokens = list(memory_tokens if memory_tokens is not None else (step_tokens[0], LARGE_TOKENS))
    memory = memory_table(memory_tokens, vocab, hidden, impl)

    protocol = dict(model=lm.name, model_source=lm.source, layers=lm.model.config.num_hidden_layers, steps=steps,
                    batch_size=batch_size, lr=lr, weight_decay=WEIGHT_DECAY, max_grad_norm=MAX_GRAD_NORM,
                    max_tokens=max_tokens, seed=seed, test_examples=len(test), ece_bins=ECE_BINS,
                    bootstrap_resamples=BOOTSTRAP_RESAMPLES, label_smoothing=LABEL_SMOOTHING, z_loss=Z_LOSS,
                    answer_tokens_per_step_mean=float(np.mean(step_tokens)), answer_tokens_per_step_min=min(step_tokens),
                    answer_tokens_per_step_max=max(step_tokens), train_answer_tokens=sum(step_tokens),
                    threads=torch.get_num_threads(), kernel_impl=impl, memory_method=memory.attrs["memory_method"])
    title = (f"{lm.name}, GSM8K train\n{steps} AdamW steps × {batch_size} examples "
             f"(≈{np.mean(step_tokens):.0f} answer tokens/step), lr {lr:g}, seed {seed}")
    fig = figure(curves, title)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "train_loss.png", dpi=120)
    (out / "table.md").write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n")
    (out / "table.csv").write_text(table.to_csv(index=False))
    (out / "memory.md").write_text(f"Peak memory of the LM-head loss + backward ({memory.attrs['memory_method']}; "
                                   f"kernel impl '{impl}', {torch.get_num_threads()} threads)\n\n"
                                   + memory.to_markdown(index=False, floatfmt=".4g") + "\n")
    (out / "memory.csv").write_text(memory.to_csv(index=False))

    from mlflow.entities import Metric, Param

    tracker = Tracker(tracking_uri, "lm-losses")
    client = tracker.client
    run_id = client.create_run(tracker.experiment_id, run_name=f"gsm8k-{lm.name.rsplit('/', 1)[-1]}-seed{seed}",
                               tags=tracker.environment).info.run_id
    params = [Param(k, str(v)) for k, v in protocol.items()]
    metrics_out = [Metric(f"train_loss/{label}", float(value), 0, int(step))
                   for label, curve in curves.items() for step, value in zip(curve["step"], curve["train_loss"])]
    for row in table.to_dict("records"):
        for column, value in row.items():
            if column not in ("loss", "objective") and not math.isnan(value):
                metrics_out.append(Metric(f"{column}/{row['loss']}", float(value), 0, 0))
    for row in memory.to_dict("records"):
        key = f"{row['implementation'].replace(':', '-')}/tokens_{row['tokens']}"
        metrics_out += [Metric(f"peak_mib/{key}", float(row["peak_mib"]), 0, 0),
                        Metric(f"time_ms/{key}", float(row["time_ms"]), 0, 0)]
    metrics_out.append(Metric("train_and_eval_seconds", train_seconds, 0, 0))
    metrics_out.append(Metric("wall_seconds", time.perf_counter() - started, 0, 0))
    for start in range(0, len(metrics_out), 1000):
        client.log_batch(run_id, metrics=metrics_out[start : start + 1000], params=params if start == 0 else [])
    client.log_figure(run_id, fig, "train_loss.png")
    for name in ("table.md", "table.csv", "memory.md", "memory.csv"):
        client.log_artifact(run_id, str(out / name))
    client.set_terminated(run_id, "FINISHED")
    table.attrs.update(run_id=run_id, protocol=protocol, memory=memory)
    return table
