#!/usr/bin/env python
"""Generations before and after a change to the generation loop, compared record by record.

Run the same sweeps into two fresh generation caches, one on the code before the change and
one after (a generation's cache key holds its model, prompt, decoder, row seed, limits and
batch size, never the batch it ran in, so the two caches hold the same keys)::

    BENCH_DATA_DIR=../shared/data bench run --cache-dir BEFORE --tracking-uri sqlite:///before.db
    BENCH_DATA_DIR=../shared/data bench run bench/sweeps/generation-identity.yaml --cache-dir BEFORE ...
    # the same two commands on the new code with --cache-dir AFTER
    python scripts/generation_identity.py BEFORE AFTER --out results/generation/identity.md

Text, token ids and finish reason must be equal; the float statistics (log-probs, entropies,
top-k) may differ by round-off, as with any change of batch shape, and their largest
difference is reported. Exit status 1 when a record differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

EXACT = ("text", "token_ids", "finish_reason")
FLOATS = ("logprob", "entropy", "warped_logprob", "warped_entropy", "top_logprobs")


def records(root: Path) -> dict[str, dict]:
    """Every generation record of a cache, by key."""
    return {p.stem: torch.load(p, weights_only=True) for p in sorted((root / "generation").glob("*/*.pt"))}


def largest_difference(a, b) -> float:
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    return float((x - y).abs().max()) if x.numel() else 0.0


def compare(before: dict[str, dict], after: dict[str, dict]) -> dict:
    """Keys on one side only, keys whose exact fields differ, and each float field's largest difference."""
    shared = sorted(before.keys() & after.keys())
    differ = [k for k in shared if any(before[k][f] != after[k][f] for f in EXACT)]
    same = [k for k in shared if k not in differ]
    floats = {f: max((largest_difference(before[k][f], after[k][f]) for k in same), default=0.0) for f in FLOATS}
    return dict(only_before=sorted(before.keys() - after.keys()), only_after=sorted(after.keys() - before.keys()),
                shared=len(shared), differ=differ, floats=floats,
                stopped={r: sum(after[k]["finish_reason"] == r for k in shared) for r in ("stop", "eos", "length")})


def report(result: dict, before: Path, after: Path) -> str:
    lines = [
        "# Generations before and after the change, record by record", "",
        f"`python scripts/generation_identity.py {before} {after}` (caches of `bench run` and",
        "`bench run bench/sweeps/generation-identity.yaml`, see the script's docstring).", "",
        f"- records in both caches: **{result['shared']}**; only before: {len(result['only_before'])}; "
        f"only after: {len(result['only_after'])}",
        f"- text, token ids or finish reason different: **{len(result['differ'])}**",
        f"- finish reasons (after): {result['stopped']}",
        "- largest float difference of the identical records: "
        + ", ".join(f"{f} {v:.2e}" for f, v in result["floats"].items()),
    ]
    if result["differ"]:
        lines += ["", "Different records: " + ", ".join(result["differ"][:20])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", type=Path, help="Also write the report here (markdown).")
    args = parser.parse_args(argv)
    result = compare(records(args.before), records(args.after))
    text = report(result, args.before, args.after)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return int(bool(result["differ"] or result["only_before"] or result["only_after"]))


if __name__ == "__main__":
    sys.exit(main())
