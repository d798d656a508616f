"""The model's hidden state at each sample's last token (a middle layer): EigenScore's embeddings."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from entropy_bench.methods.registry import require
from entropy_bench.scoring import last_hidden_states
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "sample_hidden_states",
    paper="Chen et al. (2024), INSIDE: LLMs' Internal States Retain the Power of Hallucination Detection",
    url="https://arxiv.org/abs/2402.03744",
)
@dataclasses.dataclass(frozen=True)
class SampleHiddenStates(StatCalculator):
    """Per example, a float32 tensor [n_samples, d]: the hidden state of ``layer`` at the last
    token of prompt + sample (the sample's tokens as generated, EOS included where it ended the
    sample), by the cell's model (the ``generator`` input). ``layer`` None: the middle one,
    ``num_hidden_layers // 2`` (transformers' ``hidden_states`` count the embeddings as 0), as
    INSIDE and LM-Polygraph take it."""

    layer: int | None = None
    requires: ClassVar[frozenset[str]] = frozenset({"samples", "examples", "task", "generator"})

    def __post_init__(self):
        require(self.layer is None or self.layer >= 0, self.name, "layer", f"must be >= 0 or None, got {self.layer}")

    def compute(self, inputs: Mapping[str, Any]) -> list:
        generator = inputs["generator"]
        lm = generator.lm
        layers = lm.model.config.num_hidden_layers
        layer = layers // 2 if self.layer is None else self.layer
        require(layer <= layers, self.name, "layer", f"model {lm.name!r} has hidden states 0 … {layers}, got {layer}")
        out = []
        for example, samples in zip(inputs["examples"], inputs["samples"]):
            prompt = lm.tokenizer(generator.prompt(example), add_special_tokens=False)["input_ids"]
            out.append(last_hidden_states(lm, prompt, [s.token_ids for s in samples], layer))
        return out
