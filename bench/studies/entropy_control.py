"""Entropy control on a toy bandit: entropy change ≈ −Cov(log π, π·A), and what clip_cov / kl_cov do.

Cui et al. (2025)'s softmax-policy lemma, the relation ``clip_cov`` and ``kl_cov`` rely on: one
step Δz of the logits of a softmax policy changes its entropy by

    ΔH ≈ −Cov_{a~π}(log π(a), Δz_a),   and policy gradient makes Δz_a ≈ η π(a) A(a),

so arms that are both likely and better than average drain entropy. The study trains a
K = 32-armed bandit with fixed rewards r ~ N(0, 1) (seeded) and a softmax policy over learnable
logits z (start 0.1·N(0, 1), seeded). Each step samples B = 256 arms from π (a seeded
``torch.Generator``, the same stream for every loss), takes advantages A_i = r(a_i) − mean of the
batch's rewards, ``old_logprobs`` = log π(a_i) at sampling, a mask of ones, and makes
``UPDATES`` = 4 SGD updates (lr η = 0.1) of z on that batch through the loss (``reduction="mean"``),
PPO-style. The several updates per batch are needed: ``kl_cov``'s penalty |log π − log π_old| has
no gradient at θ = θ_old (its docstring), and PPO's clip in ``clip_cov`` only acts off-policy.

Losses (``LOSSES`` entries; ``label`` → ``entropy/<label>`` in MLflow):

- ``policy_gradient``: plain, ``entropy_coef=0``;
- ``clip_cov`` / ``kl_cov``: ``clip_cov_ratio`` / ``kl_cov_ratio`` = 0.2. The authors' defaults
  (2·10⁻⁴, tuned for batches of millions of tokens) name max(1, ⌊2·10⁻⁴·256⌋) = 1 token of the
  256 here, and do little; they are run too, as ``clip_cov_default`` / ``kl_cov_default``. Other
  parameters are the defaults (clip_cov: covariance bounds 1 and 5, ε = 0.2; kl_cov: β = 1).

Per step: entropy H(π), expected reward Σ π r, and for every loss the first-order prediction
Σ_updates −η·Cov_{a~π}(log π(a), π(a)·A(a)) (A(a) = r(a) − E_π r, at the π of each update) next to
the measured ΔH of the step — the prediction is that of plain policy gradient, so it is judged on
``policy_gradient`` only.

Outputs in ``out_dir``: ``entropy.png`` (entropy vs step per loss; measured vs predicted ΔH for
plain PG, with y = x), ``table.md`` / ``table.csv`` (per loss: final entropy, final expected
reward, first step with H < H0/2, and for policy_gradient the correlation of measured and
predicted ΔH); MLflow: one run in experiment ``entropy-control`` with per-step metrics
``entropy/<label>``, ``reward/<label>``, the table's numbers and the figure. Deterministic under
``seed`` (CPU, float64).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from entropy_bench.methods.registry import LOSSES

ARMS = 32
BATCH = 256
UPDATES = 4
LR = 0.1
RATIO = 0.2
VARIANTS = (  # (label, LOSSES name, parameters)
    ("policy_gradient", "policy_gradient", {"entropy_coef": 0.0}),
    ("clip_cov", "clip_cov", {"clip_cov_ratio": RATIO}),
    ("kl_cov", "kl_cov", {"kl_cov_ratio": RATIO}),
    ("clip_cov_default", "clip_cov", {}),
    ("kl_cov_default", "kl_cov", {}),
)


def entropy(logits: torch.Tensor) -> float:
    log_p = logits.log_softmax(-1)
    return float(-(log_p.exp() * log_p).sum())


def predicted_change(logits: torch.Tensor, rewards: torch.Tensor, lr: float) -> float:
    """−η·Cov_{a~π}(log π(a), π(a)·A(a)) with A(a) = r(a) − E_π r: the lemma's ΔH for one
    expected policy-gradient step of size η."""
    probs = logits.softmax(-1)
    log_pi = logits.log_softmax(-1)
    weighted = probs * (rewards - (probs * rewards).sum())
    covariance = (probs * (log_pi - (probs * log_pi).sum()) * (weighted - (probs * weighted).sum())).sum()
    return -lr * float(covariance)


def train(name: str, params: dict, steps: int, seed: int, lr: float = LR, updates: int = UPDATES,
          arms: int = ARMS, batch: int = BATCH) -> pd.DataFrame:
    """One loss's run: a row per step (0 = the start) with entropy, expected reward, and the
    step's measured and predicted entropy change (NaN at step 0)."""
    setup = torch.Generator().manual_seed(seed)
    rewards = torch.randn(arms, generator=setup, dtype=torch.float64)
    logits = 0.1 * torch.randn(arms, generator=setup, dtype=torch.float64)
    sampler = torch.Generator().manual_seed(seed + 1)  # the same batches' stream for every loss
    draws = torch.Generator().manual_seed(seed + 2)  # clip_cov's random pick
    loss = LOSSES.build(name, **params)
    extra = {"generator": draws} if name == "clip_cov" else {}
    mask = torch.ones(batch, dtype=torch.bool)
    rows = [dict(step=0, entropy=entropy(logits), reward=float((logits.softmax(-1) * rewards).sum()),
                 dH_measured=math.nan, dH_predicted=math.nan)]
    for step in range(1, steps + 1):
        before = entropy(logits)
        with torch.no_grad():
            actions = torch.multinomial(logits.softmax(-1), batch, replacement=True, generator=sampler)
            batch_rewards = rewards[actions]
            advantages = batch_rewards - batch_rewards.mean()
            old_logprobs = logits.log_softmax(-1)[actions]
        predicted = 0.0
        for _ in range(updates):
            predicted += predicted_change(logits, rewards, lr)
            z = logits.clone().requires_grad_()
            logprobs = z.log_softmax(-1)[actions]
            (grad,) = torch.autograd.grad(loss(logprobs, old_logprobs, advantages, mask, **extra), z)
            logits = (logits - lr * grad).detach()
        rows.append(dict(step=step, entropy=entropy(logits), reward=float((logits.softmax(-1) * rewards).sum()),
                         dH_measured=entropy(logits) - before, dH_predicted=predicted))
    return pd.DataFrame(rows)


def summary(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for label, name, params in VARIANTS:
        curve = curves[label]
        start = curve["entropy"].iloc[0]
        below = curve.loc[curve["entropy"] < 0.5 * start, "step"]
        fit = curve.dropna()
        corr = float(np.corrcoef(fit["dH_measured"], fit["dH_predicted"])[0, 1]) if label == "policy_gradient" else math.nan
        rows.append(dict(loss=label, params=", ".join(f"{k}={v:g}" for k, v in params.items()) or "defaults",
                         initial_entropy=float(start), final_entropy=float(curve["entropy"].iloc[-1]),
                         final_expected_reward=float(curve["reward"].iloc[-1]),
                         steps_to_half_entropy=float(below.iloc[0]) if len(below) else math.nan,
                         corr_dH_measured_predicted=corr))
    return pd.DataFrame(rows)


def figure(curves: dict[str, pd.DataFrame], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    for label, _, _ in VARIANTS:
        style = "--" if label.endswith("_default") else "-"
        left.plot(curves[label]["step"], curves[label]["entropy"], style, label=label)
    left.axhline(math.log(ARMS), color="grey", lw=0.5)
    left.set_xlabel("step")
    left.set_ylabel("entropy H(π) (nats)")
    left.set_title("entropy per loss", fontsize=9)
    left.legend(fontsize=8)
    pg = curves["policy_gradient"].dropna()
    right.scatter(pg["dH_predicted"], pg["dH_measured"], s=6)
    lo = min(pg["dH_predicted"].min(), pg["dH_measured"].min())
    hi = max(pg["dH_predicted"].max(), pg["dH_measured"].max())
    right.plot([lo, hi], [lo, hi], color="black", lw=0.8, label="y = x")
    right.set_xlabel("predicted ΔH = −η Σ Cov(log π, π·A)")
    right.set_ylabel("measured ΔH")
    right.set_title("policy_gradient, one point per step", fontsize=9)
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def run_entropy_control(tracking_uri: str | None = None, out_dir: str | Path = "results/losses",
                        steps: int = 300, seed: int = 0) -> pd.DataFrame:
    """Train the bandit under every loss, write the figure and table, log one MLflow run."""
    from entropy_bench.tracking import Tracker

    curves = {label: train(name, params, steps, seed) for label, name, params in VARIANTS}
    table = summary(curves)
    title = (f"{ARMS}-armed bandit, r ~ N(0,1), batch {BATCH}, {UPDATES} SGD updates (lr {LR}) per batch, "
             f"seed {seed}")
    fig = figure(curves, title)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "entropy.png", dpi=120)
    (out / "table.md").write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n")
    (out / "table.csv").write_text(table.to_csv(index=False))

    from mlflow.entities import Metric, Param

    tracker = Tracker(tracking_uri, "entropy-control")
    client = tracker.client
    run_id = client.create_run(tracker.experiment_id, run_name=f"bandit-seed{seed}",
                               tags=tracker.environment).info.run_id
    params = [Param(k, str(v)) for k, v in dict(arms=ARMS, batch=BATCH, updates=UPDATES, lr=LR, steps=steps,
                                                   seed=seed, ratio=RATIO).items()]
    metrics = [Metric(f"{kind}/{label}", float(value), 0, int(step))
               for label, curve in curves.items()
               for kind, column in (("entropy", "entropy"), ("reward", "reward"))
               for step, value in zip(curve["step"], curve[column])]
    for row in table.itertuples():
        for column in ("final_entropy", "final_expected_reward", "steps_to_half_entropy"):
            value = getattr(row, column)
            if not math.isnan(value):
                metrics.append(Metric(f"{column}/{row.loss}", float(value), 0, 0))
    corr = table.loc[table["loss"] == "policy_gradient", "corr_dH_measured_predicted"].iloc[0]
    metrics.append(Metric("corr_dH_measured_predicted/policy_gradient", float(corr), 0, 0))
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start:start + 1000], params=params if start == 0 else [])
    client.log_figure(run_id, fig, "entropy.png")
    client.log_artifact(run_id, str(out / "table.md"))
    client.set_terminated(run_id, "FINISHED")
    table.attrs["run_id"] = run_id
    return table
