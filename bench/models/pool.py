"""A pool of lazily loaded models, one instance per name for a whole sweep."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from entropy_bench.models.hf import LanguageModel, load_model


@dataclass
class Models:
    """Loads a model the first time a cell needs it, so a rerun of a finished sweep loads none."""

    loader: Callable[[str], LanguageModel] = load_model
    loaded: dict[str, LanguageModel] = field(default_factory=dict)

    def __call__(self, name: str) -> LanguageModel:
        if name not in self.loaded:
            self.loaded[name] = self.loader(name)
        return self.loaded[name]
