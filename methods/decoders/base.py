"""The decoder interface, composition, and the transformers ``LogitsProcessor`` adapter.

A decoder maps one step's logits to warped logits, vectorised over the batch:

    logits'[B, V], state' = decoder(logits[B, V], state)

Tokens outside the kept set get ``-inf``; at least one token is always kept; the input is
never mutated. The generation loop then samples from ``softmax(logits')`` (or takes its argmax
when ``decoder.deterministic``) and calls ``decoder.observe(state, logits, tokens)`` so that
feedback decoders (Mirostat's μ) can update their per-row state from the chosen tokens.

**Two-model decoders** declare ``large_model`` (a model spec; ``None`` for every other
decoder) and implement :meth:`Decoder.route`: before each step the generation loop calls
``use_large[B], state = decoder.route(small_logits, state)`` and, for the rows marked, replaces
the small model's logits with the large model's. A :class:`Chain` forwards both to the one part
that declares a large model (a chain with two such parts is refused when it is built), so
``temperature+ead`` routes exactly like ``ead``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, ClassVar, NamedTuple, Sequence

import torch

from entropy_bench.methods.decoders.bad_logits import check_logits
from entropy_bench.methods.registry import DECODERS, InvalidParameterError, Method, split_method_id, split_outside_brackets


class Decoder(Method):
    """Base class: subclasses implement :meth:`warp` (stateless) or :meth:`step` (with state).

    ``decoder(logits, state)`` first applies the bad-logits policy (``bad_logits.py``: NaN, +inf
    or an all −inf row is a :class:`BadLogitsError` naming the rows), then :meth:`step`. A step
    maps valid logits to valid logits (it keeps a finite token in every row and makes no NaN or
    +inf), so the check runs once per generation step: the generation loop checks the model's
    logits and calls :meth:`step`, and a :class:`Chain` calls its parts' :meth:`step`.
    """

    deterministic: ClassVar[bool] = False
    large_model: ClassVar[str | None] = None  # a two-model decoder's second model (module docstring)

    def init_state(self, batch_size: int, device: torch.device) -> Any:
        """Per-row state at the first step; ``None`` for stateless decoders."""
        return None

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement warp or step")

    def __call__(self, logits: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        check_logits(logits, f"decoder {self.id}")
        return self.step(logits, state)

    def step(self, logits: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Warp checked logits; stateful decoders override this (``warp`` for the others)."""
        return self.warp(logits), state

    def start(self, state: Any, context: Sequence[Sequence[int]], tokenizer: Any = None,
              seeds: Sequence[int] | None = None) -> Any:
        """Give ``state`` each row's prompt token ids (no padding) before the first step, and the
        tokenizer and the rows' seeds when there are: decoders that read the row's own context
        (DRY) keep it, decoders with randomness of their own (XTC) draw it from the seeds."""
        return state

    def observe(self, state: Any, logits: torch.Tensor, tokens: torch.Tensor) -> Any:
        """Update ``state`` after ``tokens[B]`` were drawn from this step's warped distribution;
        ``logits[B, V]`` are the logits :meth:`__call__` was given at this step."""
        return state

    def route(self, logits: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Two-model decoders: which rows of this step use the large model, from the small
        model's ``logits[B, V]``. Single-model decoders route no row."""
        return torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device), state


def mask_outside(logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``logits`` where ``keep`` else ``-inf``; each row's argmax (first on ties) is kept whatever
    ``keep`` says. Rules whose kept set provably holds the argmax (or, for locally typical sampling,
    the token they rank first) build their output directly instead."""
    keep = keep.scatter(-1, logits.argmax(dim=-1, keepdim=True), True)
    return torch.where(keep, logits, float("-inf"))


CANDIDATES = (256,)  # candidate counts tried before the rule runs on the whole vocabulary


def by_candidates(
    logits: torch.Tensor,
    warp_top: Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    needed: torch.Tensor,
    sizes: Sequence[int] = CANDIDATES,
) -> torch.Tensor:
    """Warp each row from its k best-ranked tokens, for the smallest k in ``sizes`` (then V) that settles it.

    ``warp_top(rows, k)`` applies a rule that ranks the vocabulary (nucleus, typicality) to the
    rows of ``logits`` with indices ``rows``, but only needs the first k tokens of the ranking
    when the cut-off falls among them. It returns those rows warped, a mask ``resolved`` of the
    rows for which that holds (with k = V, all of them), and for the others a lower bound on the
    tokens they need. ``needed[B]`` is a first such bound: a row skips every k below it. A full
    ranking is a sort of V logits (30× a ``topk`` of 256 at V = 49152), and next-token
    distributions rarely need more than a few hundred tokens to reach the cut-off.
    """
    vocab = logits.shape[-1]
    warped = torch.empty_like(logits)
    pending = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device)
    needed = needed.clone()
    for k in [k for k in sizes if k < vocab] + [vocab]:
        rows = (pending & (needed <= k) if k < vocab else pending).nonzero().squeeze(-1)
        if rows.numel() == 0:
            continue
        out, resolved, at_least = warp_top(rows, k)
        warped[rows[resolved]] = out[resolved]
        pending[rows[resolved]] = False
        needed[rows] = torch.maximum(needed[rows], at_least.to(needed.dtype))
    return warped


def take_rows(tensor: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``tensor[rows]``, without the copy when ``rows`` are all rows in order."""
    return tensor if rows.numel() == tensor.shape[0] else tensor[rows]


class ChainState(NamedTuple):
    """A :class:`Chain`'s state: one state per decoder, and the logits each decoder was given at the
    last step (what its :meth:`Decoder.observe` needs; empty before the first step)."""

    states: list[Any]
    inputs: list[torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Chain(Decoder):
    """Decoders applied left to right (``temperature`` then ``top_p``, as transformers does).

    Its id joins the parts' ids with ``+``: ``temperature(temperature=0.7)+top_p(top_p=0.9)``.
    """

    decoders: tuple[Decoder, ...] = ()

    def __post_init__(self):
        routed = [d.id for d in self.decoders if d.large_model is not None]
        if len(routed) > 1:  # one routing rule per step: a second would be silently ignored
            raise InvalidParameterError(self.id, "decoders", f"a chain holds one two-model decoder, got {routed}")

    @property
    def large_model(self) -> str | None:  # type: ignore[override]
        return next((d.large_model for d in self.decoders if d.large_model is not None), None)

    @property
    def id(self) -> str:
        return "+".join(d.id for d in self.decoders)

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        return any(d.deterministic for d in self.decoders)

    def init_state(self, batch_size: int, device: torch.device) -> ChainState:
        return ChainState([d.init_state(batch_size, device) for d in self.decoders], [])

    def step(self, logits: torch.Tensor, state: ChainState | None) -> tuple[torch.Tensor, ChainState]:
        states = state.states if state is not None else [None] * len(self.decoders)
        new_states, inputs = [], []
        for decoder, s in zip(self.decoders, states, strict=True):
            inputs.append(logits)
            logits, s = decoder.step(logits, s)  # valid logits in, valid logits out: checked once
            new_states.append(s)
        return logits, ChainState(new_states, inputs)

    def route(self, logits: torch.Tensor, state: ChainState | None) -> tuple[torch.Tensor, ChainState]:
        """The routing of the part that declares the large model, on its own state slot."""
        state = self.init_state(logits.shape[0], logits.device) if state is None else state
        index = next((i for i, d in enumerate(self.decoders) if d.large_model is not None), None)
        if index is None:
            return super().route(logits, state)
        use_large, part_state = self.decoders[index].route(logits, state.states[index])
        states = [part_state if i == index else s for i, s in enumerate(state.states)]
        return use_large, ChainState(states, state.inputs)

    def start(self, state: ChainState, context: Sequence[Sequence[int]], tokenizer: Any = None,
              seeds: Sequence[int] | None = None) -> ChainState:
        parts = zip(self.decoders, state.states, strict=True)
        return ChainState([d.start(s, context, tokenizer, seeds) for d, s in parts], state.inputs)

    def observe(self, state: ChainState, logits: torch.Tensor, tokens: torch.Tensor) -> ChainState:
        """Each decoder observes the logits it was given at this step (kept by :meth:`__call__`):
        in ``temperature+mirostat`` Mirostat's surprise is that of the tempered distribution."""
        parts = zip(self.decoders, state.states, state.inputs, strict=True)
        return ChainState([d.observe(s, x, tokens) for d, s, x in parts], [])


def build_decoder(spec: str | dict | Sequence) -> Decoder:
    """A decoder from a sweep spec: ``"greedy"``, ``{"name": "top_p", "top_p": 0.9}``, or a list
    of those (a :class:`Chain`)."""
    if isinstance(spec, str):
        return DECODERS.build(spec)
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name")
        return DECODERS.build(name, **params)
    parts = tuple(build_decoder(s) for s in spec)
    return parts[0] if len(parts) == 1 else Chain(parts)


class LogitsProcessorAdapter:
    """Wraps a :class:`Decoder` as a transformers ``LogitsProcessor`` for ``model.generate``.

    ``generate`` does not report the sampled token, so the adapter recovers it from the last
    column of ``input_ids`` at the next call and feeds it to ``decoder.observe``. At the first
    call ``input_ids`` is the prompt, handed to ``decoder.start`` (with ``tokenizer``, if given;
    left padding is kept there, as ``generate`` does not say which columns are padding).
    """

    def __init__(self, decoder: Decoder, tokenizer: Any = None):
        self.decoder = decoder
        self.tokenizer = tokenizer
        self._state: Any = None
        self._last: tuple[int, torch.Tensor] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._last is None or input_ids.shape[1] <= self._last[0]:
            state = self.decoder.init_state(scores.shape[0], scores.device)
            self._state = self.decoder.start(state, input_ids.tolist(), self.tokenizer)
        else:
            self._state = self.decoder.observe(self._state, self._last[1], input_ids[:, -1])
        warped, self._state = self.decoder(scores, self._state)
        self._last = (input_ids.shape[1], scores)
        return warped


def parse_decoder(text: str) -> Decoder:
    """A decoder from its id (the inverse of ``Decoder.id``): ``greedy``, ``min_p(min_p=0.1)``,
    or a chain ``temperature(temperature=0.7)+top_p(top_p=0.9)``; each value is read as a YAML
    scalar or list (``0.1`` a float, ``[1,2]`` a list), as a sweep file would give it."""
    import yaml

    parts = split_outside_brackets(text, "+")
    if parts is None or not all(p.strip() for p in parts):
        raise ValueError(f"not a decoder id: {text!r} (expected e.g. min_p(min_p=0.1) or greedy+top_k(top_k=5))")
    specs = []
    for part in parts:
        name, items = split_method_id(part.strip())
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
            raise ValueError(f"not a decoder id: {part.strip()!r} (expected name or name(key=value,…))")
        specs.append({"name": name, **{key.strip(): yaml.safe_load(value) for key, value in items}})
    return build_decoder(specs)

