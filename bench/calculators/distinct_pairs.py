"""Scores of every ordered pair of an example's samples, computed once per pair of distinct texts."""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def score_distinct_pairs(rows: Sequence[Sequence[str]], score: Callable[[list[tuple[str, str]]], torch.Tensor]) -> list:
    """Per row of n texts, a tensor [n, n, …]: ``score``'s output for (text i, text j).

    Samples often repeat, so only the ordered pairs of *distinct* texts of each row (a text
    with itself included, as LM-Polygraph does) are scored, every row's pairs in one call of
    ``score`` (pairs → tensor [len(pairs), …]), and each row's block is expanded back to its texts.
    """
    distinct = [sorted(set(texts)) for texts in rows]
    pairs = [(a, b) for texts in distinct for a in texts for b in texts]
    scores = score(pairs)
    out, start = [], 0
    for texts, unique in zip(rows, distinct):
        k = len(unique)
        block = scores[start : start + k * k].reshape(k, k, *scores.shape[1:])
        start += k * k
        position = {t: i for i, t in enumerate(unique)}
        index = torch.tensor([position[t] for t in texts], dtype=torch.long)
        out.append(block[index][:, index])
    return out
