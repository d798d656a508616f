"""Batched generation with a decoder applied to each step's logits, recording per-token stats.

One batch of prompts is left-padded and run with a KV cache. At step t, with model logits
z_t[B, V] and the decoder's warped logits z'_t = decoder(z_t):

    logprob[t]         = log softmax(z_t)[x_t]        (the model's own distribution)
    entropy[t]         = H(softmax(z_t))
    warped_logprob[t]  = log softmax(z'_t)[x_t]
    warped_entropy[t]  = H(softmax(z'_t))
    top_ids/top_logprobs[t] = the k most probable tokens under softmax(z_t)

All statistics come from ``entropy_bench.kernels.softmax_stats`` (one code path).

Sampling draws x_t = argmax_v (z'_t[v] + g_v) with Gumbel noise g from a generator per row,
seeded by that row's own seed: a row's tokens do not depend on which other rows share its
batch, so results are independent of batch size and of where a resumed run restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.models.hf import LanguageModel


@dataclass
class Generation:
    """One generated continuation and its per-token statistics (lists of length T)."""

    text: str
    token_ids: list[int]
    logprob: list[float]
    entropy: list[float]
    warped_logprob: list[float]
    warped_entropy: list[float]
    top_ids: list[list[int]]
    top_logprobs: list[list[float]]
    finish_reason: str  # "eos" | "stop" | "length"

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> "Generation":
        return cls(**data)


def _gumbel(shape_v: int, generators: list[torch.Generator], device: torch.device) -> torch.Tensor:
    u = torch.stack([torch.rand(shape_v, generator=g) for g in generators]).to(device)
    return -torch.log(-torch.log(u.clamp_(1e-20, 1.0 - 1e-7)))


def _truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def generate(
    lm: LanguageModel,
    prompts: Sequence[str],
    decoder: Decoder,
    *,
    seeds: Sequence[int],
    max_new_tokens: int,
    stop: Sequence[str] = (),
    top_k: int = 5,
) -> list[Generation]:
    """Generate one continuation per prompt (one batch); ``seeds[i]`` drives row i's sampling."""
    tok = lm.tokenizer
    device = lm.device
    batch = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    input_ids = batch["input_ids"].to(device)
    attention = batch["attention_mask"].to(device)
    B = input_ids.shape[0]
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    eos = torch.tensor(sorted(lm.eos_token_ids), device=device)
    pad = tok.pad_token_id

    positions = (attention.cumsum(-1) - 1).clamp_min(0)
    out = lm(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True)
    past, logits = out.past_key_values, out.logits[:, -1, :].float()
    next_pos = positions[:, -1:] + 1

    state = decoder.init_state(B, device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    finish = ["length"] * B
    steps: list[dict[str, torch.Tensor]] = []
    for _ in range(max_new_tokens):
        warped, state = decoder(logits, state)
        if decoder.deterministic:
            chosen = warped.argmax(dim=-1)
        else:
            chosen = (warped + _gumbel(warped.shape[-1], generators, device)).argmax(dim=-1)
        state = decoder.observe(state, logits, chosen)
        full = softmax_stats(logits, chosen)
        warp = softmax_stats(warped, chosen)
        top = logits.topk(min(top_k, logits.shape[-1]), dim=-1)
        steps.append(
            dict(
                token=torch.where(done, pad, chosen),
                live=~done,
                logprob=full.target_logprob,
                entropy=full.entropy,
                warped_logprob=warp.target_logprob,
                warped_entropy=warp.entropy,
                top_ids=top.indices,
                top_logprobs=top.values - full.lse.unsqueeze(-1),
            )
        )
        newly_eos = ~done & torch.isin(chosen, eos)
        for i in newly_eos.nonzero().flatten().tolist():
            finish[i] = "eos"
        done = done | newly_eos
        if stop:
            so_far = torch.stack([s["token"] for s in steps], dim=1)
            for i in (~done).nonzero().flatten().tolist():
                text = tok.decode(so_far[i], skip_special_tokens=True)
                if _truncate_at_stop(text, stop)[1]:
                    finish[i] = "stop"
                    done[i] = True
        if bool(done.all()):
            break
        attention = torch.cat([attention, torch.ones(B, 1, dtype=attention.dtype, device=device)], dim=1)
        out = lm(
            input_ids=chosen.unsqueeze(-1),
            attention_mask=attention,
            position_ids=next_pos,
            past_key_values=past,
            use_cache=True,
        )
        past, logits = out.past_key_values, out.logits[:, -1, :].float()
        next_pos = next_pos + 1

    return [_record(tok, steps, i, finish[i], stop) for i in range(B)]


def _record(tok, steps: list[dict[str, torch.Tensor]], row: int, finish: str, stop) -> Generation:
    """Row ``row``'s generation. The text excludes EOS and is cut at the first stop string; the
    token statistics cover the tokens that produced the kept text, plus EOS when the model
    ended the sequence (its probability is part of P(y | x)), and at least one token."""
    live = [s for s in steps if bool(s["live"][row])]
    ids = [int(s["token"][row]) for s in live]
    n_text = len(ids) - 1 if finish == "eos" else len(ids)
    text, stopped = _truncate_at_stop(tok.decode(ids[:n_text], skip_special_tokens=True), stop)
    n = len(ids)
    if stopped:  # smallest prefix of tokens whose text covers the kept text
        n = next(k for k in range(n_text + 1) if len(tok.decode(ids[:k], skip_special_tokens=True)) >= len(text))
    keep = live[: max(n, 1)]

    def col(key):
        return [s[key][row].tolist() for s in keep]

    return Generation(
        text=text,
        token_ids=ids[: len(keep)],
        logprob=col("logprob"),
        entropy=col("entropy"),
        warped_logprob=col("warped_logprob"),
        warped_entropy=col("warped_entropy"),
        top_ids=col("top_ids"),
        top_logprobs=col("top_logprobs"),
        finish_reason=finish,
    )
