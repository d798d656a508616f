#!/usr/bin/env python
"""Generation wall time against lm-eval's ``hf`` model, in one process, on the same questions.

    BENCH_DATA_DIR=../shared/data .venv/bin/python scripts/lmeval_speed.py

GSM8K test questions, 5-shot (lm-eval's prompts: our GSM8K task builds them byte for byte,
checked here against lm-eval's own requests), lm-eval's 256-token limit and stop strings,
batch 8, fp32, the same weights (the local HF directory our model loads from), the same torch
thread count:

- **greedy**, the first ``--limit`` questions: lm-eval's ``HFLM.generate_until`` on its gsm8k
  requests (``do_sample=False``) vs our generation path (``entropy_bench.tracks.generation_data.
  in_batches`` → ``LanguageModel.generate``, the greedy decoder), texts compared one by one;
- **sampled**, the first ``--sample-limit`` questions, ``--samples`` draws each at temperature 1:
  lm-eval's requests repeated ``--samples`` times (what its ``repeats`` does), sampling with
  ``do_sample=True, temperature=1, top_k=0`` (HF's default ``top_k=50`` off) vs our
  ``temperature(temperature=1.0)`` sampler drawing a question's samples from one prefill
  (``batch // samples`` questions per batch, as the generation track's samples).

Each side is warmed up with one short generation first (one-time allocation and kernel
selection), then timed; model loading is timed apart. Forward calls are counted on both sides.
Writes ``speed.json`` and ``speed.md`` to ``--out``. Target (issue: generation throughput):
ours ≤ :data:`TARGET` × lm-eval's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

TARGET = 0.67
ROOT = Path(__file__).resolve().parents[1]


def lmeval_requests(data: Path, limit: int, samples: int | None = None) -> list:
    """lm-eval's gsm8k ``generate_until`` requests for the first ``limit`` test questions;
    sampling at temperature 1, each request ``samples`` times, when ``samples`` is given."""
    from entropy_bench.tasks.lm_eval_reference import gsm8k_task, gsm8k_yaml

    overrides = {}
    if samples is not None:
        kwargs = {**gsm8k_yaml()["generation_kwargs"], "do_sample": True, "temperature": 1.0, "top_k": 0}
        overrides = {"generation_kwargs": kwargs}
    task, _ = gsm8k_task(data, 5, **overrides)
    task.build_all_requests(limit=limit)
    instances = sorted(task.instances, key=lambda i: i.doc_id)
    return [i for i in instances for _ in range(samples or 1)]


class ForwardCounter:
    """Counts a torch module's forward calls (a hook; removed by :meth:`close`)."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        self.handle = module.register_forward_hook(self._count)

    def _count(self, *_):
        self.calls += 1

    def close(self) -> None:
        self.handle.remove()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_ours(lm, prompts, seeds, decoder, *, per_batch, stop):
    """Our generation of ``len(seeds[i])`` continuations per prompt; texts (prompt-major), seconds, forward calls."""
    from entropy_bench.tracks.generation_data import in_batches

    calls = lm.forward_calls
    batches, seconds = timed(lambda: list(in_batches(lm, prompts, seeds, decoder, per_batch=per_batch,
                                                     max_new_tokens=256, stop=stop)))
    texts: list[list[str]] = [[] for _ in prompts]
    tokens = 0
    for idx, gens, _ in batches:
        for i, row in zip(idx, gens):
            texts[i] = [g.text for g in row]
            tokens += sum(len(g.token_ids) for g in row)
    return dict(seconds=seconds, forward_calls=lm.forward_calls - calls, tokens=tokens), texts


def run_theirs(hflm, requests):
    """lm-eval's ``generate_until`` on ``requests``: texts in request order, seconds, forward calls."""
    counter = ForwardCounter(hflm.model)
    try:
        texts, seconds = timed(lambda: hflm.generate_until(requests, disable_tqdm=True))
    finally:
        counter.close()
    return dict(seconds=seconds, forward_calls=counter.calls), texts


def warm_up(lm, hflm, requests) -> None:
    from entropy_bench.methods.registry import DECODERS

    lm.generate([requests[0].args[0]], DECODERS.build("greedy"), seeds=[0], max_new_tokens=4)
    first = requests[0]
    short = type(first)(request_type=first.request_type, doc=first.doc, idx=0,
                        arguments=(first.args[0], {**first.args[1], "max_gen_toks": 4}))
    hflm.generate_until([short], disable_tqdm=True)


def compare(args) -> dict:
    from lm_eval.models.huggingface import HFLM

    from entropy_bench.methods.registry import DECODERS
    from entropy_bench.models.hf import load_model, local_dir
    from entropy_bench.tasks.base import TASKS
    from entropy_bench.tracks.generation_data import row_seed

    torch.set_num_threads(args.threads)
    greedy_requests = lmeval_requests(args.data, args.limit)
    sampled_requests = lmeval_requests(args.data, args.sample_limit, args.samples)
    task = TASKS.build("gsm8k", num_fewshot=5)
    examples = task.load("test", limit=args.limit)
    prompts = [task.prompt(e) for e in examples]
    if prompts != [r.args[0] for r in greedy_requests]:
        raise SystemExit("our GSM8K prompts differ from lm-eval's requests")
    until = greedy_requests[0].args[1]["until"]
    lm, load_ours = timed(lambda: load_model(args.model))
    model_dir = local_dir(lm)
    hflm, load_theirs = timed(lambda: HFLM(pretrained=model_dir, dtype="float32", batch_size=args.batch_size,
                                           device="cpu"))
    warm_up(lm, hflm, greedy_requests)

    ours_g, ours_texts = run_ours(lm, prompts, [[row_seed(0, e["id"])] for e in examples], DECODERS.build("greedy"),
                                  per_batch=args.batch_size, stop=task.stop)
    theirs_g, theirs_texts = run_theirs(hflm, greedy_requests)
    same = sum(o == [t] for o, t in zip(ours_texts, theirs_texts))

    n_sampled = args.sample_limit
    seeds = [[row_seed(0, e["id"], k) for k in range(1, args.samples + 1)] for e in examples[:n_sampled]]
    ours_s, _ = run_ours(lm, prompts[:n_sampled], seeds, DECODERS.build("temperature", temperature=1.0),
                         per_batch=max(1, args.batch_size // args.samples), stop=task.stop)
    theirs_s, _ = run_theirs(hflm, sampled_requests)
    return dict(
        greedy=dict(questions=args.limit, ours=ours_g, theirs=theirs_g, identical_texts=same),
        sampled=dict(questions=n_sampled, samples=args.samples, ours=ours_s, theirs=theirs_s),
        load_seconds=dict(ours=load_ours, theirs=load_theirs), stop=list(task.stop), lm_eval_until=until,
        model=lm.name, model_dir=model_dir, batch_size=args.batch_size, threads=args.threads,
        versions=versions(), command=" ".join(shlex.quote(a) for a in sys.argv),
    )


def versions() -> dict[str, str]:
    import lm_eval
    import transformers

    return dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
                lm_eval=lm_eval.__version__, machine=f"{platform.machine()}, {os.cpu_count()} cores")


def report(result: dict) -> str:
    rows = []
    for mode in ("greedy", "sampled"):
        r = result[mode]
        ratio = r["ours"]["seconds"] / r["theirs"]["seconds"]
        label = f"{r['questions']} questions" + (f" × {r['samples']} samples, T=1" if mode == "sampled" else ", greedy")
        rows.append(f"| {label} | {r['ours']['seconds']:.1f} | {r['theirs']['seconds']:.1f} | **{ratio:.2f}** "
                    f"| {'PASS' if ratio <= TARGET else 'FAIL'} | {r['ours']['forward_calls']} | {r['theirs']['forward_calls']} |")
    g = result["greedy"]
    return "\n".join([
        "# Generation wall time: ours vs lm-eval's `hf` model", "",
        f"`{result['command']}` — GSM8K test, 5-shot (lm-eval's prompts, byte-identical), 256 new tokens, "
        f"stop strings {result['stop']}, batch {result['batch_size']}, fp32, {result['threads']} threads, "
        f"{result['model']} from `{result['model_dir']}`. Both sides warmed up, then timed in one process; "
        f"model loading apart (ours {result['load_seconds']['ours']:.1f} s, lm-eval {result['load_seconds']['theirs']:.1f} s).",
        "", f"Target: ours ≤ {TARGET} × lm-eval.", "",
        "| run | ours (s) | lm-eval hf (s) | ours / lm-eval | target | our forward calls | lm-eval forward calls |",
        "|:--|--:|--:|--:|:--|--:|--:|", *rows, "",
        f"Greedy texts identical to lm-eval's: {g['identical_texts']} of {g['questions']}.", "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".", "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("BENCH_DATA_DIR", ROOT.parent / "shared" / "data")))
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--sample-limit", type=int, default=8)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "generation")
    args = parser.parse_args(argv)
    if not 1 <= args.sample_limit <= args.limit:
        parser.error(f"--sample-limit must be between 1 and --limit ({args.limit}): the sampled questions are "
                     f"the first of the greedy ones, got {args.sample_limit}")
    result = compare(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "speed.md").write_text(report(result))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
