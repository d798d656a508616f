"""Per-step cost of each decoder against a forward pass and against transformers' warper, on four row families.

On next-token logits z[B, V] of four kinds (:func:`row_families`: the ``model``'s own on B
prompts of ``context`` tokens, flat, Zipf and bell-shaped rows of the same shape), for every
registered decoder d but the two-model ones (their cost is a second model):

    decoder time  = d.step(z, state) followed by d.observe(state, z, x)   (what a generation step calls)
    check time    = the bad-logits check, which the generation loop runs once per step on the
                    model's logits before d.step, whatever the decoder (``bad_logits.py``)
    forward time  = one decoding step of the model: B new tokens against a KV cache of ``context``
                    tokens (the cache is cropped back to ``context`` after each call)
    warper time   = transformers' warper for the same rule, warper(input_ids, z)
    overhead      = decoder time / forward time      (target ≤ 5 %)
    ratio         = decoder time / warper time       (target ≤ 1, on every family)

Each decoder runs with the parameters in :data:`SETTINGS` (its defaults otherwise); a warper is
built from the decoder's own parameters, so both apply the same rule. Decoders calibrated on
reference entropies (``entropy_band``, ``adaptive_temperature``) take them from the model's rows.

Times are the median and 20 / 80 % quantiles over ``repeats`` rounds after ``warmup`` rounds;
a round times the forward pass, the check and every decoder and warper on every family once
each, in turn, so drifts in machine load hit all of them alike. Results go to
``<out_dir>/overhead.csv`` and ``overhead.md`` and to one MLflow run (metrics
``overhead/<family>/<decoder>/…``, both files attached).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from entropy_bench.cache import content_key
from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.adaptive_temperature import anchors_from_reference
from entropy_bench.methods.decoders.bad_logits import check_logits
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.decoders.entropy_band import band_from_reference
from entropy_bench.methods.registry import DECODERS, InvalidParameterError
from entropy_bench.models.hf import DEFAULT_MODEL, LanguageModel, load_model
from entropy_bench.tasks.base import TASKS
from entropy_bench.metrics.keys import fragment
from entropy_bench.tracking import Tracker, environment_tags

OVERHEAD_TARGET = 0.05  # decoder time ≤ 5 % of a forward pass
ZIPF_EXPONENT = 1.1  # word frequencies in text fall off about as rank^−1.1
FLAT_SCALE = 0.01  # logits ~ N(0, 0.01²): near-uniform rows, as after random-token prompts
BELL_SCALE = 2.0  # logits ~ N(0, 2²): a bell of logits, entropy ≈ log V − 2 nats
SETTINGS = {  # the usual settings (the decoders-*.yaml sweeps use the same)
    "temperature": {"temperature": 0.7},
    "top_k": {"top_k": 50},
    "top_p": {"top_p": 0.9},
    "min_p": {"min_p": 0.1},
    "typical": {"typical_p": 0.95},
    "epsilon": {"epsilon": 3e-4},
    "eta": {"epsilon": 3e-4},
    "top_h": {"top_h": 0.4},
    "mirostat": {"tau": 3.0, "eta": 0.1},
    "mirostat_v2": {"tau": 3.0, "eta": 0.1},
    # transformers has no warper for these three; their references (llama.cpp, text-generation-webui)
    # are not Python packages here, so they are timed without a reference.
    "top_n_sigma": {"n": 1.0},
    "xtc": {"xtc_probability": 0.5, "xtc_threshold": 0.1},
    "quadratic": {"smoothing_factor": 0.25, "smoothing_curve": 1.0},
}


def transformers_warper(decoder: Decoder, device: torch.device) -> Callable | None:
    """transformers' ``LogitsProcessor`` applying ``decoder``'s rule, or ``None`` where it has none."""
    from transformers.generation import logits_process as lp

    build = {
        "temperature": lambda d: lp.TemperatureLogitsWarper(d.temperature),
        "top_k": lambda d: lp.TopKLogitsWarper(d.top_k),
        "top_p": lambda d: lp.TopPLogitsWarper(d.top_p),
        "min_p": lambda d: lp.MinPLogitsWarper(d.min_p),
        "typical": lambda d: lp.TypicalLogitsWarper(d.typical_p),
        "epsilon": lambda d: lp.EpsilonLogitsWarper(d.epsilon),
        "eta": lambda d: lp.EtaLogitsWarper(d.epsilon, device=str(device)),
        "top_h": lambda d: lp.TopHLogitsWarper(d.top_h),
    }.get(decoder.name)
    return None if build is None else build(decoder)


def benchmark_decoders(logits: torch.Tensor) -> list[Decoder]:
    """Every registered single-model decoder, with :data:`SETTINGS` or reference-derived parameters."""
    entropies = softmax_stats(logits).entropy
    low, mid, high = anchors_from_reference(entropies)
    lower, upper = band_from_reference(entropies)
    derived = {
        "adaptive_temperature": {"entropy_low": low, "entropy_mid": mid, "entropy_high": high},
        "entropy_band": {"lower": lower, "upper": upper},
    }
    decoders = []
    for name in DECODERS.names():
        try:
            decoder = DECODERS.build(name, **SETTINGS.get(name, derived.get(name, {})))
        except InvalidParameterError as err:
            warnings.warn(f"decoder overhead: skipping {name!r}, it cannot be built ({err})")
            continue
        if decoder.large_model is None:
            decoders.append(decoder)
    return decoders


def context_batch(lm: LanguageModel, batch_size: int, context: int) -> torch.Tensor:
    """input_ids[batch_size, context]: the last ``context`` tokens of few-shot arithmetic word problems."""
    task = TASKS.build("arithmetic", style="word", num_fewshot=16)
    prompts = [task.prompt(e) for e in task.load("test", batch_size)]
    ids = [lm.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    short = min(len(i) for i in ids)
    if short < context:
        raise ValueError(f"context={context} tokens requested, but the prompts have only {short}")
    return torch.tensor([i[-context:] for i in ids], device=lm.device)


def row_families(real: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """The rows every decoder is timed on, each of ``real``'s shape, dtype and device: ``real``
    (a language model's), ``flat``, ``zipf`` (p ∝ rank^−s over a random order of the vocabulary,
    s = :data:`ZIPF_EXPONENT`) and ``bell`` (Gaussian logits); seeded."""
    g = torch.Generator().manual_seed(seed)
    rows, vocab = real.shape
    ranks = torch.stack([torch.randperm(vocab, generator=g) for _ in range(rows)]) + 1
    synthetic = {
        "flat": torch.randn(rows, vocab, generator=g) * FLAT_SCALE,
        "zipf": -ZIPF_EXPONENT * ranks.double().log(),
        "bell": torch.randn(rows, vocab, generator=g) * BELL_SCALE,
    }
    return {"real": real} | {name: z.to(real.dtype).to(real.device) for name, z in synthetic.items()}


def time_rounds(calls: dict[str, Callable[[], object]], repeats: int, warmup: int, sync: Callable[[], None]) -> dict[str, np.ndarray]:
    """Seconds per call of each entry over ``repeats`` rounds (each round calls every entry once)."""
    seconds = {name: [] for name in calls}
    for r in range(warmup + repeats):
        for name, call in calls.items():
            sync()
            start = time.perf_counter()
            call()
            sync()
            if r >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return {name: np.asarray(s) for name, s in seconds.items()}


def quantiles_ms(seconds: np.ndarray) -> dict[str, float]:
    p20, median, p80 = np.quantile(seconds, [0.2, 0.5, 0.8]) * 1e3
    return {"median_ms": median, "p20_ms": p20, "p80_ms": p80}


def run_decoder_overhead(
    model: str = DEFAULT_MODEL,
    batch_size: int = 8,
    context: int = 256,
    repeats: int = 50,
    warmup: int = 5,
    tracking_uri: str | None = None,
    experiment: str = "decoder-overhead",
    out_dir: str | Path = "results/decoders",
    lm: LanguageModel | None = None,
) -> pd.DataFrame:
    """One row per row family and decoder: its time, the forward and check times, overhead and ratio."""
    lm = lm or load_model(model)
    ids = context_batch(lm, batch_size, context)
    with torch.inference_mode():
        prefill = lm.model(input_ids=ids, use_cache=True)
        real = prefill.logits[:, -1, :].float()
        cache = getattr(prefill, lm.cache_field)
        step_ids = real.argmax(dim=-1, keepdim=True)
        families = row_families(real)
        decoders = benchmark_decoders(real)
        warpers = {d.name: w for d in decoders if (w := transformers_warper(d, real.device)) is not None}

        def forward():
            lm.model(input_ids=step_ids, use_cache=True, **{lm.cache_field: cache})
            cache.crop(-1)  # back to `context` tokens

        def decoder_step(d: Decoder, z: torch.Tensor):
            state = d.init_state(batch_size, z.device)
            return lambda: d.observe(d.step(z, state)[1], z, step_ids[:, 0])

        calls = {"forward": forward, "check": lambda: check_logits(real, "profile")}
        for family, z in families.items():
            calls |= {f"{family}/decoder:{d.name}": decoder_step(d, z) for d in decoders}
            calls |= {f"{family}/warper:{name}": (lambda w=w, z=z: w(ids, z)) for name, w in warpers.items()}
        sync = torch.cuda.synchronize if real.is_cuda else (lambda: None)
        seconds = time_rounds(calls, repeats, warmup, sync)

    fixed = {f"forward_{k}": v for k, v in quantiles_ms(seconds["forward"]).items()}
    fixed |= {f"check_{k}": v for k, v in quantiles_ms(seconds["check"]).items()}
    table = pd.DataFrame([_row(family, d, seconds, warpers, fixed) for family in families for d in decoders])
    setup = dict(model=lm.name, batch_size=batch_size, context=context, repeats=repeats, warmup=warmup,
                 vocab=real.shape[-1], torch_threads=torch.get_num_threads())
    _write(table, setup, Path(out_dir), tracking_uri, experiment)
    return table


def _row(family: str, d: Decoder, seconds: dict[str, np.ndarray], warpers: dict, fixed: dict) -> dict:
    """The table's row for decoder ``d`` on rows of ``family``."""
    own = quantiles_ms(seconds[f"{family}/decoder:{d.name}"])
    warper = quantiles_ms(seconds[f"{family}/warper:{d.name}"]) if d.name in warpers else {}
    ratio = own["median_ms"] / warper["median_ms"] if warper else float("nan")
    return dict(
        rows=family,
        decoder=d.id,
        **own,
        pct_of_forward=100 * own["median_ms"] / fixed["forward_median_ms"],
        transformers_warper=type(warpers[d.name]).__name__ if warper else "",
        **{f"warper_{k}": v for k, v in warper.items()},
        ratio_to_warper=ratio,
        meets_forward_target=own["median_ms"] <= OVERHEAD_TARGET * fixed["forward_median_ms"],
        meets_warper_target=bool(ratio <= 1) if warper else None,
        **fixed,
    )


FAMILY_TITLES = {
    "real": "real text (the model's next-token logits)",
    "flat": f"flat (logits ~ N(0, {FLAT_SCALE}²))",
    "zipf": f"Zipf (p ∝ rank^−{ZIPF_EXPONENT})",
    "bell": f"bell-shaped (logits ~ N(0, {BELL_SCALE}²))",
}


def render_markdown(table: pd.DataFrame, setup: dict) -> str:
    """The table as Markdown, one section per row family, under a header naming the device, versions and setup."""
    env = environment_tags()
    f = table.iloc[0]
    with_warper = table[table["transformers_warper"] != ""]
    worst = with_warper.loc[with_warper["ratio_to_warper"].idxmax()] if len(with_warper) else None
    lines = [
        "# Decoder overhead per generation step",
        "",
        f"- device: {env['bench.device']}; torch {env.get('version.torch')}, transformers "
        f"{env.get('version.transformers')}, {setup['torch_threads']} torch thread(s)",
        f"- model: {setup['model']}, batch {setup['batch_size']}, KV cache of {setup['context']} tokens, "
        f"vocabulary {setup['vocab']}; {setup['repeats']} rounds after {setup['warmup']} warm-up",
        f"- forward step: {f.forward_median_ms:.2f} ms [p20 {f.forward_p20_ms:.2f}, p80 {f.forward_p80_ms:.2f}]; "
        f"the generation loop's bad-logits check, once per step: {f.check_median_ms:.3f} ms "
        f"({100 * f.check_median_ms / f.forward_median_ms:.2f} % of a forward step)",
        f"- targets: decoder ≤ {100 * OVERHEAD_TARGET:g} % of a forward step, and no slower than the transformers warper",
    ]
    if worst is not None:
        lines.append(f"- largest ratio to a warper: {worst.ratio_to_warper:.2f} (`{worst.decoder}`, {worst.rows} rows)")
    for family, part in table.groupby("rows", sort=False):
        lines += ["", f"## {FAMILY_TITLES.get(family, family)}", "",
                  "| decoder | ms (median [p20, p80]) | % of forward | transformers warper | warper ms | ratio | targets met |",
                  "|---|---|---|---|---|---|---|"]
        lines += [_markdown_row(r) for r in part.itertuples()]
    return "\n".join(lines) + "\n"


def _markdown_row(r) -> str:
    warper = f"{r.warper_median_ms:.3f} [{r.warper_p20_ms:.3f}, {r.warper_p80_ms:.3f}]" if r.transformers_warper else "–"
    ratio = f"{r.ratio_to_warper:.2f}" if r.transformers_warper else "–"
    met = ("✓" if r.meets_forward_target else "✗") + (" / " + ("✓" if r.meets_warper_target else "✗") if r.transformers_warper else "")
    return (f"| `{r.decoder}` | {r.median_ms:.3f} [{r.p20_ms:.3f}, {r.p80_ms:.3f}] | {r.pct_of_forward:.1f} "
            f"| {r.transformers_warper or '–'} | {warper} | {ratio} | {met} |")


def _write(table: pd.DataFrame, setup: dict, out: Path, tracking_uri: str | None, experiment: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "overhead.csv", index=False)
    (out / "overhead.md").write_text(render_markdown(table, setup))
    tracker = Tracker(tracking_uri, experiment)
    run = tracker.open_parent(content_key(**setup, started=time.time_ns()), run_name="decoder-overhead",
                              params={k: str(v) for k, v in setup.items()})
    for name in ("overhead.csv", "overhead.md"):
        tracker.client.log_artifact(run, str(out / name))
    first = table.iloc[0]
    metrics = {"forward/median_ms": float(first["forward_median_ms"]), "check/median_ms": float(first["check_median_ms"])}
    for r in table.itertuples():
        key = f"overhead/{r.rows}/{fragment(r.decoder)}"
        metrics |= {f"{key}/median_ms": r.median_ms, f"{key}/pct_of_forward": r.pct_of_forward, f"{key}/ratio_to_warper": r.ratio_to_warper}
    tracker.close_parent(run, metrics)
