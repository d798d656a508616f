"""Forward passes over given token sequences (no generation): the log-probs of a continuation
after a context, and a layer's hidden state at a sequence's last token.

What the white-box measures that re-read text need: pointwise mutual information (the answer's
log-probs without the question) and EigenScore (the samples' hidden states, after their prompt
run once). Rows are padded and batched at the positions one unpadded sequence would have, so a
row's values do not depend on its batch beyond round-off.
"""

from __future__ import annotations

from typing import Sequence

import torch

from entropy_bench.models.hf import LanguageModel
from entropy_bench.models.kv_cache import repeated


def _padded(rows: Sequence[Sequence[int]], pad: int, left: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and attention mask [B, L] of token lists, padded on the left (rows end together) or
    on the right (rows start together)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        if row:
            columns = slice(width - len(row), width) if left else slice(0, len(row))
            ids[i, columns], mask[i, columns] = torch.tensor(list(row)), 1
    return ids, mask


def _forward(lm: LanguageModel, rows: Sequence[Sequence[int]], **options):
    ids, mask = _padded(rows, lm.tokenizer.pad_token_id or 0)
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


def last_hidden_states(lm: LanguageModel, prompt: Sequence[int], continuations: Sequence[Sequence[int]], layer: int,
                       batch_size: int = 8) -> torch.Tensor:
    """The hidden state [len(continuations), d] of ``layer`` (0: the embeddings, as transformers
    counts ``hidden_states``) at the last token of prompt + each continuation, fp32 (an empty
    continuation: the prompt's last token).

    The prompt runs once; each batch of continuations then runs after a copy of its KV cache,
    right-padded at positions ``len(prompt) + t``, as one sequence would take them: a causal
    model's state at a row's last real token never sees the padding after it."""
    if not prompt:
        raise ValueError("last_hidden_states needs a non-empty prompt")
    first = lm(input_ids=torch.tensor([list(prompt)], device=lm.device), use_cache=True, output_hidden_states=True,
               logits_to_keep=1)
    states = first.hidden_states[layer][:, -1, :].float().cpu().repeat(len(continuations), 1)
    cache = getattr(first, lm.cache_field)
    rows = [i for i, c in enumerate(continuations) if c]
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        ids, mask = _padded([continuations[i] for i in batch], lm.tokenizer.pad_token_id or 0, left=False)
        attention = torch.cat([torch.ones(len(batch), len(prompt), dtype=mask.dtype), mask], -1)
        positions = (len(prompt) + torch.arange(ids.shape[1])).expand_as(ids)
        result = lm(input_ids=ids.to(lm.device), attention_mask=attention.to(lm.device),
                    position_ids=positions.to(lm.device), use_cache=True, output_hidden_states=True, logits_to_keep=1,
                    **{lm.cache_field: repeated(cache, len(batch))})
        last = mask.sum(-1) - 1
        states[batch] = result.hidden_states[layer][torch.arange(len(batch)), last.to(lm.device)].float().cpu()
    return states
