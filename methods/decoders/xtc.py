"""Exclude Top Choices (XTC): now and then, drop the likeliest tokens but the least likely of them."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require

_MASK = (1 << 64) - 1
_SALT = int.from_bytes(b"xtc-coin", "big")  # XTC's keys differ from the Gumbel generator's seed of the same row


def _mix(x: int) -> int:
    """splitmix64's output function: a 64-bit integer to a well-mixed 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def coin(key: int, step: int) -> float:
    """The uniform draw in [0, 1) of the row with ``key`` at ``step``: 53 bits of a mix of both."""
    return (_mix((key + _mix(step ^ _SALT)) & _MASK) >> 11) * 2.0**-53


def seed_key(seed: int) -> int:
    """A row's key from its generation seed (the seed of its Gumbel generator)."""
    return _mix((int(seed) & _MASK) ^ _SALT)


def context_key(ids: Sequence[int]) -> int:
    """A row's key from its prompt token ids (for callers that give no seeds)."""
    key = _SALT
    for token in ids:
        key = _mix(key ^ (int(token) & _MASK))
    return key


class XTCState(NamedTuple):
    """Per-row coin keys (64-bit integers; ``None`` until :meth:`XTC.start` gives them), the number
    of steps taken, and whether the keys come from seeds (else from the rows' prompts)."""

    keys: tuple[int, ...] | None
    step: int = 0
    seeded: bool = False


@DECODERS.register(
    "xtc",
    paper=(
        "p-e-w (2024), Exclude Top Choices (XTC), text-generation-webui PR #6335; "
        "llama.cpp's llama_sampler_xtc; no paper"
    ),
    url="https://github.com/oobabooga/text-generation-webui/pull/6335",
)
@dataclasses.dataclass(frozen=True)
class XTC(Decoder):
    """With probability ``xtc_probability``, drop the tokens reaching ``xtc_threshold`` but the least probable.

    Per row and step, with p = softmax(z), t = ``xtc_threshold`` and A = {v : p_v ≥ t}: if the
    row's coin comes up (u < ``xtc_probability``, u uniform in [0, 1)), every v ∈ A with
    z_v > min_{w∈A} z_w is set to −inf. The least probable token of A stays, with every token
    tied with it, and so do all tokens below t; the argmax may go, which is the point (it pushes
    the model off its clichés). Nothing changes when fewer than two tokens reach t — always so
    for t > 0.5, where at most one can — or when all of A is tied: there is then no least
    probable one to single out without breaking a tie by token id (llama.cpp's
    ``llama_sampler_xtc`` and text-generation-webui's ``XTCLogitsWarper`` keep one of them by
    their sort order). p is the logits' softmax in their dtype, as in both references.

    ``xtc_threshold=0`` disables the rule, as the fix proposed in mlx-lm (PR #1040 for issue
    #1036) of a port bug: every token "reaches" 0, so the rule as written keeps only the least
    probable token of the row, and llama.cpp and text-generation-webui, which also count tokens
    an earlier rule set to −inf (p = 0), keep a masked one when there is one (an all −inf row). A small positive t is the rule as written: A is most
    of the support and only the tokens near t stay. Defaults: t = 0.1 is llama.cpp's and
    text-generation-webui's; both default the probability to 0 (off), and 0.5 is the value
    llama.cpp's XTC pull request (#9742) first proposed. text-generation-webui also skips a step
    where newline or EOS would be removed; a decoder does not know the tokenizer, so that case is
    left out, as in llama.cpp. In a chain XTC goes after the truncation rules and before
    temperature, as in llama.cpp's default chain (…, min-p, XTC, temperature): t is a
    probability, so a temperature applied first moves A.

    **Randomness.** The coin of row b at step s is u = :func:`coin` (key_b, s), 53 bits of a
    64-bit mix of the row's key and the step: a pure function, so no generator is advanced,
    calling the decoder twice on one state gives the same result, and no row's coins depend on
    another row or on the batch. :meth:`start` (which the generation loop calls with every row's
    prompt and seed) sets the key:

    * from the row's generation seed: key_b = mix(seed_b ⊕ salt) (:func:`seed_key`; the salt
      keeps it apart from the row's Gumbel generator, seeded with the same seed). The coins are
      i.i.d. Bernoulli(``xtc_probability``) over steps, exactly reproducible;
    * without seeds (``LogitsProcessorAdapter``), from the row's prompt ids (:func:`context_key`),
      mixed with each token :meth:`observe` reports, so that samples of one prompt share coins
      only until their tokens differ. Without :meth:`start` every row has the key of seed 0.
    """

    xtc_probability: float = 0.5
    xtc_threshold: float = 0.1

    def __post_init__(self):
        require(0 <= self.xtc_probability <= 1, self.name, "xtc_probability",
                f"must be in [0, 1], got {self.xtc_probability}")
        require(0 <= self.xtc_threshold <= 1, self.name, "xtc_threshold",
                f"must be in [0, 1] (0 and any value above 0.5 disable XTC), got {self.xtc_threshold}")

    @property
    def active(self) -> bool:
        """Whether the parameters let XTC remove anything at all."""
        return self.xtc_probability > 0 and 0 < self.xtc_threshold <= 0.5

    def init_state(self, batch_size: int, device: torch.device) -> XTCState:
        return XTCState(None)

    def start(self, state: XTCState, context: Sequence[Sequence[int]], tokenizer: Any = None,
              seeds: Sequence[int] | None = None) -> XTCState:
        if seeds is not None:
            return XTCState(tuple(seed_key(s) for s in seeds), state.step, True)
        return XTCState(tuple(context_key(ids) for ids in context), state.step, False)

    def step(self, logits: torch.Tensor, state: XTCState | None) -> tuple[torch.Tensor, XTCState]:
        state = self.init_state(logits.shape[0], logits.device) if state is None else state
        keys = (seed_key(0),) * logits.shape[0] if state.keys is None else state.keys
        if len(keys) != logits.shape[0]:
            raise ValueError(f"{self.id}: a state for {len(keys)} rows given {logits.shape[0]} rows of logits")
        new_state = XTCState(keys, state.step + 1, state.seeded)
        if not self.active:
            return logits, new_state
        hits = [coin(key, state.step) < self.xtc_probability for key in keys]
        if not any(hits):
            return logits, new_state
        above = logits.softmax(dim=-1) >= self.xtc_threshold
        least = torch.where(above, logits, float("inf")).amin(dim=-1, keepdim=True)
        drop = above & (logits > least) & torch.tensor(hits, device=logits.device).unsqueeze(-1)
        return logits.masked_fill(drop, float("-inf")), new_state

    def observe(self, state: XTCState, logits: torch.Tensor, tokens: torch.Tensor) -> XTCState:
        """Without seeds, each row's key absorbs the token drawn; seeded keys do not change."""
        if state.seeded or state.keys is None:
            return state
        keys = tuple(_mix(key ^ _mix(int(x) ^ _SALT)) for key, x in zip(state.keys, tokens.tolist(), strict=True))
        return state._replace(keys=keys)
