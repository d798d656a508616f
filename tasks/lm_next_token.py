"""A language model's next-token distribution after a fixed prompt: a real, heavy-tailed
categorical distribution over the whole vocabulary, with exact truth.

The model (any spec :func:`entropy_bench.models.hf.load_model` accepts) is loaded on first use
of :attr:`LMNextToken.probs`; the logits of one forward pass are cached per (model, prompt), so
tasks that differ only in ``temperature`` share it.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy import special

from entropy_bench.methods.registry import require
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.synthetic import Categorical, check_real, read_only

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_PROMPT = "Once upon a time, in a small village by the sea, there lived a"


@functools.lru_cache(maxsize=8)
def next_token_logits(model: str, prompt: str) -> np.ndarray:
    """Logits [V] (float64, read-only) of the token after ``prompt``, tokenized as the generation
    track tokenizes prompts (no special tokens, no chat template)."""
    from entropy_bench.models.hf import load_model

    lm = load_model(model)
    ids = lm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    logits = lm(input_ids=ids.to(lm.device)).logits[0, -1]
    return read_only(logits.double().cpu().numpy())


@TASKS.register("lm_next_token", paper="Next-token distribution of a causal LM after a fixed prompt")
@dataclasses.dataclass(frozen=True)
class LMNextToken(Categorical):
    """p = softmax(logits / T) over the vocabulary (symbol = token id, K = V, the logits' length),
    logits of ``model`` for the token after ``prompt``, T = ``temperature``;
    truth("entropy") = −Σ_v p_v log p_v, with log p = z/T − logsumexp(z/T) in float64.
    """

    version = "1"

    model: str = DEFAULT_MODEL
    prompt: str = DEFAULT_PROMPT
    temperature: float = 1.0

    def __post_init__(self):
        for field, what in (("model", "a model id or directory"), ("prompt", "a non-empty string")):
            value = getattr(self, field)
            require(isinstance(value, str) and value != "", self.name, field, f"must be {what}, got {value!r}")
        check_real(self, "temperature", lambda t: t > 0, "> 0")

    @functools.cached_property
    def log_probs(self) -> np.ndarray:
        scaled = next_token_logits(self.model, self.prompt) / self.temperature
        return read_only(scaled - special.logsumexp(scaled))

    @functools.cached_property
    def probs(self) -> np.ndarray:
        return read_only(np.exp(self.log_probs))

    def truth(self, quantity: str) -> float | None:
        if quantity != "entropy":
            return None
        support = self.probs > 0  # tokens with logit −inf have p = 0 and contribute 0
        return float(-np.dot(self.probs[support], self.log_probs[support]))
