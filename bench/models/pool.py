"""A pool of lazily loaded models, one instance per name for a whole sweep.

A model name ``vllm:<model>`` is ``<model>`` on the vLLM backend
(:class:`~entropy_bench.models.vllm_backend.VLLMBackend`, ``bench run --backend vllm``); any
other name is loaded by the transformers backend (:func:`~entropy_bench.models.hf.load_model`).
The prefix is part of the cell's ``model`` param, so the two backends' cells and generations
never share a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from entropy_bench.models.base import GenerationBackend
from entropy_bench.models.hf import load_model

VLLM_PREFIX = "vllm:"


def weights_of(name: str) -> str:
    """The model a pool name loads, without its backend prefix."""
    return name.removeprefix(VLLM_PREFIX)


def load_backend(name: str) -> GenerationBackend:
    """``name`` on its backend (module docstring)."""
    if name.startswith(VLLM_PREFIX):
        from entropy_bench.models.vllm_backend import VLLMBackend

        return VLLMBackend(weights_of(name))
    return load_model(name)


@dataclass
class Models:
    """Loads a model the first time a cell needs it, so a rerun of a finished sweep loads none."""

    loader: Callable[[str], GenerationBackend] = load_backend
    loaded: dict[str, GenerationBackend] = field(default_factory=dict)

    def __call__(self, name: str) -> GenerationBackend:
        if name not in self.loaded:
            self.loaded[name] = self.loader(name)
        return self.loaded[name]
