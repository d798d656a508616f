"""Executes a sweep's cells: generate (through the cache), score, measure, log.

For each cell not yet FINISHED in the tracking store:

1. load the task's examples and build prompts;
2. fetch each example's generation from the cache, generating only the missing ones (in
   batches, each written to the cache as soon as it is done: a killed sweep loses at most
   one batch);
3. score the text with the task, compute every uncertainty measure on the shared stats;
4. log the cell as one child run (metrics with 95 % bootstrap CIs over examples, and the
   per-example table as an artifact).

A decoder that declares a ``large_model`` (two-model decoding) gets that model through
:func:`entropy_bench.generation.generate`, loaded by the same :class:`Models`; its fingerprint
joins the generation keys, and the cell logs the large model's share of tokens and the
estimated FLOPs (``test/gen/large_model_fraction``, ``cost/flops_estimate*``).

Models are loaded lazily, only for cells not yet in the store (their fingerprint is part of
every cache key), so a rerun of a finished sweep loads no model, and a rerun whose
generations are all cached makes no forward call.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from entropy_bench.cache import Cache, content_key
from entropy_bench.generation import Generation, generate, large_model_of
from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.metrics.uq import auroc
from entropy_bench.models.hf import LanguageModel, describe, load_model
from entropy_bench.sweep import Cell, SweepSpec, TaskRun, expand, sweep_key
from entropy_bench.tracking import Tracker, metric_name

N_BOOTSTRAP = 1000


def row_seed(cell_seed: int, example_id: str, sample: int = 0) -> int:
    """The sampling seed of one (example, sample): independent of batching and order."""
    digest = hashlib.sha256(f"{cell_seed}/{example_id}/{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass
class CellResult:
    metrics: dict[str, float]
    per_example: list[dict]
    generated: int  # examples generated now (cache misses)


@dataclass
class Models:
    """Lazily loaded models, one instance per name for the whole sweep."""

    loader: Callable[[str], LanguageModel] = load_model
    loaded: dict[str, LanguageModel] = field(default_factory=dict)

    def __call__(self, name: str) -> LanguageModel:
        if name not in self.loaded:
            self.loaded[name] = self.loader(name)
        return self.loaded[name]


def generation_key(
    model_fingerprint: str, prompt: str, cell: Cell, example_id: str, sample: int = 0, large_fingerprint: str | None = None
) -> str:
    large = {} if large_fingerprint is None else {"large_model": large_fingerprint}
    return content_key(
        **large,
        model=model_fingerprint,
        prompt=prompt,
        decoder=cell.decoder.id,
        seed=row_seed(cell.seed, example_id, sample),
        max_new_tokens=cell.task_run.max_new_tokens,
        stop=list(cell.task_run.task.stop),
    )


def cell_generations(
    cell: Cell, examples: list[dict], prompts: list[str], cache: Cache, lm: LanguageModel,
    large_lm: LanguageModel | None = None,
) -> tuple[list[Generation], int, float]:
    """Every example's generation for ``cell``; returns (generations, n generated now, seconds)."""
    large_fp = None if large_lm is None else large_lm.fingerprint
    keys = [generation_key(lm.fingerprint, p, cell, e["id"], large_fingerprint=large_fp) for e, p in zip(examples, prompts)]
    found = [cache.get("generation", k) for k in keys]
    missing = [i for i, g in enumerate(found) if g is None]
    if missing:
        for start in range(0, len(missing), cell.batch_size):
            idx = missing[start : start + cell.batch_size]
            t0 = time.perf_counter()
            gens = generate(
                lm,
                [prompts[i] for i in idx],
                cell.decoder,
                seeds=[row_seed(cell.seed, examples[i]["id"]) for i in idx],
                max_new_tokens=cell.task_run.max_new_tokens,
                stop=cell.task_run.task.stop,
                large_lm=large_lm,
            )
            dt = time.perf_counter() - t0
            for i, g in zip(idx, gens):
                record = {**g.to_dict(), "seconds": dt / len(idx)}
                cache.put("generation", keys[i], record)
                found[i] = record
    gens = [Generation.from_dict({k: v for k, v in r.items() if k != "seconds"}) for r in found]
    return gens, len(missing), sum(r.get("seconds", 0.0) for r in found)


def evaluate_cell(
    cell: Cell, examples: list[dict], prompts: list[str], cache: Cache, lm: LanguageModel,
    large_lm: LanguageModel | None = None,
) -> CellResult:
    task = cell.task_run.task
    split = cell.task_run.split
    gens, generated, seconds = cell_generations(cell, examples, prompts, cache, lm, large_lm)

    scores = [task.score(e, g.text) for e, g in zip(examples, gens)]
    correct = np.array([s[task.primary_metric] for s in scores], dtype=float)
    stats = {"generations": gens}
    uq = {m.id: np.asarray(m(stats), dtype=float) for m in cell.measures}

    metrics: dict[str, float] = {}
    for name in scores[0]:
        values = np.array([s[name] for s in scores], dtype=float)
        metrics[f"{split}/task/{name}"] = float(values.mean())
        lo, hi = bootstrap_ci(np.mean, values, n_resamples=N_BOOTSTRAP)
        metrics[f"{split}/task/{name}_ci_low"], metrics[f"{split}/task/{name}_ci_high"] = lo, hi
    for measure_id, values in uq.items():
        key = f"{split}/uq/{metric_name(measure_id)}"
        metrics[f"{key}/auroc"] = auroc(values, correct)
        lo, hi = bootstrap_ci(auroc, values, correct, n_resamples=N_BOOTSTRAP)
        metrics[f"{key}/auroc_ci_low"], metrics[f"{key}/auroc_ci_high"] = lo, hi
        metrics[f"{key}/mean"] = float(values.mean())
    n_tokens = sum(len(g.token_ids) for g in gens)
    metrics[f"{split}/gen/mean_entropy"] = float(np.mean([np.mean(g.entropy) for g in gens]))
    metrics[f"{split}/gen/mean_warped_entropy"] = float(np.mean([np.mean(g.warped_entropy) for g in gens]))
    metrics[f"{split}/gen/mean_tokens"] = n_tokens / len(gens)
    metrics["cost/generated_tokens"] = float(n_tokens)
    metrics["cost/generation_seconds"] = seconds
    if seconds > 0:
        metrics["cost/tokens_per_s"] = n_tokens / seconds
    if large_lm is not None:  # two-model decoding: share of tokens and summed FLOPs (generation.py)
        metrics[f"{split}/gen/large_model_fraction"] = sum(sum(g.extra["large_model_used"]) for g in gens) / n_tokens
        for part in ("", "_small_model", "_large_model"):
            metrics[f"cost/flops_estimate{part}"] = float(sum(g.extra[f"flops_estimate{part}"] for g in gens))
    metrics["n_examples"] = float(len(examples))

    per_example = [
        {
            "id": e["id"],
            "correct": c,
            **{f"uq:{k}": float(v[i]) for k, v in uq.items()},
            "n_tokens": len(g.token_ids),
            "mean_entropy": float(np.mean(g.entropy)),
            "mean_warped_entropy": float(np.mean(g.warped_entropy)),
            "finish_reason": g.finish_reason,
            "text": g.text,
            "extracted": task.extract(g.text),
            "target": str(e.get("target", e.get("answer", ""))),
        }
        for i, (e, g, c) in enumerate(zip(examples, gens, correct))
    ]
    return CellResult(metrics, per_example, generated)


def per_example_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@dataclass
class SweepResult:
    parent_run_id: str
    cells: int
    skipped: int
    generated_examples: int
    forward_calls: int
    experiment: str
    tracking_uri: str


def run_sweep(
    spec: SweepSpec,
    *,
    tracking_uri: str | None = None,
    cache_dir: str | Path = ".bench_cache",
    models: Models | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run every cell of ``spec`` not already FINISHED in the store (see module docstring)."""
    cells = expand(spec)  # validates everything before MLflow is touched
    key = sweep_key(cells)
    cache = Cache(cache_dir)
    models = models or Models()
    tracker = Tracker(tracking_uri, spec.name)
    parent = tracker.open_parent(key, run_name=f"{spec.name}-{key[:8]}", params={
        "sweep.name": spec.name,
        "sweep.spec": spec.model_dump_json(),
        "sweep.cells": str(len(cells)),
    })
    done = tracker.finished_cells(parent)
    loaded: dict[TaskRun, tuple[list[dict], list[str]] | None] = {}

    def examples_of(tr: TaskRun) -> tuple[list[dict], list[str]] | None:
        if tr not in loaded:
            try:
                examples = tr.task.load(tr.split, tr.limit)
            except Exception as err:  # data source unavailable (offline hub, missing files)
                if not tr.optional:
                    raise
                warnings.warn(f"skipping optional task {tr.task.id}: its data could not be loaded ({err})")
                loaded[tr] = None
                return None
            loaded[tr] = (examples, [tr.task.prompt(e) for e in examples])
        return loaded[tr]

    generated = 0
    todo = [c for c in cells if c.key not in done and examples_of(c.task_run) is not None]
    skipped = len(cells) - len(todo)
    bar = tqdm(todo, desc=f"bench run {spec.name}", unit="cell", disable=not progress)
    for cell in bar:
        bar.set_postfix_str(cell.label)
        lm = models(cell.model)
        large_name = large_model_of(cell.decoder)
        large_lm = None if large_name is None else models(large_name)
        result = evaluate_cell(cell, *examples_of(cell.task_run), cache, lm, large_lm)
        generated += result.generated
        tags = describe(lm)
        if large_lm is not None:
            tags |= {f"large_{k}": v for k, v in describe(large_lm).items()}
        tracker.log_cell(
            parent,
            cell_key=cell.key,
            run_name=cell.label,
            params={**cell.params, "batch_size": str(cell.batch_size), "model.source": tags["model.source"]},
            metrics=result.metrics,
            tags=tags,
            artifacts={"per_example.csv": per_example_csv(result.per_example)},
        )
    tracker.close_parent(parent)
    calls = sum(lm.forward_calls for lm in models.loaded.values())
    return SweepResult(parent, len(cells), skipped, generated, calls, spec.name, tracker.uri)
