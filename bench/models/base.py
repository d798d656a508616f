"""The generation-backend protocol: what the generation track needs from a language model.

A backend decodes a batch of prompts with a suite decoder and returns one
:class:`~entropy_bench.methods.records.Generation` per prompt, with the per-token statistics
the measures read. ``large`` is the second model of a decoder that declares ``large_model``
(two-model decoding); the backend routes rows between the two with ``decoder.route``.
``fingerprint`` identifies the weights (it is part of every generation's cache key) and
``forward_calls`` counts model calls (a rerun from the cache makes none). ``clock``
(``entropy_bench.clock``) receives the seconds of the backend's sections (``bench profile
generation``); backends that time nothing ignore it.

``entropy_bench.models.hf.LanguageModel`` implements it with transformers and the suite's own
decode loop (``entropy_bench.generation``); a vLLM backend can slot in beside it.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from entropy_bench.clock import untimed
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.records import Generation


@runtime_checkable
class GenerationBackend(Protocol):
    name: str
    fingerprint: str
    forward_calls: int

    def generate(
        self, prompts: Sequence[str], decoder: Decoder, *, seeds: Sequence[int], max_new_tokens: int,
        stop: Sequence[str] = (), large: "GenerationBackend | None" = None, n_per_prompt: int = 1,
        clock: Callable[[str], Any] = untimed,
    ) -> list[Generation]: ...

    def describe(self) -> dict[str, str]:
        """Tags for tracking (``model.source`` among them)."""
        ...
