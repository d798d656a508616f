"""Mass cut-offs without a sort: the smallest key at which a row's cumulative mass reaches a level.

The ranking rules (nucleus, locally typical) keep the tokens on one side of a cut-off in some
per-token key (the logit, the distance to the entropy): with ``F(v) = Σ_{key_j ≤ v} mass_j``,

    cut-off(row) = min { key_i : F(key_i) reaches level }      ("reaches": > level, or ≥ level)

Sorting the row gives F at every token (transformers' warpers sort the whole vocabulary; 33 ms
for [8, 49152] float32 on one CPU thread). Only the one key where F crosses the level is needed,
so :func:`mass_cutoff` finds it by **radix selection** instead: float keys map to integers of
the same order (:func:`ordered_bits`); a pass histograms, per row, the next ``DIGIT_BITS`` bits
of the keys that share the prefix chosen so far — one ``bincount`` of the mass, in float64, for
the whole batch — and the cumulative sum of the histogram (plus the mass of every key below the
prefix) picks the bin where F crosses the level. Three passes settle float32 keys exactly (six
for float64), each a few elementwise passes over [B, V].

Arithmetic: F is a float64 sum of the masses (rounded to the masses' dtype before it is
compared, as transformers compares its float64-accumulated ``cumsum``); float64 sums of up to
V float32 masses differ from a sorted cumulative sum by ~1e-16 relative, far below the float32
rounding of the comparison. Tokens tied in key share one F (the mass of all ties included), so
a tie group falls on one side of the cut-off whole. A row whose total mass never reaches the
level gets its largest key.
"""

from __future__ import annotations

import torch

DIGIT_BITS = 11


def ordered_bits(key: torch.Tensor) -> torch.Tensor:
    """Integers ordered as the float ``key`` values are (int32 for ≤ 32-bit floats, int64 for float64).

    The IEEE bit pattern, read as a signed integer, is ordered for non-negative floats and
    reversed for negative ones; flipping the magnitude bits of the negative ones orders them
    all. ``-0.0`` is mapped to ``+0.0`` first (they tie as floats), NaN keys are not expected.
    """
    key = key.to(torch.float64 if key.dtype == torch.float64 else torch.float32) + 0.0  # -0.0 + 0.0 = +0.0
    bits = key.view(torch.int64 if key.dtype == torch.float64 else torch.int32)
    magnitude = torch.iinfo(bits.dtype).max
    return bits ^ ((bits >> (bits.element_size() * 8 - 1)) & magnitude)


def mass_cutoff(key: torch.Tensor, mass: torch.Tensor, level: float, strict: bool) -> torch.Tensor:
    """Per row of ``key[B, V]``, the :func:`ordered_bits` value of its cut-off (module docstring), [B, 1].

    ``mass[B, V]`` are the tokens' masses (non-negative); F reaches the level when
    ``F.to(mass.dtype) > level`` (``strict``) or ``≥ level``. Compare the result with
    ``ordered_bits(key)`` to select the tokens at or above (or below) the cut-off.
    """
    ordered = ordered_bits(key)
    weights = mass.to(torch.float64).flatten()
    rows = torch.arange(key.shape[0], device=key.device, dtype=ordered.dtype).unsqueeze(-1)
    below = torch.zeros(key.shape[0], 1, dtype=torch.float64, device=key.device)  # F just below the prefix
    prefix, never, shift = None, None, ordered.element_size() * 8
    while shift > 0:
        bits = min(DIGIT_BITS, shift)
        shift -= bits
        high = ordered >> shift if shift else ordered  # the prefix chosen so far, then this pass's digit
        if prefix is None:  # the top digit carries the sign: move it to 0 … 2^bits − 1
            bins = high + ((rows << bits) + (1 << (bits - 1)))
        else:  # keys outside the prefix go to one spare bin past the last row's
            outside = (high >> bits) != prefix
            bins = ((high & ((1 << bits) - 1)) + (rows << bits)).masked_fill_(outside, rows.numel() << bits)
        hist = torch.bincount(bins.flatten(), weights=weights, minlength=(rows.numel() << bits) + 1)
        hist = hist[: rows.numel() << bits].view(rows.numel(), 1 << bits)
        cumulative = below + hist.cumsum(dim=-1)
        rounded = cumulative.to(mass.dtype)
        reached = rounded > level if strict else rounded >= level
        if never is None:
            never = ~reached[..., -1:]
        else:  # F at the prefix's end reached the level last pass: rounding differences must not lose it
            reached |= cumulative >= cumulative[..., -1:]
        chosen = reached.to(torch.int8).argmax(dim=-1, keepdim=True)  # the first bin that reaches it
        below = cumulative.gather(-1, chosen) - hist.gather(-1, chosen)
        chosen = chosen.to(ordered.dtype)
        prefix = chosen - (1 << (bits - 1)) if prefix is None else (prefix << bits) | chosen
    return torch.where(never, ordered.amax(dim=-1, keepdim=True), prefix)
