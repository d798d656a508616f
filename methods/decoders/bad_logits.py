"""The bad-logits policy of every decoder and of the generation loop.

A row of logits is **bad** when it holds a NaN or a +inf, or when every entry is −inf (no token
can be drawn). Such a row is never repaired silently — a NaN would make greedy's argmax pick the
NaN's position and sampling draw from a meaningless distribution — but raises a
:class:`BadLogitsError` that names the rows and what is wrong with them (and, in the generation
loop, the step). −inf entries in a row that keeps a finite one are legal: they are the masked
tokens of an earlier rule.

A model that emits bad logits is a bug to find, not a value to score; where NaN or ±inf must be
mapped to numbers (LM-Polygraph's sanitiser does so), do it in the model, before the decoder.
"""

from __future__ import annotations

import torch


class BadLogitsError(ValueError):
    """Logits with NaN, +inf, or a row that is −inf everywhere."""


def check_logits(logits: torch.Tensor, where: str) -> None:
    """Raise :class:`BadLogitsError` naming ``where`` and the bad rows of ``logits[B, V]``.

    One reduction decides: a row's max is NaN if the row holds a NaN (``amax`` propagates it),
    +inf if it holds a +inf, −inf if every entry is −inf, and finite otherwise. Only a batch with
    a bad row pays for finding out which rows and why.
    """
    if bool(torch.isfinite(logits.amax(dim=-1)).all()):
        return
    problems = []
    masks = (("NaN", torch.isnan(logits).any(dim=-1)), ("+inf", torch.isposinf(logits).any(dim=-1)),
             ("every logit -inf", logits.amax(dim=-1) == float("-inf")))
    for kind, mask in masks:
        rows = mask.nonzero().flatten().tolist()
        if rows:
            problems.append(f"{kind} in rows {_rows(rows)}")
    raise BadLogitsError(f"{where}: bad logits: {'; '.join(problems)}")


def _rows(rows: list[int], most: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:most])
    return f"[{shown}{', …' if len(rows) > most else ''}] ({len(rows)} rows)"
