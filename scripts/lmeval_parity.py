#!/usr/bin/env python
"""Per-example parity of our GSM8K and MATH-500 adapters with lm-eval's own tasks.

    BENCH_DATA_DIR=../shared/data .venv/bin/python scripts/lmeval_parity.py --task gsm8k --limit 100
    BENCH_DATA_DIR=../shared/data .venv/bin/python scripts/lmeval_parity.py --task math500 --limit 100

**lm-eval**: its own task (``gsm8k`` 5-shot, or ``minerva_math500`` 4-shot; the installed YAML,
only the data source changed to ``$BENCH_DATA_DIR``: ``tasks/lm_eval_reference.py``) and its
``hf`` model on the same weights (the local HF directory our model loads from), fp32, batch 8,
through ``lm_eval.simple_evaluate(..., log_samples=True)``: per document its prompt, generation
settings, raw response, filtered answers and metrics.

**Ours**: the task adapter (``TASKS.build(task)``) on the same documents; the generation track's
path (``in_batches`` → the suite's loop), greedy, lm-eval's ``max_gen_toks`` (256) and stop
strings; scored by the adapter's ``score`` and ``extract``.

Compared, per document: the prompts (byte for byte), the generation settings, the generated
texts, the extracted answers and the verdicts (GSM8K: strict and flexible exact match against
lm-eval's filters; MATH-500: our ``answer_equivalent`` against lm-eval's ``exact_match`` and our
``math_verify`` against lm-eval's), every disagreement listed with both sides. Writes
``<task>.json`` and ``<task>.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
NUM_FEWSHOT = {"gsm8k": 5, "math500": 4}
# our metric -> (lm-eval filter, lm-eval metric); our extraction -> lm-eval filter
VERDICTS = {"gsm8k": {"exact_match_strict": ("strict-match", "exact_match"),
                      "exact_match_flexible": ("flexible-extract", "exact_match")},
            "math500": {"answer_equivalent": ("none", "exact_match"), "math_verify": ("none", "math_verify")}}
ANSWER_FILTER = {"gsm8k": "flexible-extract", "math500": None}


def lm_eval_task(task: str, data: Path):
    from entropy_bench.tasks.lm_eval_reference import gsm8k_task, math500_task

    built, config = gsm8k_task(data) if task == "gsm8k" else math500_task(data)
    return built, config


def lm_eval_samples(task: str, data: Path, model_dir: str, limit: int, batch_size: int) -> list[dict]:
    """lm-eval's logged samples (one per document and filter) for the first ``limit`` documents."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    built, _ = lm_eval_task(task, data)
    lm = HFLM(pretrained=model_dir, dtype="float32", device="cpu", batch_size=batch_size)
    results = lm_eval.simple_evaluate(model=lm, tasks=[built], limit=limit, log_samples=True, bootstrap_iters=0)
    return next(iter(results["samples"].values()))


def by_document(samples: list[dict]) -> dict[int, dict]:
    """lm-eval's samples regrouped per document: prompt, generation kwargs, raw text, and per
    filter its answer and metrics."""
    docs: dict[int, dict] = {}
    for s in samples:
        prompt, gen_kwargs = s["arguments"][0] if isinstance(s["arguments"], list) else s["arguments"]["gen_args_0"].values()
        doc = docs.setdefault(s["doc_id"], {"prompt": prompt, "gen_kwargs": gen_kwargs, "text": s["resps"][0][0],
                                             "filters": {}})
        answer = s["filtered_resps"][0]
        doc["filters"][s["filter"]] = {"answer": answer, **{m: float(s[m]) for m in s["metrics"]}}
    return docs


def our_rows(task: str, model_name: str, limit: int, batch_size: int, max_new_tokens: int) -> list[dict]:
    """Our adapter's prompt, greedy text, extracted answer and scores for the first ``limit`` examples."""
    from entropy_bench.methods.decoders.base import build_decoder
    from entropy_bench.models.hf import load_model
    from entropy_bench.tasks.base import TASKS
    from entropy_bench.tracks.generation_data import in_batches, row_seed

    adapter = TASKS.build(task, num_fewshot=NUM_FEWSHOT[task])
    examples = adapter.load("test", limit)
    prompts = [adapter.prompt(e) for e in examples]
    lm = load_model(model_name)
    texts: list[str] = [""] * len(prompts)
    seeds = [[row_seed(0, e["id"])] for e in examples]
    for idx, gens, _ in in_batches(lm, prompts, seeds, build_decoder("greedy"), per_batch=batch_size,
                                   max_new_tokens=max_new_tokens, stop=adapter.stop):
        for i, (g,) in zip(idx, gens):
            texts[i] = g.text
    return [{"prompt": p, "text": t, "answer": adapter.extract(t), **adapter.score(e, t)}
            for e, p, t in zip(examples, prompts, texts)]


def compare(task: str, ours: list[dict], theirs: dict[int, dict], stop: tuple[str, ...], max_new_tokens: int) -> dict:
    """Prompt, text, answer and verdict agreement, and every disagreement with both sides."""
    from entropy_bench.tasks.base import truncate_at_stop

    rows, disagreements = [], []
    for doc_id, mine in enumerate(ours):
        other = theirs[doc_id]
        row = {"doc_id": doc_id, "prompt": mine["prompt"] == other["prompt"],
               "text": truncate_at_stop(mine["text"], stop) == truncate_at_stop(other["text"], stop)}
        answer_filter = ANSWER_FILTER[task]
        if answer_filter is not None:
            row["answer"] = mine["answer"] == other["filters"][answer_filter]["answer"]
        for metric, (filt, their_metric) in VERDICTS[task].items():
            row[metric] = mine[metric] == other["filters"][filt][their_metric]
        rows.append(row)
        if not all(v for k, v in row.items() if k != "doc_id"):
            disagreements.append({"doc_id": doc_id, "differs": [k for k, v in row.items() if v is False],
                                  "ours": {k: v for k, v in mine.items() if k != "prompt"},
                                  "lm_eval": {"text": other["text"], "filters": other["filters"]}})
    keys = [k for k in rows[0] if k != "doc_id"]
    settings = {"until": list(theirs[0]["gen_kwargs"].get("until", [])),
                "max_gen_toks": theirs[0]["gen_kwargs"].get("max_gen_toks", 256),
                "ours_stop": list(stop), "ours_max_new_tokens": max_new_tokens}
    means = {m: (sum(r[m] for r in ours) / len(ours), sum(theirs[i]["filters"][f][t] for i in range(len(ours))) / len(ours))
             for m, (f, t) in VERDICTS[task].items()}
    return {"n": len(rows), "agreement": {k: sum(r[k] for r in rows) / len(rows) for k in keys},
            "metrics": {m: {"ours": a, "lm_eval": b} for m, (a, b) in means.items()},
            "settings": settings, "disagreements": disagreements}


def markdown(task: str, report: dict, command: str) -> str:
    lines = [f"# {task}: our adapter vs lm-eval's own task, {report['n']} test questions, greedy", "",
             f"`{command}`", "", f"Generation settings: lm-eval until={report['settings']['until']}, "
             f"max_gen_toks={report['settings']['max_gen_toks']}; ours stop={report['settings']['ours_stop']}, "
             f"max_new_tokens={report['settings']['ours_max_new_tokens']}.", "",
             "| compared | agreement |", "|---|--:|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in report["agreement"].items()]
    lines += ["", "| metric | ours | lm-eval |", "|---|--:|--:|"]
    lines += [f"| {m} | {v['ours']:.3f} | {v['lm_eval']:.3f} |" for m, v in report["metrics"].items()]
    lines += ["", f"## Disagreements ({len(report['disagreements'])})", ""]
    for d in report["disagreements"]:
        lines += [f"- doc {d['doc_id']}: differs in {', '.join(d['differs'])}; ours answer "
                  f"`{d['ours']['answer']}`; lm-eval " + "; ".join(
                      f"{f}: `{v['answer']}` {({k: x for k, x in v.items() if k != 'answer'})}" for f, v in d["lm_eval"]["filters"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(NUM_FEWSHOT), required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "peers" / "lm_eval")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit}")
    data = os.environ.get("BENCH_DATA_DIR")
    if not data:
        parser.error("BENCH_DATA_DIR must point at the local data (../shared/data)")
    torch.set_num_threads(args.threads)
    from entropy_bench.models.hf import load_model, local_dir
    from entropy_bench.tasks.base import TASKS

    model_dir = local_dir(load_model(args.model))
    built, config = lm_eval_task(args.task, Path(data))
    stop, max_new = TASKS.build(args.task).stop, config["generation_kwargs"].get("max_gen_toks", 256)
    theirs = by_document(lm_eval_samples(args.task, Path(data), model_dir, args.limit, args.batch_size))
    ours = our_rows(args.task, args.model, args.limit, args.batch_size, max_new)
    report = compare(args.task, ours, theirs, stop, max_new)
    command = "BENCH_DATA_DIR=../shared/data .venv/bin/python scripts/lmeval_parity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.task}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"{args.task}.md").write_text(markdown(args.task, report, command))
    print(markdown(args.task, report, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
