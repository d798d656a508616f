"""Forward passes over given token sequences (no generation): the log-probs of a continuation
after a context, and a layer's hidden state at a sequence's last token.

What the white-box measures that re-read text need: pointwise mutual information (the answer's
log-probs without the question) and EigenScore (the samples' hidden states). Rows are
left-padded and batched; positions are ``cumsum(attention) − 1`` as in generation, so a row's
values do not depend on its batch beyond round-off.
"""

from __future__ import annotations

from typing import Sequence

import torch

from entropy_bench.models.hf import LanguageModel


def _batch(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask [B, L] of token lists."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :], mask[i, width - len(row) :] = torch.tensor(list(row)), 1
    return ids, mask


def _forward(lm: LanguageModel, rows: Sequence[Sequence[int]], **options):
    ids, mask = _batch(rows, lm.tokenizer.pad_token_id or 0)
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    return lm(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), position_ids=positions.to(lm.device),
              **options), ids.shape[1]


def continuation_logprobs(lm: LanguageModel, contexts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]],
                          batch_size: int = 8) -> list[list[float]]:
    """``log p(y_t | context, y_<t)`` for every token of each continuation (natural log, fp32
    log-softmax of the model's logits). With an empty context the first token has nothing to be
    predicted from: its entry is NaN."""
    out: list[list[float]] = []
    for start in range(0, len(contexts), batch_size):
        ctx, cont = contexts[start : start + batch_size], continuations[start : start + batch_size]
        rows = [list(c) + list(y) for c, y in zip(ctx, cont)]
        result, width = _forward(lm, rows)
        logp = result.logits.float().log_softmax(-1)
        for i, y in enumerate(cont):
            values = []
            for t, token in enumerate(y):
                position = width - len(y) + t - 1  # the column whose logits predict y_t
                predicted = position >= width - len(rows[i])  # inside the row, not padding
                values.append(float(logp[i, position, token]) if predicted else float("nan"))
            out.append(values)
    return out


def last_hidden_states(lm: LanguageModel, sequences: Sequence[Sequence[int]], layer: int,
                       batch_size: int = 4) -> torch.Tensor:
    """The hidden state [len(sequences), d] of ``layer`` (0: the embeddings, as transformers
    counts ``hidden_states``) at each sequence's last token, fp32."""
    states = []
    for start in range(0, len(sequences), batch_size):
        result, _ = _forward(lm, sequences[start : start + batch_size], output_hidden_states=True, logits_to_keep=1)
        states.append(result.hidden_states[layer][:, -1, :].float().cpu())
    return torch.cat(states) if states else torch.zeros(0, 0)
