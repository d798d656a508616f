"""Small sweeps over the tiny model, shared by the runner, tracking, CLI and resume tests."""

from __future__ import annotations

from pathlib import Path

import yaml


def tiny_sweep(model_dir: Path, *, name: str = "tiny", limit: int = 6, seeds=(0,), **overrides) -> dict:
    spec = {
        "name": name,
        "models": [str(model_dir)],
        "tasks": [{"name": "arithmetic", "limit": limit, "max_new_tokens": 4, "num_fewshot": 1}],
        "decoders": ["greedy", {"name": "temperature", "temperature": 0.7}],
        "uncertainty": ["max_sequence_prob", "mean_token_entropy"],
        "seeds": list(seeds),
        "batch_size": 4,
    }
    spec.update(overrides)
    return spec


def write(spec: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


class CountingLoader:
    """Loads models and counts calls of the underlying ``nn.Module.forward``."""

    def __init__(self):
        self.calls = 0

    def __call__(self, name):
        from entropy_bench.models.hf import load_model

        lm = load_model(name)
        forward = lm.model.forward

        def counted(*args, **kwargs):
            self.calls += 1
            return forward(*args, **kwargs)

        lm.model.forward = counted
        return lm
