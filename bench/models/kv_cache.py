"""A KV cache allocated once for a known length, written in place: no copy of the cache per step.

transformers' ``DynamicLayer`` grows by ``torch.cat([keys, new], dim=-2)``, which copies the whole
cache at every decode step. For a batch of B rows with context C, a model of L layers, KV heads h
and head size d, that is 2·B·h·C·d·L floats per token, twice what the step's attention itself
reads (SmolLM2-135M, B = 48, C ≈ 1100: ≈ 2.4 GB copied per token). Our decode loop knows each
batch's final length before its first step (prompt columns + ``max_new_tokens``), so
:class:`PreallocatedLayer` allocates ``[B, h, capacity, d]`` once and writes each step's keys and
values into the next columns; attention reads the view ``[:, :, :length]`` — the same values in the
same order as the concatenated tensor, so the attention output is the same.

:func:`preallocated_cache` builds the model's usual ``DynamicCache`` (which knows, from the
config, which layers slide or are linear) and replaces its full-attention layers only.

A batch's prefill may run in groups of rows (``entropy_bench.generation``: prompts of unequal
length, each group padded only to its own longest): :func:`place_rows` writes each group's cache
into the batch's, left-padded, so that the decode steps see one cache as if the whole batch had
been prefilled at once — every real column holds the same keys and values up to round-off (the
group's batch shape), and the padding columns hold zeros, which the attention mask excludes.
"""

from __future__ import annotations

import copy

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """A full-attention cache layer of fixed ``capacity`` positions; ``keys``/``values`` are views
    of the first ``length`` of them."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity, self.length = capacity, 0
        self.key_store: torch.Tensor | None = None
        self.value_store: torch.Tensor | None = None

    def _view(self) -> None:
        self.keys = self.key_store[:, :, : self.length]
        self.values = self.value_store[:, :, : self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.device, self.is_initialized = key_states.device, True
            batch, heads, _, dim = key_states.shape
            self.key_store = key_states.new_empty(batch, heads, self.capacity, dim)
            self.value_store = value_states.new_empty(batch, heads, self.capacity, value_states.shape[-1])
        n = key_states.shape[-2]
        if self.length + n > self.capacity:
            raise ValueError(f"KV cache of {self.capacity} positions cannot take {n} more after {self.length}")
        self.key_store[:, :, self.length : self.length + n] = key_states
        self.value_store[:, :, self.length : self.length + n] = value_states
        self.length += n
        self._view()
        return self.keys, self.values

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)  # checks the argument and shortens the views
        self.length = self.get_seq_length()

    def reset(self) -> None:
        self.length = 0
        self.key_store = self.value_store = None
        super().reset()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length > 0:
            self.key_store = self.key_store.repeat_interleave(repeats, dim=0)
            self.value_store = self.value_store.repeat_interleave(repeats, dim=0)
            self._view()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length > 0:
            self.key_store, self.value_store = self.key_store[indices], self.value_store[indices]
            self._view()


def place_rows(dest: DynamicCache, batch: int, rows: torch.Tensor, src: DynamicCache, shared: int, width: int) -> None:
    """Write ``src``, the cache of a group of rows, into rows ``rows`` of ``dest``, a cache of
    ``batch`` rows that then holds ``width`` columns. ``src``'s first ``shared`` columns go to
    ``dest``'s first ``shared`` (a context common to every row), its remaining m columns to the
    last m before ``width`` (each row's own tokens, right-aligned as in a left-padded batch).
    ``dest``'s layers are allocated on first use, zero-filled; both caches must hold only
    :class:`PreallocatedLayer` (:func:`all_preallocated`)."""
    for d, s in zip(dest.layers, src.layers):
        own = s.length - shared
        if d.key_store is None:
            d.device, d.is_initialized = s.key_store.device, True
            heads = s.key_store.shape[1]
            d.key_store = s.key_store.new_zeros(batch, heads, d.capacity, s.key_store.shape[-1])
            d.value_store = s.value_store.new_zeros(batch, heads, d.capacity, s.value_store.shape[-1])
        for store, part in ((d.key_store, s.key_store), (d.value_store, s.value_store)):
            store[rows, :, :shared] = part[:, :, :shared]
            store[rows, :, width - own : width] = part[:, :, shared : s.length]
        d.length = width
        d._view()


def repeated(cache: DynamicCache, repeats: int) -> DynamicCache:
    """A new cache holding each row of ``cache`` ``repeats`` times; ``cache`` stays as it is."""
    out = copy.copy(cache)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    out.batch_repeat_interleave(repeats)
    return out


def all_preallocated(cache: DynamicCache) -> bool:
    """Whether every layer of ``cache`` is a :class:`PreallocatedLayer` (no sliding or linear ones)."""
    return all(type(layer) is PreallocatedLayer for layer in cache.layers)


def preallocated_cache(config, capacity: int) -> DynamicCache:
    """The cache that transformers builds for ``config``, its full-attention layers (plain
    ``DynamicLayer``) replaced by :class:`PreallocatedLayer` of ``capacity`` positions; sliding-window
    and linear-attention layers stay as they are."""
    cache = DynamicCache(config=config)
    cache.layers = [PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache
