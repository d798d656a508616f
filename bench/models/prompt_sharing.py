"""Decode attention that reads a shared prompt's keys and values once for all its samples.

The n samples of one prompt (``generate(..., n_per_prompt=n)``) attend to the same prompt
columns. Repeating the prompt's KV cache n times (``batch_repeat_interleave``) makes every
decode step read it n times, and on a CPU a decode step is bound by those reads: SmolLM2-135M,
45 rows over a 1100-token GSM8K prompt, spends 62 % of a step in attention. :class:`SharedPromptLayer`
keeps one copy of each prompt's columns, ``prompt[P, h, C, d]``, beside each row's own
generated columns, ``rows[B, h, T, d]``, and :func:`prompt_sharing_attention` computes a
row's attention over both parts and merges them exactly.

For one query q (a row's head; GQA: the g query heads of a KV head share its keys), with scale
s, the two parts' scores a_j = s·q·k_j (prompt, masked at its padding) and b_j = s·q·k'_j
(generated), each part's max M, normaliser L and unnormalised output O:

    M_p = max_j a_j,   L_p = Σ_j exp(a_j − M_p),   O_p = Σ_j exp(a_j − M_p) v_j      (and _g alike)
    M   = max(M_p, M_g)
    attention(q) = (O_p·e^{M_p−M} + O_g·e^{M_g−M}) / (L_p·e^{M_p−M} + L_g·e^{M_g−M})

which is softmax(scores)·V over the concatenated columns, rearranged (the split-softmax merge
of flash and cascade attention). The prompt part runs as one matrix product per prompt and KV
head: the queries of all its rows (slot-packed, ``[P, h, m·g, d]`` with m the most rows any
prompt has) against its keys, read once. Results equal single-pass attention to round-off.

Enabling it: :func:`enable` sets a model's attention implementation to :data:`NAME`, which is
SDPA (``sdpa_attention_forward``, masks by ``sdpa_mask``) for every call whose keys are plain
tensors — prefill, and any batch without shared prompts — and the split path when a
:class:`SharedPromptLayer` returns :class:`Split` keys. A :class:`Split` reaching any other
attention implementation fails loudly (it is not a tensor), never silently. Only decode steps
(one query position) are supported on a shared-prompt cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AttentionInterface
from transformers.cache_utils import DynamicCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

from entropy_bench.models.kv_cache import PreallocatedLayer

NAME = "entropy_bench_prompt_sharing"


@dataclass
class Split:
    """One layer's keys (or values) in two parts: ``prompt[P, h, C, d]``, one copy per prompt,
    and ``rows[B, h, T, d]``, each row's generated columns; row r continues prompt
    ``layout.owner[r]``."""

    prompt: torch.Tensor
    rows: torch.Tensor
    layout: "Layout"


@dataclass
class Layout:
    """Which prompt each row continues (``owner``, non-decreasing: rows are prompt-major), its
    place among that prompt's rows (``slot``), the most rows of any prompt (``width``), and the
    prompt columns that are real tokens (``prompt_mask[P, C]``, False at left padding)."""

    owner: torch.Tensor
    slot: torch.Tensor
    width: int
    prompt_mask: torch.Tensor

    @classmethod
    def of(cls, owner: torch.Tensor, prompt_mask: torch.Tensor) -> "Layout":
        first = torch.searchsorted(owner, owner)  # index of each row's prompt's first row
        slot = torch.arange(len(owner), device=owner.device) - first
        return cls(owner, slot, int(slot.max()) + 1, prompt_mask)


class SharedPromptLayer(PreallocatedLayer):
    """A full-attention cache layer holding each prompt's columns once (``prompt_keys`` /
    ``prompt_values``, ``[P, h, C, d]``) and each row's generated columns in the
    :class:`~entropy_bench.models.kv_cache.PreallocatedLayer` store of ``capacity`` positions.
    :meth:`update` returns :class:`Split` keys and values for :func:`prompt_sharing_attention`."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, layout: Layout, capacity: int):
        super().__init__(capacity)
        self.prompt_keys, self.prompt_values, self.layout = keys, values, layout

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        keys, values = super().update(key_states, value_states)  # the rows' generated columns
        return Split(self.prompt_keys, keys, self.layout), Split(self.prompt_values, values, self.layout)

    def get_seq_length(self) -> int:
        return self.prompt_keys.shape[2] + self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows ``indices`` (in order) and only the prompts they continue."""
        owner = self.layout.owner[indices]
        used = torch.unique(owner)  # sorted
        self.prompt_keys, self.prompt_values = self.prompt_keys[used], self.prompt_values[used]
        self.layout = Layout.of(torch.searchsorted(used, owner), self.layout.prompt_mask[used])
        super().batch_select_indices(indices)

    def batch_repeat_interleave(self, repeats: int) -> None:
        raise NotImplementedError("a shared-prompt cache is built for its rows; it does not repeat them")

    def crop(self, max_length: int) -> None:
        raise NotImplementedError("a shared-prompt cache does not crop")


def share_prompts(cache: DynamicCache, n: int, prompt_mask: torch.Tensor, capacity: int) -> DynamicCache:
    """The cache of P prompts (``PreallocatedLayer``\\ s holding their columns) turned into one of
    P·n rows, prompt-major, each prompt's columns kept once and ``capacity`` generated
    positions per row; ``prompt_mask[P, C]`` marks the prompts' real (unpadded) columns."""
    owner = torch.arange(prompt_mask.shape[0], device=prompt_mask.device).repeat_interleave(n)
    layout = Layout.of(owner, prompt_mask.bool())
    cache.layers = [SharedPromptLayer(layer.keys.contiguous(), layer.values.contiguous(), layout, capacity)
                    for layer in cache.layers]
    return cache


def _part(scores: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(M, L, O) of the module docstring for ``scores[..., q, C]`` and ``values[..., C, d]``; a
    query with every column masked gets L = O = 0 (and M = 0), so the merge ignores the part."""
    top = scores.amax(-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = (scores - top).exp()
    return top, weights.sum(-1, keepdim=True), weights @ values


def split_attention(query: torch.Tensor, key: Split, value: Split, mask: torch.Tensor | None,
                    scaling: float | None) -> torch.Tensor:
    """Attention of ``query[B, H, 1, d]`` over a prompt part and a generated part (module
    docstring); ``mask`` is the model's boolean mask over all columns (``[B, 1, 1, C + T]``,
    True = attend) or None. Returns ``[B, 1, H, d]``, as transformers' attention functions do."""
    rows, heads, q_len, dim = query.shape
    if q_len != 1:
        raise ValueError(f"a shared-prompt cache takes one query position per step, got {q_len}")
    lay, kv_heads, prompts, columns = key.layout, key.rows.shape[1], key.prompt.shape[0], key.prompt.shape[2]
    group = heads // kv_heads
    scale = dim**-0.5 if scaling is None else scaling
    q = query.reshape(rows, kv_heads, group, dim) * scale
    packed = q.new_zeros(prompts, lay.width, kv_heads, group, dim)
    packed[lay.owner, lay.slot] = q
    packed = packed.permute(0, 2, 1, 3, 4).reshape(prompts, kv_heads, lay.width * group, dim)
    prompt_scores = (packed @ key.prompt.transpose(-1, -2)).masked_fill(~lay.prompt_mask[:, None, None, :], -torch.inf)
    prompt_parts = [t.reshape(prompts, kv_heads, lay.width, group, -1).permute(0, 2, 1, 3, 4)[lay.owner, lay.slot]
                    for t in _part(prompt_scores, value.prompt)]
    row_scores = q @ key.rows.transpose(-1, -2)
    if mask is not None:  # [B or 1, 1, 1, C + T] → [B or 1, 1, 1, T]
        row_scores = row_scores.masked_fill(~mask[:, :1, -1:, columns:], -torch.inf)
    (top_p, norm_p, out_p), (top_g, norm_g, out_g) = prompt_parts, _part(row_scores, value.rows)
    top = torch.maximum(top_p, top_g)
    a, b = (top_p - top).exp(), (top_g - top).exp()
    out = (out_p * a + out_g * b) / (norm_p * a + norm_g * b)
    return out.reshape(rows, heads, 1, dim).transpose(1, 2).contiguous()


def prompt_sharing_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                             scaling: float | None = None, **kwargs):
    """The attention function registered as :data:`NAME`: :func:`split_attention` for
    :class:`Split` keys, transformers' SDPA otherwise."""
    if isinstance(key, Split):
        if attention_mask is not None and attention_mask.dtype != torch.bool:
            raise TypeError(f"shared-prompt attention takes a boolean mask (sdpa_mask), got {attention_mask.dtype}")
        if dropout:
            raise ValueError("shared-prompt attention is for inference; dropout must be 0")
        return split_attention(query, key, value, attention_mask, scaling), None
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)


AttentionInterface.register(NAME, prompt_sharing_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


def enable(model: torch.nn.Module) -> bool:
    """Switch ``model`` from SDPA to :data:`NAME` (identical outside shared-prompt decode steps);
    other implementations (eager, flash) are left as they are. Returns whether it is enabled."""
    if getattr(model.config, "_attn_implementation", None) == "sdpa" and model._can_set_attn_implementation():
        model.set_attn_implementation(NAME)
    return enabled(model)


def enabled(model: torch.nn.Module) -> bool:
    return getattr(model.config, "_attn_implementation", None) == NAME
