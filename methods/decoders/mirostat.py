"""Mirostat v1 and v2: feedback truncation that steers the surprise of the sampled tokens."""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar, NamedTuple

import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.decoders.top_k import kth_largest
from entropy_bench.methods.registry import DECODERS, require

PAPER = (
    "Basu, Ramachandran, Keskar & Varshney (2021), Mirostat: A Neural Text Decoding Algorithm "
    "that Directly Controls Perplexity (ICLR)"
)
URL = "https://arxiv.org/abs/2007.14966"


class MirostatState(NamedTuple):
    """Per-row state: the surprise budget ``mu[B]`` (bits) and, once a step has been warped, that
    step's truncated log-distribution ``log_q[B, V]`` (``None`` before), which :meth:`_Mirostat.observe`
    reads the drawn tokens' surprise from instead of warping the logits a second time."""

    mu: torch.Tensor
    log_q: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class _Mirostat(Decoder, abc.ABC):
    """The feedback loop both versions share; subclasses choose the kept set {z ≥ floor(μ)} from μ.

    State (:class:`MirostatState`): μ[B], the per-row surprise budget in bits, initialised to
    2·``tau``. After token x is drawn from the truncated, renormalised distribution q, its observed
    surprise is s = −log2 q(x) and ``μ ← μ − eta · (s − tau)``: above-target surprise tightens the
    truncation, below-target loosens it. (The authors' reference code measures s under the
    untruncated distribution instead; llama.cpp, like us, uses q.) A token outside the kept set
    (padding after EOS) has infinite surprise and sends its row's μ to −∞: greedy from then on.

    Over T steps the update telescopes: mean_t s_t = τ + (μ_0 − μ_T) / (η T), so the mean surprise
    misses τ by the distance μ travels divided by η T. ``eta = 0.1`` is llama.cpp's default (a
    smooth μ, slow to leave μ_0); the authors' reference code uses ``eta = 1``.
    """

    tau: float = 3.0
    eta: float = 0.1

    def __post_init__(self):
        require(self.tau > 0, self.name, "tau", f"must be > 0 (bits), got {self.tau}")
        require(self.eta > 0, self.name, "eta", f"must be > 0, got {self.eta}")

    def init_state(self, batch_size: int, device: torch.device) -> MirostatState:
        return MirostatState(torch.full((batch_size,), 2 * self.tau, device=device))

    @abc.abstractmethod
    def floor(self, logits: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """The smallest logit kept at threshold μ[B], shape [B, 1]; at most the row's largest logit."""

    def step(self, logits: torch.Tensor, state: MirostatState | None) -> tuple[torch.Tensor, MirostatState]:
        mu = (self.init_state(logits.shape[0], logits.device) if state is None else state).mu
        warped = torch.where(logits < self.floor(logits, mu), float("-inf"), logits)
        return warped, MirostatState(mu, warped.log_softmax(dim=-1))

    def observe(self, state: MirostatState, logits: torch.Tensor, tokens: torch.Tensor) -> MirostatState:
        """μ ← μ − η (s − τ), s = −log2 q(x) read from the ``state`` that :meth:`__call__` returned
        for ``logits``; the new state has no ``log_q`` until the next step is warped."""
        if state.log_q is None:
            raise ValueError(f"{self.name}.observe needs the state that {self.name}(logits, state) returned")
        surprise = -state.log_q.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) / math.log(2)
        return MirostatState(state.mu - self.eta * (surprise.to(state.mu.dtype) - self.tau))


@DECODERS.register("mirostat", paper=PAPER, url=URL)
@dataclasses.dataclass(frozen=True)
class Mirostat(_Mirostat):
    """Mirostat (v1, Algorithm 1): top-k with k set from a Zipf fit and the surprise budget μ.

    The Zipf exponent is the least-squares fit over the m = 100 most probable tokens,
    ``ŝ = Σ_i t_i b_i / Σ_i t_i²`` with t_i = log((i+1)/i) and b_i = log(p_(i)/p_(i+1)),
    i = 1 … m−1 (pairs with p_(i+1) = 0 are left out). With ε̂ = ŝ − 1 and N = V,

        k = ((ε̂ · 2^μ) / (1 − N^(−ε̂)))^(1/ŝ)      (ε̂ / (1 − N^(−ε̂)) → 1/ln N as ε̂ → 0)

    and the ``round(k) + 1`` most probable tokens are kept (as in the authors' code), at most V.
    See the shared feedback loop for how μ follows the observed surprise.
    """

    zipf_tokens: ClassVar[int] = 100

    def floor(self, logits: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        vocab = logits.shape[-1]
        top = logits.topk(min(self.zipf_tokens, vocab), dim=-1).values.float()
        logp = top - logits.float().logsumexp(dim=-1, keepdim=True)
        i = torch.arange(1, logp.shape[-1], device=logits.device, dtype=logp.dtype)
        t = torch.log((i + 1) / i)
        b = logp[..., :-1] - logp[..., 1:]
        valid = logp[..., 1:] > float("-inf")
        s_hat = torch.where(valid, t * b, 0.0).sum(-1) / torch.where(valid, t * t, 0.0).sum(-1)
        eps_hat = s_hat - 1
        log_n = math.log(max(vocab, 2))  # V = 1 keeps its one token whatever k is
        ratio = torch.where(
            eps_hat.abs() > 1e-6, eps_hat / -torch.expm1(-eps_hat * log_n), torch.full_like(eps_hat, 1 / log_n)
        )
        k = torch.exp((torch.log(ratio) + mu.float() * math.log(2)) / s_hat)
        k = torch.nan_to_num(k, nan=0.0).round().clamp(max=vocab - 1) + 1
        return kth_largest(logits, k.long())


@DECODERS.register("mirostat_v2", paper=PAPER, url=URL)
@dataclasses.dataclass(frozen=True)
class MirostatV2(_Mirostat):
    """Mirostat v2: keep the tokens whose surprise is within the budget μ.

    Token v is kept iff ``−log2 p_v ≤ μ``, i.e. ``z_v ≥ logsumexp(z) − μ ln 2``; the argmax always.
    No Zipf fit; see the shared feedback loop for how μ follows the observed surprise.
    """

    def floor(self, logits: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        lse = logits.float().logsumexp(dim=-1, keepdim=True)
        return torch.minimum(lse - mu.float().unsqueeze(-1) * math.log(2), logits.amax(dim=-1, keepdim=True).float())
