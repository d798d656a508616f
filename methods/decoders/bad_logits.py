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

    One pass finds NaN and +inf together (both fail ``x < inf``); one max finds all −inf rows.
    """
    problems = []
    nan_or_inf = ~(logits < float("inf"))
    if bool(nan_or_inf.any()):
        for kind, mask in (("NaN", torch.isnan(logits)), ("+inf", torch.isposinf(logits))):
            rows = mask.any(dim=-1).nonzero().flatten().tolist()
            if rows:
                problems.append(f"{kind} in rows {_rows(rows)}")
    empty = (logits.amax(dim=-1) == float("-inf")).nonzero().flatten().tolist()
    if empty:
        problems.append(f"every logit -inf in rows {_rows(empty)}")
    if problems:
        raise BadLogitsError(f"{where}: bad logits: {'; '.join(problems)}")


def _rows(rows: list[int], most: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:most])
    return f"[{shown}{', …' if len(rows) > most else ''}] ({len(rows)} rows)"
