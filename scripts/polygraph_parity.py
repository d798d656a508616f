#!/usr/bin/env python
"""LM-Polygraph parity: our uncertainty measures against LM-Polygraph 0.7.0's estimators on the
same stored generations.

Two subcommands, run in two virtualenvs (LM-Polygraph's dependencies clash with ours):

``export`` (our venv)::

    .venv/bin/python scripts/polygraph_parity.py export \\
        --tracking-uri sqlite:///mlruns.db --cache-dir .bench_cache \\
        [--sweep bench/sweeps/polygraph-parity.yaml] [--out results/peers/polygraph/generations.json]

runs the sweep (``entropy_bench.runner.run_sweep``: nothing is generated again if it finished
already), reads each cell's answers and samples back from the generation cache with the
track's own ``cell_generations`` / ``cell_samples``, and writes ``generations.json``: per task,
per example, the answer (text, token ids, per-token log-probs and entropies, finish reason),
the samples (text, token ids, log-probs, finish reason), our scores as the run logged them
(``per_example.csv``, columns ``uq:<measure id>``: ``scores``) and our scores under
LM-Polygraph's sample conventions (our measures on the mapped samples: ``scores_polygraph``,
see :func:`polygraph_convention_samples`).

``compare`` (LM-Polygraph's venv, ``scripts/polygraph-venv.sh``; never imports entropy_bench)::

    /work/polygraph-venv/bin/python scripts/polygraph_parity.py compare \\
        [--generations results/peers/polygraph/generations.json] [--out-dir results/peers/polygraph]

builds, per task, the ``stats`` dict LM-Polygraph's estimators read — as its own stat
calculators would have built it from these generations (:func:`polygraph_stats`) — calls each
estimator of :data:`PAIRS` and writes ``parity.md`` and ``parity.csv``: max |ours − theirs| per
task and estimator, PASS at ≤ :data:`TOLERANCE`. The sampling estimators are compared twice:
under LM-Polygraph's conventions (``scores_polygraph``) and under ours (the stats built with our
lengths and every sample kept, against the logged scores), which checks the logged numbers
themselves.

Conventions found in LM-Polygraph 0.7.0 (``lm_polygraph/stat_calculators``): see
:data:`CONVENTIONS`, which the report reproduces.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SWEEP = ROOT / "bench" / "sweeps" / "polygraph-parity.yaml"
DEFAULT_OUT_DIR = ROOT / "results" / "peers" / "polygraph"
TOLERANCE = 1e-4
FORMAT = "polygraph-parity/1"
NORMALIZED = "predictive_entropy(normalize=True)"  # the one measure whose lengths are mapped


class Pair(NamedTuple):
    """An LM-Polygraph estimator, how to build it, and the measure of ours it is compared with."""

    estimator: str  # class name in lm_polygraph.estimators
    kwargs: dict
    measure: str  # our measure id (the ``uq:<id>`` column)
    samples: bool  # reads the samples (else the answer's token statistics)
    mapping: str  # how our side is put under LM-Polygraph's convention

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.estimator}({args})"


PAIRS = (
    Pair("MaximumSequenceProbability", {}, "max_sequence_prob", False, "none"),
    Pair("Perplexity", {}, "perplexity", False, "none"),
    Pair("MeanTokenEntropy", {}, "mean_token_entropy", False, "none"),
    Pair("MonteCarloSequenceEntropy", {}, "predictive_entropy(normalize=False)", True, "drop EOS-only samples"),
    Pair("MonteCarloNormalizedSequenceEntropy", {}, "predictive_entropy(normalize=True)", True,
         "drop EOS-only samples; fold the EOS log-prob into the last token"),
    Pair("LexicalSimilarity", {"metric": "rougeL"}, "lexical_similarity(metric=rouge_l)", True, "drop EOS-only samples"),
    Pair("EigValLaplacian", {"similarity_score": "Jaccard_score"}, "eig_val_laplacian(model=,similarity=jaccard)", True,
         "drop EOS-only samples"),
    Pair("DegMat", {"similarity_score": "Jaccard_score"}, "degree_matrix(model=,similarity=jaccard)", True,
         "drop EOS-only samples"),
    Pair("Eccentricity", {"similarity_score": "Jaccard_score"}, "eccentricity(model=,similarity=jaccard,threshold=0.9)",
         True, "drop EOS-only samples"),
)

CONVENTIONS = """\
**What LM-Polygraph 0.7.0 computes, and the stats it reads** (`lm_polygraph/estimators/*.py`,
`lm_polygraph/stat_calculators/*.py`; every estimator: higher = more uncertain, as ours):

- `MaximumSequenceProbability` (max_probability.py:34): `-Σ greedy_log_likelihoods[i]`;
  `Perplexity` (perplexity.py:17): `-mean(greedy_log_likelihoods[i])` — the mean NLL, not its
  exponential, which is what our `perplexity` reports; `MeanTokenEntropy` (token_entropy.py:33):
  `mean(entropy[i])`. `greedy_log_likelihoods[i]` is the answer's per-token log-prob under the
  model's own distribution (utils/model.py:449-456 stores `log_softmax` of the unwarped scores),
  **EOS included** when the model ended the answer (greedy_probs.py:167-169, 192: the sequence is
  cut after EOS); `entropy[i]` is the entropy at each of those steps, EOS step included
  (entropy.py:50-51, `-Σ p log p` over the finite log-probs). Ours: the same lists (our
  `logprob` / `entropy` include the EOS step when `finish_reason == "eos"`). **No mapping.**
- `MonteCarloSequenceEntropy` (monte_carlo_sequence_entropy.py:36): `-mean_j sample_log_probs[i][j]`;
  `MonteCarloNormalizedSequenceEntropy` (monte_carlo_normalized_sequence_entropy.py:40):
  `-mean_j sample_log_probs[i][j] / len(sample_tokens[i][j])` over samples with a token.
  SamplingGenerationCalculator (sample.py:207-231): `sample_log_probs[i][j]` is the sum of the
  sample's log-probs **with** the EOS token's, `sample_tokens[i][j]` (and
  `sample_log_likelihoods`, `sample_texts`) stop **before** EOS, and a sample whose first token
  is EOS (no token) is **dropped** from every `sample_*` list. So its normalised estimate divides a
  log-prob that counts EOS by a length that does not; ours divides by the length with EOS.
- `LexicalSimilarity(metric="rougeL")` (lexical_similarity.py:36, 71-78): `-mean` over pairs
  i < j of `sample_texts` of rouge-score's ROUGE-L F1 with `use_stemmer=True` — ours exactly.
- `EigValLaplacian` / `DegMat` / `Eccentricity` with `similarity_score="Jaccard_score"`
  (eig_val_laplacian.py:57-77, deg_mat.py:54-72, eccentricity.py:57-95; common.py:12-31):
  `W` = Jaccard of lower-cased whitespace word sets of `sample_texts` (0 for two empty texts, 1
  on the diagonal); `Σ_k max(0, 1 − λ_k)` of `L = I − D^-1/2 W D^-1/2`; `trace(n − D) / n²`;
  the 2-norm of the per-eigenvector norms of the centred eigenvectors with `λ < 0.9`
  (= our Frobenius norm). Ours the same.

**Mappings applied** (LM-Polygraph's convention, applied to our side before comparing):

1. *EOS-only samples dropped*: a sample whose only token is EOS (text "") is left out of our
   sampling measures' input and of every `sample_*` stat, as LM-Polygraph's calculator would.
2. *EOS log-prob folded*: for `predictive_entropy(normalize=True)`, each sample that ended with
   EOS has its EOS log-prob added to its last real token's, so its length is LM-Polygraph's
   (EOS excluded) while its total log-prob keeps EOS — exactly LM-Polygraph's ratio. (The
   unnormalised measure and the text-based ones are unchanged by this.)
3. Our measures are then run on the mapped samples (`export`: `scores_polygraph`); the
   "ours" rows compare the logged scores (`per_example.csv`) with LM-Polygraph's formulas fed
   our lengths (`sample_tokens` with EOS, every sample kept).

Not mapped, as they concern generation and not scoring: LM-Polygraph generates with
`min_new_tokens=2`, no stop strings and a single `tokenizer.eos_token_id`; here both sides read
the same stored generations (cut at the task's stop strings, EOS = any of the model's EOS ids).
"""


# ---------------------------------------------------------------------------------------------
# JSON records (export side; plain functions, tested without a model)


def finite(value: Any) -> float | None:
    """A float for JSON: NaN and ±inf become ``None``."""
    value = float(value)
    return value if math.isfinite(value) else None


def generation_json(generation: Any, answer: bool) -> dict:
    """One :class:`~entropy_bench.methods.records.Generation` as compact JSON: text, token ids,
    per-token log-probs (and, for an answer, entropies) and its finish reason; no top-k."""
    record = {
        "text": generation.text,
        "token_ids": [int(t) for t in generation.token_ids],
        "logprob": [float(x) for x in generation.logprob],
    }
    if answer:
        record["entropy"] = [float(x) for x in generation.entropy]
    record["finish_reason"] = generation.finish_reason
    return record


def example_json(example_id: Any, answer: Any, samples: Sequence[Any], scores: Mapping[str, float],
                 scores_polygraph: Mapping[str, float]) -> dict:
    return {
        "id": str(example_id),
        "answer": generation_json(answer, answer=True),
        "samples": [generation_json(s, answer=False) for s in samples],
        "scores": {k: finite(v) for k, v in scores.items()},
        "scores_polygraph": {k: finite(v) for k, v in scores_polygraph.items()},
    }


def ends_with_eos(generation: Any) -> bool:
    """Whether the generation's last token is EOS (the model ended it; its log-prob is counted)."""
    finish = generation["finish_reason"] if isinstance(generation, Mapping) else generation.finish_reason
    return finish == "eos"


def fold_eos(logprob: Sequence[float], eos: bool) -> list[float] | None:
    """Per-token log-probs of LM-Polygraph's length for one sample, with the same total.

    LM-Polygraph's sample length excludes EOS but its sample log-prob includes it: with ``eos``
    the EOS log-prob is added to the previous token's (one entry shorter, same sum). ``None``
    for a sample whose only token is EOS (LM-Polygraph drops it); unchanged without ``eos``."""
    logprob = [float(x) for x in logprob]
    if not eos:
        return logprob
    if len(logprob) < 2:
        return None
    return [*logprob[:-2], logprob[-2] + logprob[-1]]


def polygraph_convention_samples(samples: Sequence[Any], fold: bool) -> list[Any]:
    """An example's samples (``Generation`` records) as LM-Polygraph's sampling calculator sees
    them: EOS-only samples dropped and, with ``fold``, the EOS log-prob folded into the last
    token (:func:`fold_eos`; ``token_ids`` shortened to match). Only ``text``, ``token_ids`` and
    ``logprob`` are changed — what the sampling measures read."""
    out = []
    for s in samples:
        folded = fold_eos(s.logprob, ends_with_eos(s))
        if folded is None:
            continue
        if fold and ends_with_eos(s):
            out.append(dataclasses.replace(s, token_ids=list(s.token_ids[: len(folded)]), logprob=folded))
        else:
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------------
# export (our venv)


def _our_scores(cell, examples: list[dict], answers: list, samples: list[list], transform=None) -> dict[str, list[float]]:
    """Every measure of ``cell`` on the answers and on ``transform(row)`` of each example's samples
    (unchanged without one), one example at a time through the cell's own statistics calculators
    (no cache). A statistic or measure that raises (a row left without samples) scores NaN."""
    from entropy_bench.stats import select, stat_key

    scores: dict[str, list[float]] = {m.id: [] for m in cell.measures}
    for example, answer, row in zip(examples, answers, samples):
        values = {"generations": [answer], "samples": [list(row) if transform is None else transform(row)],
                  "examples": [example], "task": cell.task_run.task, "encoders": None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for calculator in cell.calculators:
                try:
                    values[stat_key(calculator)] = calculator.compute(select(values, calculator.requires))
                except Exception:  # noqa: BLE001 - the measures that read it score NaN
                    pass
            for measure in cell.measures:
                try:
                    score = float(np.asarray(measure(select(values, measure.requires)), dtype=float)[0])
                except Exception:  # noqa: BLE001
                    score = float("nan")
                scores[measure.id].append(score)
    return scores


def polygraph_scores(cell, examples: list[dict], answers: list, samples: list[list]) -> dict[str, list[float]]:
    """Our scores under LM-Polygraph's conventions: EOS-only samples dropped for every sampling
    measure; the EOS log-prob folded for the length-normalised predictive entropy only."""
    dropped = _our_scores(cell, examples, answers, samples, lambda row: polygraph_convention_samples(row, fold=False))
    folded = _our_scores(cell, examples, answers, samples, lambda row: polygraph_convention_samples(row, fold=True))
    return {k: folded[k] if k == NORMALIZED else v for k, v in dropped.items()}


def max_drift(logged: Mapping[str, Sequence[float | None]], recomputed: Mapping[str, Sequence[float]]) -> float:
    """max |logged − recomputed| over measures and examples where both are finite (0 if none)."""
    diffs = [abs(a - b) for k in logged for a, b in zip(logged[k], recomputed[k])
             if a is not None and math.isfinite(a) and math.isfinite(b)]
    return max(diffs, default=0.0)


def cell_json(cell, examples: list[dict], answers: list, samples: list[list], logged: Mapping[str, Sequence[float]],
              model_fingerprint: str, eos_token_ids: Iterable[int]) -> dict:
    """One cell (task) of ``generations.json``: its settings and, per example, the answer, the
    samples, our ``logged`` scores (``{measure id: [score per example]}``, from ``per_example.csv``)
    and our scores under LM-Polygraph's conventions (:func:`polygraph_scores`)."""
    tr = cell.task_run
    mapped = polygraph_scores(cell, examples, answers, samples)
    records = [example_json(e["id"], answer, row, {k: v[i] for k, v in logged.items()},
                            {k: v[i] for k, v in mapped.items()})
               for i, (e, answer, row) in enumerate(zip(examples, answers, samples))]
    return {
        "task": tr.task.id, "split": tr.split, "decoder": cell.decoder.id,
        "sample_decoder": (cell.sample_decoder or cell.decoder).id, "n_samples": cell.n_samples,
        "max_new_tokens": tr.max_new_tokens, "stop": list(tr.task.stop), "seed": cell.seed,
        "model": cell.model, "model_fingerprint": model_fingerprint, "eos_token_ids": sorted(eos_token_ids),
        "examples": records,
    }


def _cell_rows(frame, cell):
    """The ``per_example.csv`` rows of one cell: those whose run params equal the cell's."""
    rows = frame
    for key, value in cell.params.items():
        if key in rows.columns:
            rows = rows[rows[key].astype(str) == str(value)]
    return rows


def export(args: argparse.Namespace) -> Path:
    from importlib import metadata

    import torch

    from entropy_bench import sweep as sweeps
    from entropy_bench.cache import Cache
    from entropy_bench.models.pool import Models
    from entropy_bench.runner import run_sweep
    from entropy_bench.tables import load_examples
    from entropy_bench.tracks.generation_data import cell_generations, cell_samples

    plan = sweeps.plan(sweeps.load(args.sweep))
    models = Models()
    result = run_sweep(plan, tracking_uri=args.tracking_uri, cache_dir=args.cache_dir,
                       resources={"models": models}, progress=not args.quiet)
    frame = load_examples(result.tracking_uri, plan.spec.name, result.parent_run_id)
    cache = Cache(args.cache_dir)
    tasks: dict[str, dict] = {}
    for cell in plan.cells:
        tr = cell.task_run
        if tr.task.name in tasks:
            raise SystemExit(f"export: two cells of task {tr.task.name!r}; the parity sweep has one cell per task")
        if not cell.n_samples:
            raise SystemExit("export: the sweep needs n_samples >= 1 (the sampling estimators read samples)")
        lm = models(cell.model)
        examples = tr.task.load(tr.split, tr.limit)
        prompts = [tr.task.prompt(e) for e in examples]
        answers = cell_generations(cell, examples, prompts, cache, lm)
        samples = cell_samples(cell, examples, prompts, cache, lm)
        if answers.generated or samples.generated:
            raise SystemExit(f"export: {cell.label}: {answers.generated + samples.generated} generations were not in "
                             f"the cache {args.cache_dir} after the sweep ran; pass the sweep's --cache-dir")
        rows = _cell_rows(frame, cell).drop_duplicates("id").set_index("id")
        rows.index = rows.index.astype(str)
        absent = sorted({p.measure for p in PAIRS} - {m.id for m in cell.measures})
        if absent:
            raise SystemExit(f"export: {cell.label}: the sweep lacks the measures {', '.join(absent)}")
        missing = [m.id for m in cell.measures if f"uq:{m.id}" not in rows.columns]
        if missing:
            raise SystemExit(f"export: {cell.label}: per_example.csv has no column for {', '.join(missing)}")
        logged = {}
        for m in cell.measures:
            logged[m.id] = []
            for example in examples:
                if str(example["id"]) not in rows.index:
                    raise SystemExit(f"export: {cell.label}: example {example['id']!r} is not in the runs' "
                                     "per_example.csv")
                logged[m.id].append(float(rows.loc[str(example["id"]), f"uq:{m.id}"]))
        drift = max_drift(logged, _our_scores(cell, examples, answers.generations, samples.samples))
        if drift > 1e-9:
            print(f"export: warning: {cell.label}: the logged scores and our measures recomputed from the cached "
                  f"generations differ by up to {drift:.3g}", file=sys.stderr)
        tasks[tr.task.name] = cell_json(cell, examples, answers.generations, samples.samples, logged,
                                        lm.fingerprint, lm.eos_token_ids)
    versions = {}
    for pkg in ("entropy-bench", "transformers", "rouge-score", "numpy", "scipy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    versions["torch"] = torch.__version__
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format": FORMAT, "sweep": plan.spec.name, "tracking_uri": result.tracking_uri,
        "parent_run_id": result.parent_run_id, "batch_size": plan.spec.batch_size,
        "measures": [m.id for m in plan.cells[0].measures], "versions": versions, "tasks": tasks,
    }
    out.write_text(json.dumps(document, separators=(",", ":")))
    print(f"export: {sum(len(t['examples']) for t in tasks.values())} examples of {len(tasks)} tasks -> {out}")
    return out


# ---------------------------------------------------------------------------------------------
# compare (LM-Polygraph's venv; no entropy_bench)


def polygraph_sample(sample: Mapping[str, Any]) -> dict | None:
    """One sample as LM-Polygraph's SamplingGenerationCalculator records it (sample.py:207-231):
    tokens and per-token log-likelihoods stop before EOS, the total log-prob includes it; ``None``
    when EOS is the first token (the calculator skips the sample)."""
    tokens, logprob = list(sample["token_ids"]), [float(x) for x in sample["logprob"]]
    n = len(tokens) - 1 if ends_with_eos(sample) else len(tokens)
    if n <= 0:
        return None
    return {"text": sample["text"], "tokens": tokens[:n], "log_prob": float(np.sum(logprob)),
            "log_likelihoods": logprob[:n]}


def polygraph_stats(examples: Sequence[Mapping[str, Any]], convention: str = "polygraph") -> dict[str, Any]:
    """The ``stats`` dict LM-Polygraph's estimators read, for a list of exported examples.

    Keys (one entry per example): ``greedy_texts``, ``greedy_tokens``, ``greedy_log_likelihoods``
    (np.ndarray of the answer's per-token log-probs, EOS included), ``entropy`` (list of per-step
    entropies), ``sample_texts``, ``sample_tokens``, ``sample_log_probs`` (per sample: total
    log-prob), ``sample_log_likelihoods``. ``convention="polygraph"``: the samples as
    :func:`polygraph_sample`; ``"ours"``: every sample kept, tokens and log-likelihoods with EOS
    (LM-Polygraph's formulas on our lengths)."""
    if convention not in ("polygraph", "ours"):
        raise ValueError(f"convention must be 'polygraph' or 'ours', got {convention!r}")
    stats: dict[str, list] = {k: [] for k in ("greedy_texts", "greedy_tokens", "greedy_log_likelihoods", "entropy",
                                              "sample_texts", "sample_tokens", "sample_log_probs",
                                              "sample_log_likelihoods")}
    for example in examples:
        answer = example["answer"]
        stats["greedy_texts"].append(answer["text"])
        stats["greedy_tokens"].append(list(answer["token_ids"]))
        stats["greedy_log_likelihoods"].append(np.asarray(answer["logprob"], dtype=float))
        stats["entropy"].append([float(x) for x in answer["entropy"]])
        if convention == "polygraph":
            kept = [p for p in (polygraph_sample(s) for s in example["samples"]) if p is not None]
        else:
            kept = [{"text": s["text"], "tokens": list(s["token_ids"]), "log_prob": float(np.sum(s["logprob"])),
                     "log_likelihoods": [float(x) for x in s["logprob"]]} for s in example["samples"]]
        stats["sample_texts"].append([p["text"] for p in kept])
        stats["sample_tokens"].append([p["tokens"] for p in kept])
        stats["sample_log_probs"].append([p["log_prob"] for p in kept])
        stats["sample_log_likelihoods"].append([p["log_likelihoods"] for p in kept])
    return stats


def mapped_examples(examples: Sequence[Mapping[str, Any]], pair: Pair) -> int:
    """How many examples the convention mapping changes for ``pair``: any EOS-only sample (every
    sampling estimator) or, for the normalised entropy, any sample ending with EOS."""
    if not pair.samples:
        return 0

    def changed(sample) -> bool:
        if pair.measure == NORMALIZED:
            return ends_with_eos(sample)
        return polygraph_sample(sample) is None

    return sum(any(changed(s) for s in e["samples"]) for e in examples)


def max_abs_diff(ours: Iterable[float | None], theirs: Iterable[float]) -> float:
    """max |ours − theirs|; NaN (or ``None``) on both sides matches, on one side only is ``inf``."""
    o = np.array([np.nan if x is None else x for x in ours], dtype=float)
    t = np.asarray(list(theirs), dtype=float)
    if o.shape != t.shape:
        raise ValueError(f"{o.shape[0]} scores of ours against {t.shape[0]} of LM-Polygraph's")
    if not o.size:
        return float("nan")
    diff = np.where(np.isnan(o) & np.isnan(t), 0.0, np.abs(o - t))
    return float(np.max(np.where(np.isnan(diff), np.inf, diff)))


def run_estimator(estimator, stats: Mapping[str, Any], n: int) -> tuple[np.ndarray, str]:
    """``estimator(stats)`` on the whole batch; if that raises, one example at a time (NaN where
    it still raises). Returns the scores and a note ('' when the batch call worked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.mean([]): a row without a pair or sample
        try:
            return np.asarray(estimator(dict(stats)), dtype=float).reshape(n), ""
        except Exception as err:  # noqa: BLE001 - reported in the table
            note = f"batch call raised {type(err).__name__}: {err}; scored one example at a time"
        out = np.full(n, np.nan)
        for i in range(n):
            single = {k: v[i : i + 1] for k, v in stats.items()}
            try:
                out[i] = float(np.asarray(estimator(single), dtype=float).reshape(-1)[0])
            except Exception:  # noqa: BLE001
                pass
        return out, note


def build_estimator(pair: Pair):
    import lm_polygraph.estimators as estimators

    return getattr(estimators, pair.estimator)(**pair.kwargs)


def compare_task(name: str, examples: Sequence[Mapping[str, Any]], make=build_estimator) -> list[dict]:
    """One table row per (estimator, convention) for one task's exported examples."""
    stats = {c: polygraph_stats(examples, c) for c in ("polygraph", "ours")}
    rows = []
    for pair in PAIRS:
        estimator = make(pair)
        conventions = ("polygraph", "ours") if pair.samples else ("polygraph",)
        for convention in conventions:
            missing = [k for k in getattr(estimator, "stats_dependencies", []) if k not in stats[convention]]
            if missing:
                raise KeyError(f"{pair.estimator} reads {missing}, not in the stats dict")
            theirs, note = run_estimator(estimator, stats[convention], len(examples))
            key = "scores_polygraph" if convention == "polygraph" else "scores"
            try:
                ours = [e[key][pair.measure] for e in examples]
            except KeyError as err:
                raise KeyError(f"task {name}: an example has no {key}[{pair.measure!r}] ({err})") from None
            diff = max_abs_diff(ours, theirs)
            rows.append({
                "task": name,
                "estimator": pair.label,
                "measure": pair.measure,
                "convention": ("LM-Polygraph" if pair.samples else "same") if convention == "polygraph" else "ours",
                "mapping": pair.mapping if convention == "polygraph" else "none (stats with our lengths)",
                "stats_read": " ".join(getattr(estimator, "stats_dependencies", [])),
                "mapped_examples": mapped_examples(examples, pair) if convention == "polygraph" else 0,
                "n_examples": len(examples),
                "max_abs_diff": diff,
                "result": "PASS" if diff <= TOLERANCE else "FAIL",
                "note": note,
            })
    return rows


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for pkg in ("lm-polygraph", "torch", "numpy", "scipy", "rouge-score"):
        try:
            found[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            found[pkg] = "not installed"
    return found


def render_markdown(rows: Sequence[Mapping[str, Any]], document: Mapping[str, Any], theirs: Mapping[str, str],
                    source: str) -> str:
    passed = sum(r["result"] == "PASS" for r in rows)
    ours = document.get("versions", {})
    lines = [
        "# LM-Polygraph parity of our uncertainty measures",
        "",
        f"`scripts/polygraph_parity.py compare` on `{source}` (sweep `{document.get('sweep')}`, "
        f"parent run `{document.get('parent_run_id')}`): LM-Polygraph's estimators score the same stored "
        f"generations as our measures; PASS when max |ours − theirs| ≤ {TOLERANCE:g} over the task's examples. "
        f"**{passed} of {len(rows)} rows pass.**",
        "",
        f"- LM-Polygraph side: lm-polygraph {theirs.get('lm-polygraph')}, torch {theirs.get('torch')}, "
        f"numpy {theirs.get('numpy')}, scipy {theirs.get('scipy')}, rouge-score {theirs.get('rouge-score')}",
        f"- our side (export): entropy-bench {ours.get('entropy-bench')}, torch {ours.get('torch')}, "
        f"transformers {ours.get('transformers')}, numpy {ours.get('numpy')}, scipy {ours.get('scipy')}, "
        f"rouge-score {ours.get('rouge-score')}",
    ]
    for name, task in document.get("tasks", {}).items():
        lines.append(f"- {name}: `{task.get('task')}`, model `{task.get('model')}`, decoder `{task.get('decoder')}`, "
                     f"{task.get('n_samples')} samples by `{task.get('sample_decoder')}`, "
                     f"max_new_tokens {task.get('max_new_tokens')}, {len(task['examples'])} examples")
    lines += [
        "",
        "| task | LM-Polygraph estimator | our measure | convention | mapped examples | n | max abs diff | result |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['task']} | `{r['estimator']}` | `{r['measure']}` | {r['convention']} | "
                     f"{r['mapped_examples']} | {r['n_examples']} | {r['max_abs_diff']:.3g} | {r['result']} |")
    notes = [f"- {r['task']} / {r['estimator']} ({r['convention']}): {r['note']}" for r in rows if r["note"]]
    if notes:
        lines += ["", "Notes:", *notes]
    lines += [
        "",
        "*convention*: `same` — the two libraries agree, compared as logged; `LM-Polygraph` — the stats as "
        "LM-Polygraph's calculators build them and our measures on the samples mapped the same way "
        "(`scores_polygraph`); `ours` — the logged scores (`per_example.csv`) against LM-Polygraph's formulas "
        "fed our lengths. *mapped examples*: examples whose input the mapping changes.",
        "",
        "## Conventions",
        "",
        CONVENTIONS,
    ]
    return "\n".join(lines)


CSV_COLUMNS = ("task", "estimator", "measure", "convention", "mapping", "stats_read", "mapped_examples", "n_examples",
               "max_abs_diff", "result", "note")


def render_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (repr(r[k]) if k == "max_abs_diff" else r[k]) for k in CSV_COLUMNS})
    return buf.getvalue()


def compare(args: argparse.Namespace) -> list[dict]:
    source = Path(args.generations)
    document = json.loads(source.read_text())
    if document.get("format") != FORMAT:
        raise SystemExit(f"compare: {source} is not a {FORMAT} file (format {document.get('format')!r})")
    rows = [row for name, task in document["tasks"].items() for row in compare_task(name, task["examples"])]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        shown = source.resolve().relative_to(ROOT)
    except ValueError:
        shown = source
    (out / "parity.md").write_text(render_markdown(rows, document, versions(), str(shown)) + "\n")
    (out / "parity.csv").write_text(render_csv(rows))
    for r in rows:
        print(f"{r['result']}  {r['task']:<12} {r['estimator']:<55} {r['convention']:<12} "
              f"max|diff| {r['max_abs_diff']:.3g}  (n={r['n_examples']}, mapped {r['mapped_examples']})")
    print(f"compare: {sum(r['result'] == 'PASS' for r in rows)} of {len(rows)} pass -> {out / 'parity.md'}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="run the sweep and write generations.json (our venv)")
    ex.add_argument("--sweep", default=str(DEFAULT_SWEEP))
    ex.add_argument("--tracking-uri", default=None, help="MLflow store (default: $MLFLOW_TRACKING_URI or bench's)")
    ex.add_argument("--cache-dir", default=".bench_cache")
    ex.add_argument("--out", default=str(DEFAULT_OUT_DIR / "generations.json"))
    ex.add_argument("--quiet", action="store_true", help="no progress bar")
    co = sub.add_parser("compare", help="score generations.json with LM-Polygraph (its venv)")
    co.add_argument("--generations", default=str(DEFAULT_OUT_DIR / "generations.json"))
    co.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR))
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args)
        return 0
    rows = compare(args)
    return 0 if all(r["result"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
