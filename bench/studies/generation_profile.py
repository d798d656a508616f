"""Where generation time goes: tokens per second and the time split of the generation loop.

``bench profile generation`` generates the first ``limit`` examples of a task with a decoder, in
the generation track's batches (``batch_order``: longest prompt first, ``batch_size`` rows, a
prompt's ``n_samples`` rows from one prefill), through the generation track's ``in_batches`` with
a :class:`~entropy_bench.clock.SectionClock`. After one short warm-up generation (one-time
allocations), it reports per run:

    tokens/s         the generations' tokens (as recorded: cut at a stop string, EOS kept) / wall seconds
    prefill          the prompts' forward passes (the shared context once, then each row's own)
    forward          the decode steps' forward passes
    decoder          the decoder's step (and routing), the token draw, its observe
    statistics       the recorded per-token statistics (softmax_stats of the full and warped
                     distributions, top-k)
    stop             incremental stop-string scans
    records          building the returned generations
    other            the rest of the wall time (tokenising, logits checks, bookkeeping)

Written to ``<out_dir>/profile.csv`` (one row per run, seconds and shares) and ``profile.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from entropy_bench.clock import SectionClock
from entropy_bench.methods.decoders.base import build_decoder
from entropy_bench.models.hf import load_model
from entropy_bench.tasks.base import TASKS
from entropy_bench.tracks.generation_data import in_batches, row_seed

SECTIONS = ("prefill", "forward", "decoder", "statistics", "stop", "records")


def profile_generation(lm, prompts: list[str], ids: list[str], decoder, *, batch_size: int, n_samples: int,
                       max_new_tokens: int, stop) -> dict:
    """Wall seconds, generated tokens and the clock's sections of generating ``prompts``."""
    clock = SectionClock(torch.cuda.synchronize if lm.device.type == "cuda" else None)
    seeds = [[row_seed(0, i, k) for k in range(n_samples)] for i in ids]
    start = time.perf_counter()
    batches = in_batches(lm, prompts, seeds, decoder, per_batch=max(1, batch_size // n_samples),
                         max_new_tokens=max_new_tokens, stop=stop, clock=clock)
    tokens = sum(len(g.token_ids) for _, rows, _ in batches for row in rows for g in row)
    wall = time.perf_counter() - start
    sections = {s: clock.seconds.get(s, 0.0) for s in SECTIONS}
    return dict(wall_s=wall, tokens=tokens, tokens_per_s=tokens / wall, **{f"{s}_s": v for s, v in sections.items()},
                other_s=wall - sum(sections.values()))


def run_generation_profile(*, model: str, task: str, limit: int, decoder, batch_sizes: list[int],
                           n_samples: int, max_new_tokens: int, threads: int, out_dir: Path) -> pd.DataFrame:
    """One profile per batch size (module docstring); writes profile.csv and profile.md."""
    torch.set_num_threads(threads)
    lm, task_obj, dec = load_model(model), TASKS.build(task), build_decoder(decoder)
    examples = task_obj.load("test", limit=limit)
    prompts, ids = [task_obj.prompt(e) for e in examples], [str(e["id"]) for e in examples]
    lm.generate(prompts[:1], dec, seeds=[0], max_new_tokens=2)  # warm-up
    rows = []
    for b in batch_sizes:
        r = profile_generation(lm, prompts, ids, dec, batch_size=b, n_samples=n_samples, max_new_tokens=max_new_tokens,
                               stop=task_obj.stop)
        rows.append(dict(model=lm.name, task=task_obj.id, decoder=dec.id, examples=len(prompts), n_samples=n_samples,
                         batch_size=b, max_new_tokens=max_new_tokens, threads=threads, device=str(lm.device), **r))
    table = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "profile.csv", index=False)
    (out_dir / "profile.md").write_text(render_markdown(table))
    return table


def render_markdown(table: pd.DataFrame) -> str:
    first = table.iloc[0]
    head = (f"# Generation profile\n\n{first['model']} on {first['examples']} examples of `{first['task']}`, "
            f"decoder `{first['decoder']}`, {first['n_samples']} row(s) per prompt, {first['max_new_tokens']} "
            f"new tokens at most, {first['threads']} threads, {first['device']}. Shares of the wall time.\n\n")
    cols = [*SECTIONS, "other"]
    lines = ["| batch | wall (s) | tokens | tokens/s | " + " | ".join(cols) + " |",
             "|--:|--:|--:|--:|" + "--:|" * len(cols)]
    for _, r in table.iterrows():
        shares = " | ".join(f"{r[f'{c}_s'] / r['wall_s']:.1%}" for c in cols)
        lines.append(f"| {r['batch_size']} | {r['wall_s']:.1f} | {r['tokens']} | {r['tokens_per_s']:.1f} | {shares} |")
    return head + "\n".join(lines) + "\n"
