#!/usr/bin/env python
"""``bench lm-eval --model entropy_bench`` against our own GSM8K adapter: the same answers.

    BENCH_DATA_DIR=../shared/data .venv/bin/python scripts/lmeval_adapter_parity.py --limit 20

For each decoder (greedy, and a sampler: ``--sampler``, default ``min_p(min_p=0.1)``):

- **lm-eval**: ``bench lm-eval --model entropy_bench --model_args pretrained=<model>,decoder=<id>,
  seed=<seed>,row_prefix=gsm8k/test/ --tasks gsm8k_local --include_path <dir> --limit N
  --log_samples`` in a subprocess, where ``gsm8k_local`` is lm-eval's own ``gsm8k.yaml`` with the
  data source changed to ``$BENCH_DATA_DIR/gsm8k`` (written to a temporary include directory);
- **ours**: a generation-track sweep (the ``bench run`` path) of the ``gsm8k`` task on the same
  questions, decoder and seed.

``row_prefix=gsm8k/test/`` names each lm-eval document as our GSM8K adapter names its
example, so a sampler draws with the same row seed on both sides. Compared per question: the
generated text (cut at the stop strings) and the extracted answer (lm-eval's
``flexible-extract`` filter against our ``extracted``). Writes ``adapter.json`` and
``adapter.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TASK = "gsm8k_local"


def write_task(include: Path, data: Path) -> None:
    """lm-eval's gsm8k.yaml, renamed ``gsm8k_local``, reading ``data/gsm8k/{train,test}.jsonl``."""
    from entropy_bench.tasks.lm_eval_reference import gsm8k_yaml

    config = gsm8k_yaml()
    config.pop("tag", None)
    files = {s: str((data / "gsm8k" / f"{s}.jsonl").resolve()) for s in ("train", "test")}
    config.update(task=TASK, dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files})
    (include / f"{TASK}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def lm_eval_answers(model: str, decoder: str, seed: int, limit: int, batch_size: int, include: Path,
                    out: Path) -> list[dict]:
    """``bench lm-eval`` on the first ``limit`` questions: per document its text and flexible answer."""
    bench = Path(sys.executable).parent / "bench"
    args = f"pretrained={model},decoder={decoder},seed={seed},row_prefix=gsm8k/test/,batch_size={batch_size}"
    subprocess.run([str(bench), "lm-eval", "--model", "entropy_bench", "--model_args", args, "--tasks", TASK,
                    "--include_path", str(include), "--limit", str(limit), "--log_samples", "--output_path", str(out)],
                   check=True)
    (samples,) = out.rglob(f"samples_{TASK}_*.jsonl")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    docs = sorted((r for r in rows if r["filter"] == "flexible-extract"), key=lambda r: r["doc_id"])
    return [{"text": r["resps"][0][0], "answer": r["filtered_resps"][0]} for r in docs]


def our_answers(model: str, decoder: list[dict], seed: int, limit: int, batch_size: int, work: Path) -> list[dict]:
    """Our generation track (one sweep per decoder) on the same questions: per example its text
    and extracted answer."""
    from entropy_bench import sweep as sweeps
    from entropy_bench.runner import run_sweep
    from entropy_bench.tables import load_examples

    name = "adapter-parity"
    spec = {"name": name, "models": [model], "decoders": [decoder], "seeds": [seed], "batch_size": batch_size,
            "tasks": [{"name": "gsm8k", "num_fewshot": 5, "limit": limit, "max_new_tokens": 256}]}
    uri = f"sqlite:///{work / 'mlflow.db'}"
    result = run_sweep(sweeps.parse(spec), tracking_uri=uri, cache_dir=work / "cache", progress=False)
    rows = load_examples(uri, name, result.parent_run_id).to_dict("records")
    rows.sort(key=lambda r: int(r["id"].rsplit("/", 1)[1]))
    return [{"text": r["text"], "answer": r["extracted"]} for r in rows]


def sweep_decoder(decoder_id: str) -> list[dict]:
    """A decoder id as a sweep's decoder entry (a chain: the list of its parts)."""
    from entropy_bench.methods.decoders.base import parse_decoder

    decoder = parse_decoder(decoder_id)
    return [{"name": d.name, **d.params} for d in getattr(decoder, "decoders", (decoder,))]


def compare(ours: list[dict], theirs: list[dict]) -> dict:
    from entropy_bench.tasks.base import truncate_at_stop
    from entropy_bench.tasks.gsm8k import STOP

    rows = [{"doc_id": i, "text": truncate_at_stop(a["text"], STOP) == truncate_at_stop(b["text"], STOP),
             "answer": a["answer"] == b["answer"], "ours": a["answer"], "lm_eval": b["answer"]}
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))]
    return {"n": len(rows), "same_text": sum(r["text"] for r in rows), "same_answer": sum(r["answer"] for r in rows),
            "differ": [r for r in rows if not (r["text"] and r["answer"])]}


def markdown(reports: dict[str, dict], command: str) -> str:
    lines = ["# `bench lm-eval --model entropy_bench` vs our GSM8K adapter", "", f"`{command}`", "",
             "| decoder | questions | same text | same answer |", "|---|--:|--:|--:|"]
    lines += [f"| `{d}` | {r['n']} | {r['same_text']} | {r['same_answer']} |" for d, r in reports.items()]
    for d, r in reports.items():
        lines += [f"- `{d}` doc {x['doc_id']}: ours `{x['ours']}`, lm-eval `{x['lm_eval']}`" for x in r["differ"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--sampler", default="min_p(min_p=0.1)", help="the sampling decoder's id")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "peers" / "lm_eval")
    args = parser.parse_args(argv)
    data = os.environ.get("BENCH_DATA_DIR")
    if not data:
        parser.error("BENCH_DATA_DIR must point at the local data (../shared/data)")
    if args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit}")
    from entropy_bench.methods.decoders.base import parse_decoder

    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        work, include = Path(tmp), Path(tmp) / "tasks"
        include.mkdir()
        write_task(include, Path(data))
        for k, decoder in enumerate(("greedy", parse_decoder(args.sampler).id)):
            theirs = lm_eval_answers(args.model, decoder, args.seed, args.limit, args.batch_size, include,
                                     work / f"out{k}")
            ours = our_answers(args.model, sweep_decoder(decoder), args.seed, args.limit, args.batch_size, work)
            reports[decoder] = compare(ours, theirs)
    command = "BENCH_DATA_DIR=../shared/data .venv/bin/python scripts/lmeval_adapter_parity.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adapter.json").write_text(json.dumps(reports, indent=1) + "\n")
    (args.out / "adapter.md").write_text(markdown(reports, command))
    print(markdown(reports, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
