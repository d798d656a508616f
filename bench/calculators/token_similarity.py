"""How much each token of an answer matters to its meaning: the answer with and without it, compared."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch

from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import require
from entropy_bench.models.encoders import DEFAULT_CROSS_ENCODER, DEFAULT_EMBEDDING_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator

MODEL_DEFAULTS = {"cross_encoder": DEFAULT_CROSS_ENCODER, "cosine": DEFAULT_EMBEDDING_MODEL}
KINDS = tuple(MODEL_DEFAULTS)
SOURCES = ("generations", "samples")
SINGLE_TOKEN = 0.5  # LM-Polygraph's similarity for an answer of one token (its weight is 1 whatever this is)


@STATISTICS.register(
    "token_similarity",
    paper="Duan et al. (2024), Shifting Attention to Relevance: Towards the Predictive Uncertainty "
          "Quantification of Free-Form Large Language Models (token relevance)",
    url="https://arxiv.org/abs/2307.01379",
)
@dataclasses.dataclass(frozen=True)
class TokenSimilarity(StatCalculator):
    """Per example, per answer of ``source`` (``generations``: its answer; ``samples``: each of
    its samples), a list of floats [T]: ``sim(x + " " + y, x + " " + y∖y_t)`` for each token t
    of the answer y, where x is the question (``task.question``) and y∖y_t the answer decoded
    without token t. 1 minus it is the token's relevance (SAR).

    - ``kind=cross_encoder``: the score of the cross-encoder ``model`` (default
      ``cross-encoder/stsb-roberta-large``, as in the SAR paper and LM-Polygraph);
    - ``kind=cosine``: the cosine of the sentence embeddings of ``model`` (runs offline with
      the packaged all-MiniLM-L6-v2).

    Tokens the tokenizer's decoding skips (special tokens: the EOS that ended an answer) get
    similarity 1: removing them changes nothing. An answer of one token gets
    :data:`SINGLE_TOKEN`, as in LM-Polygraph (``CrossEncoderSimilarityMatrixCalculator``).
    Texts and pairs are deduplicated over all answers, then scored in one call.

    Departure from LM-Polygraph: x is the question, not the whole prompt (its ``input_texts``
    hold the few-shot examples, which would fill a cross-encoder's 512 tokens and drown the answer).
    """

    kind: str = "cross_encoder"
    model: str = ""
    source: str = "generations"

    def __post_init__(self):
        require(self.kind in KINDS, self.name, "kind", f"must be one of {', '.join(KINDS)}, got {self.kind!r}")
        require(self.source in SOURCES, self.name, "source", f"must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if not self.model:
            object.__setattr__(self, "model", MODEL_DEFAULTS[self.kind])

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({self.source, "examples", "task", "generator", "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        task, tokenizer = inputs["task"], inputs["generator"].lm.tokenizer
        rows = inputs[self.source] if self.source == "samples" else [[g] for g in inputs[self.source]]
        questions = [task.question(e) for e in inputs["examples"]]
        pairs = [[_ablations(q, g, tokenizer) for g in row] for q, row in zip(questions, rows)]
        scores = self._score(inputs["encoders"], {p for row in pairs for answer in row for p in answer if p is not None})
        out = [[[SINGLE_TOKEN] if len(answer) == 1 else [1.0 if p is None else scores[p] for p in answer]
                for answer in row] for row in pairs]
        return out if self.source == "samples" else [row[0] for row in out]

    def _score(self, encoders: Any, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
        """Each (full, ablated) pair's similarity, from one call of the encoder."""
        ordered = sorted(pairs)
        if not ordered:
            return {}
        if self.kind == "cross_encoder":
            values = encoders.cross_encode(self.model, ordered)
        else:
            texts = sorted({t for pair in ordered for t in pair})
            unit = torch.nn.functional.normalize(encoders.embed(self.model, texts).double(), dim=-1)
            row = {t: i for i, t in enumerate(texts)}
            first, second = (torch.tensor([row[pair[k]] for pair in ordered]) for k in (0, 1))
            values = (unit[first] * unit[second]).sum(dim=-1)
        return dict(zip(ordered, values.tolist()))


def _ablations(question: str, answer: Generation, tokenizer) -> list[tuple[str, str] | None]:
    """Per token of ``answer``: (question + answer, question + answer without the token), or
    None where the token is one the decoding skips, or is the answer's only token."""
    ids = list(answer.token_ids)
    if len(ids) == 1:
        return [None]
    special = set(tokenizer.all_special_ids)
    full = question + " " + tokenizer.decode(ids, skip_special_tokens=True)
    return [None if token in special else
            (full, question + " " + tokenizer.decode(ids[:t] + ids[t + 1:], skip_special_tokens=True))
            for t, token in enumerate(ids)]
