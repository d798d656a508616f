"""Per-step cost of each decoder against a forward pass and against transformers' warper.

On real next-token logits z[B, V] of ``model`` (B = ``batch_size`` prompts of ``context`` tokens
each), for every registered decoder d but the two-model ones (their cost is a second model):

    decoder time  = d(z, state) followed by d.observe(state, z, x)   (what one generation step calls)
    forward time  = one decoding step of the model: B new tokens against a KV cache of ``context``
                    tokens (the cache is cropped back to ``context`` after each call)
    warper time   = transformers' warper for the same rule, warper(input_ids, z)
    overhead      = decoder time / forward time      (target ≤ 5 %)
    ratio         = decoder time / warper time       (target ≤ 1)

Each decoder runs with the parameters in :data:`SETTINGS` (its defaults otherwise); a warper is
built from the decoder's own parameters, so both apply the same rule. Decoders calibrated on
reference entropies (``entropy_band``, ``adaptive_temperature``) take them from the rows of z.

Times are the median and 20 / 80 % quantiles over ``repeats`` rounds after ``warmup`` rounds;
a round times the forward pass, every decoder and every warper once each, in turn, so drifts
in machine load hit all of them alike. Results go to ``<out_dir>/overhead.csv`` and
``overhead.md`` and to one MLflow run (metrics ``overhead/<decoder>/…``, both files attached).
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
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.decoders.entropy_band import band_from_reference
from entropy_bench.methods.registry import DECODERS, InvalidParameterError
from entropy_bench.models.hf import DEFAULT_MODEL, LanguageModel, load_model
from entropy_bench.tasks.base import TASKS
from entropy_bench.metrics.keys import fragment
from entropy_bench.tracking import Tracker, environment_tags

OVERHEAD_TARGET = 0.05  # decoder time ≤ 5 % of a forward pass
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
    """One row per decoder: its time, the forward time, overhead and ratio (module docstring)."""
    lm = lm or load_model(model)
    ids = context_batch(lm, batch_size, context)
    with torch.inference_mode():
        prefill = lm.model(input_ids=ids, use_cache=True)
        logits = prefill.logits[:, -1, :].float()
        cache = prefill.past_key_values
        step_ids = logits.argmax(dim=-1, keepdim=True)
        decoders = benchmark_decoders(logits)
        warpers = {d.name: w for d in decoders if (w := transformers_warper(d, logits.device)) is not None}

        def forward():
            lm.model(input_ids=step_ids, past_key_values=cache, use_cache=True)
            cache.crop(-1)  # back to `context` tokens

        def decoder_step(d: Decoder):
            state = d.init_state(batch_size, logits.device)
            return lambda: d.observe(d(logits, state)[1], logits, step_ids[:, 0])

        calls = {"forward": forward}
        calls |= {f"decoder:{d.name}": decoder_step(d) for d in decoders}
        calls |= {f"warper:{name}": (lambda w=w: w(ids, logits)) for name, w in warpers.items()}
        sync = torch.cuda.synchronize if logits.is_cuda else (lambda: None)
        seconds = time_rounds(calls, repeats, warmup, sync)

    forward_ms = quantiles_ms(seconds["forward"])
    rows = []
    for d in decoders:
        own = quantiles_ms(seconds[f"decoder:{d.name}"])
        warper = quantiles_ms(seconds[f"warper:{d.name}"]) if d.name in warpers else {}
        ratio = own["median_ms"] / warper["median_ms"] if warper else float("nan")
        rows.append(dict(
            decoder=d.id,
            **own,
            pct_of_forward=100 * own["median_ms"] / forward_ms["median_ms"],
            transformers_warper=type(warpers[d.name]).__name__ if warper else "",
            **{f"warper_{k}": v for k, v in warper.items()},
            ratio_to_warper=ratio,
            meets_forward_target=own["median_ms"] <= OVERHEAD_TARGET * forward_ms["median_ms"],
            meets_warper_target=bool(ratio <= 1) if warper else None,
            **{f"forward_{k}": v for k, v in forward_ms.items()},
        ))
    table = pd.DataFrame(rows)
    setup = dict(model=lm.name, batch_size=batch_size, context=context, repeats=repeats, warmup=warmup,
                 vocab=logits.shape[-1], torch_threads=torch.get_num_threads())
    _write(table, setup, Path(out_dir), tracking_uri, experiment)
    return table


def render_markdown(table: pd.DataFrame, setup: dict) -> str:
    """The table as Markdown under a header naming the device, versions and setup."""
    env = environment_tags()
    f = table.iloc[0]
    lines = [
        "# Decoder overhead per generation step",
        "",
        f"- device: {env['bench.device']}; torch {env.get('version.torch')}, transformers "
        f"{env.get('version.transformers')}, {setup['torch_threads']} torch thread(s)",
        f"- model: {setup['model']}, batch {setup['batch_size']}, KV cache of {setup['context']} tokens, "
        f"vocabulary {setup['vocab']}; {setup['repeats']} rounds after {setup['warmup']} warm-up",
        f"- forward step: {f.forward_median_ms:.2f} ms [p20 {f.forward_p20_ms:.2f}, p80 {f.forward_p80_ms:.2f}]",
        f"- targets: decoder ≤ {100 * OVERHEAD_TARGET:g} % of a forward step, and no slower than the transformers warper",
        "",
        "| decoder | ms (median [p20, p80]) | % of forward | transformers warper | warper ms | ratio | targets met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        warper = f"{r.warper_median_ms:.3f} [{r.warper_p20_ms:.3f}, {r.warper_p80_ms:.3f}]" if r.transformers_warper else "–"
        ratio = f"{r.ratio_to_warper:.2f}" if r.transformers_warper else "–"
        met = ("✓" if r.meets_forward_target else "✗") + (" / " + ("✓" if r.meets_warper_target else "✗") if r.transformers_warper else "")
        lines.append(
            f"| `{r.decoder}` | {r.median_ms:.3f} [{r.p20_ms:.3f}, {r.p80_ms:.3f}] | {r.pct_of_forward:.1f} "
            f"| {r.transformers_warper or '–'} | {warper} | {ratio} | {met} |"
        )
    return "\n".join(lines) + "\n"


def _write(table: pd.DataFrame, setup: dict, out: Path, tracking_uri: str | None, experiment: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "overhead.csv", index=False)
    (out / "overhead.md").write_text(render_markdown(table, setup))
    tracker = Tracker(tracking_uri, experiment)
    run = tracker.open_parent(content_key(**setup, started=time.time_ns()), run_name="decoder-overhead",
                              params={k: str(v) for k, v in setup.items()})
    for name in ("overhead.csv", "overhead.md"):
        tracker.client.log_artifact(run, str(out / name))
    metrics = {"forward/median_ms": float(table["forward_median_ms"].iloc[0])}
    for r in table.itertuples():
        key = f"overhead/{fragment(r.decoder)}"
        metrics |= {f"{key}/median_ms": r.median_ms, f"{key}/pct_of_forward": r.pct_of_forward, f"{key}/ratio_to_warper": r.ratio_to_warper}
    tracker.close_parent(run, metrics)
