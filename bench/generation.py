"""Batched generation with a decoder applied to each step's logits, recording per-token stats.

One batch of prompts is left-padded and run with a KV cache, allocated once for the batch's
prompt columns plus ``max_new_tokens`` and written in place (``entropy_bench.models.kv_cache``:
no copy of the cache per step). The prefill shares what prompts share (the n copies of a
prompt that draws n samples, and a common few-shot context, each run once;
``_Incremental.prefill``), prompts of unequal length run in groups padded only to their own
longest (:func:`length_groups`), and finished rows leave the model's batch as they accumulate
(``_Incremental.keep``). At step t, with model logits
z_t[B, V] and the decoder's warped logits z'_t = decoder(z_t):

    logprob[t]         = log softmax(z_t)[x_t]        (the model's own distribution)
    entropy[t]         = H(softmax(z_t))
    warped_logprob[t]  = log softmax(z'_t)[x_t]
    warped_entropy[t]  = H(softmax(z'_t))
    top_ids/top_logprobs[t] = the k most probable tokens under softmax(z_t)

All statistics come from ``entropy_bench.kernels.softmax_stats`` (one code path). The model's
logits at every step follow the decoders' bad-logits policy (``methods/decoders/bad_logits.py``):
NaN, +inf or an all −inf row stops generation with an error naming the model, step and rows.

Sampling draws x_t = argmax_v (z'_t[v] + g_v) with Gumbel noise g from a generator per row,
seeded by that row's own seed: a row's tokens do not depend on which other rows share its
batch, so results are independent of batch size and of where a resumed run restarts.

**Two models.** A decoder that declares ``large_model`` (a model spec) routes rows to a second
model that shares the tokenizer: ``generate(..., large_lm=…)`` receives it (the runner loads it
by that spec; no globals). Each step the small model (``lm``) runs first; then
``use_large[B], state = decoder.route(z_small, state)`` picks the rows whose logits in use,
z_t above, are the large model's. The large model's KV cache is kept in sync lazily: when some
live row needs it, it runs once over every column it has not seen yet (prompt and generated
tokens, batched with the same left padding and positions as the small model) and its last
logits are taken for those rows. Each record then carries in ``extra``:

    large_model_used[t]     whether token t came from the large model's logits
    small_model_entropy[t]  H(softmax(z_small_t)), what the routing rule sees
    flops_estimate_small_model = 2 · N_small · C_small
    flops_estimate_large_model = 2 · N_large · C_large
    flops_estimate             = their sum

with N a model's parameter count (≈ 2N FLOPs per token processed, the usual forward-pass
estimate) and C the tokens that model processed for this row: its context length (prompt
tokens + tokens generated before the step) at the last step it was used, so prefill and
catch-up are counted, and 0 for a model never used. Padding and the catch-up of other rows
in the batch are batching overheads, left out so that the estimate of a row does not depend
on its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from entropy_bench.clock import untimed
from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.bad_logits import check_logits
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.records import Generation
from entropy_bench.models import prompt_sharing
from entropy_bench.models.hf import LanguageModel
from entropy_bench.models.kv_cache import all_preallocated, place_rows, preallocated_cache, repeated
from entropy_bench.tasks.base import truncate_at_stop


def _gumbel(shape_v: int, generators: list[torch.Generator], device: torch.device) -> torch.Tensor:
    u = torch.stack([torch.rand(shape_v, generator=g) for g in generators]).to(device)
    return -torch.log(-torch.log(u.clamp_(1e-20, 1.0 - 1e-7)))


def _sample(warped: torch.Tensor, generators: list[torch.Generator], live: torch.Tensor) -> torch.Tensor:
    """``argmax(z' + Gumbel noise)`` for the live rows, each from its own generator; finished rows
    draw nothing (token 0, never read), which leaves every live row's stream as it was."""
    rows = live.nonzero().flatten()
    noise = _gumbel(warped.shape[-1], [generators[i] for i in rows.tolist()], warped.device)
    chosen = torch.zeros(len(live), dtype=torch.long, device=warped.device)
    return chosen.index_copy_(0, rows, (warped[rows] + noise).argmax(dim=-1))


def _token_stats(logits: torch.Tensor, warped: torch.Tensor, chosen: torch.Tensor, live: torch.Tensor,
                 top_k: int) -> dict[str, torch.Tensor]:
    """The recorded statistics of one step (module docstring), computed for the live rows only and
    returned batch-sized (zero where a row has finished: nothing reads it)."""
    rows = live.nonzero().flatten()
    every = len(rows) == len(live)
    z, w, c = (logits, warped, chosen) if every else (logits[rows], warped[rows], chosen[rows])
    full, warp = softmax_stats(z, c), softmax_stats(w, c)
    top = z.topk(min(top_k, z.shape[-1]), dim=-1)
    values = dict(logprob=full.target_logprob, entropy=full.entropy, warped_logprob=warp.target_logprob,
                  warped_entropy=warp.entropy, top_ids=top.indices, top_logprobs=top.values - full.lse.unsqueeze(-1))
    if every:
        return values
    return {k: v.new_zeros((len(live), *v.shape[1:])).index_copy_(0, rows, v) for k, v in values.items()}


def _stopped(text: str, stop: Sequence[str]) -> bool:
    return len(truncate_at_stop(text, stop)) < len(text)


class StopScan:
    """Which rows' continuations now contain a stop string, looking only at the newest tokens.

    A stop string that was not in a row's text before this step ends in its newest token, so it
    lies in the text of the last :attr:`window` tokens: a string of L characters is at most 4L
    UTF-8 bytes, every token but a special one decodes to at least one byte, and one more token
    covers a character split across the window's edge. The tail is decoded each step (not the
    whole continuation), and a hit is confirmed on the whole text, so a row stops exactly when
    its full text first contains a stop string. (A miss — special tokens inside the window —
    only runs a row longer; :func:`row_generation` cuts its text and tokens at the stop all the same.)"""

    def __init__(self, tokenizer, stop: Sequence[str], rows: int):
        self.tokenizer, self.stop = tokenizer, [s for s in stop if s]
        self.window = 4 * max((len(s) for s in self.stop), default=0) + 2
        self.tokens: list[list[int]] = [[] for _ in range(rows)]

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def scan(self, chosen: list[int], live: list[int]) -> list[int]:
        """Append this step's token to each live row; return the live rows that now hold a stop string."""
        hits = []
        for i in live:
            self.tokens[i].append(chosen[i])
            tail = self._text(self.tokens[i][-self.window :])
            if any(s in tail for s in self.stop) and _stopped(self._text(self.tokens[i]), self.stop):
                hits.append(i)
        return hits


SHARED_PREFIX_MIN = 8  # common leading prompt tokens worth a forward call of their own


def common_prefix(ids: torch.Tensor, attention: torch.Tensor) -> int:
    """How many leading tokens all rows of a left-padded batch share (a few-shot context, say),
    leaving every row at least one token of its own; 0 for a single row."""
    lengths = [int(n) for n in attention.sum(-1)]
    width, most = ids.shape[1], min(lengths) - 1
    if ids.shape[0] < 2 or most < 1:
        return 0
    heads = torch.stack([ids[i, width - n : width - n + most] for i, n in enumerate(lengths)])
    return int((heads == heads[0]).all(0).long().cumprod(0).sum())


def split_prefix(ids: torch.Tensor, attention: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch re-laid out as ``[the c shared tokens][padding][each row's own tokens]``: with
    positions ``cumsum(attention) − 1`` every real token keeps its position, and the shared part
    is one block of columns that the model can run once."""
    lengths = [int(n) for n in attention.sum(-1)]
    width = ids.shape[1]
    rest = max(lengths) - c
    out_ids = torch.zeros(ids.shape[0], c + rest, dtype=ids.dtype, device=ids.device)
    out_mask = torch.zeros_like(out_ids, dtype=attention.dtype)
    out_ids[:, :c], out_mask[:, :c] = ids[0, width - lengths[0] : width - lengths[0] + c], 1
    for i, n in enumerate(lengths):
        out_ids[i, c + rest - (n - c) :], out_mask[i, c + rest - (n - c) :] = ids[i, width - n + c :], 1
    return out_ids, out_mask


# Padded prompt tokens per prefill call (:func:`length_groups`). On the CPU a padded batch runs
# a masked attention far slower than a lone prompt's causal one: SmolLM2-135M on 2 cores, the
# prefill of 48 GSM8K 5-shot prompts (793-1415 tokens) took 123 s in one call, 62 s in groups
# of ≤ 2048 tokens and 55 s prompt by prompt; so prompts over half the budget run alone. On an
# accelerator wide batches pay, and the budget only bounds padding and memory (not measured here).
CPU_PREFILL_TOKENS = 1024
ACCELERATOR_PREFILL_TOKENS = 16384


def length_groups(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Rows packed into the prefill's groups: longest first, each group taking the next rows in
    that order while its padded size (rows × its longest) stays within ``budget``; a row longer
    than ``budget`` is a group alone. Padding then costs at most the gap between neighbouring
    lengths instead of the gap to the batch's longest prompt."""
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= budget:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


COMPACT_AT = 0.75  # drop finished rows from the model's batch once at most this share of it is live


@dataclass
class _Incremental:
    """A model with its KV cache, run over the columns of the batch it has not seen yet, on the
    batch rows in ``rows`` (all, while ``None``; :meth:`keep` drops finished ones). The cache holds
    ``capacity`` columns, allocated once (``entropy_bench.models.kv_cache``)."""

    lm: LanguageModel
    capacity: int
    clock: Callable[[str], Any] = untimed
    past: Any = None
    seen: int = 0
    rows: torch.Tensor | None = None

    def _run(self, cache, ids: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor,
             section: str) -> tuple[torch.Tensor, Any]:
        """One forward pass of ``ids`` after the columns ``cache`` holds (``attention`` covers both),
        timed as ``section``. Only the last position's logits are computed (``logits_to_keep=1``:
        the LM head is a fifth of a small model). Returns those logits and the cache."""
        with self.clock(section):
            out = self.lm(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
                          logits_to_keep=1, **{self.lm.cache_field: cache})
            return out.logits[:, -1, :].float(), getattr(out, self.lm.cache_field)

    def last_logits(self, ids: torch.Tensor, attention: torch.Tensor, section: str = "forward") -> torch.Tensor:
        """Logits[B, V] after ``ids[:, :C]`` (C = ids.shape[1]), feeding only ``ids[:, seen:]``;
        left-padded rows take positions ``cumsum(attention) − 1``. Rows dropped by :meth:`keep`
        get zero logits (a valid distribution; nothing reads them)."""
        if self.rows is not None:
            batch, ids, attention = ids.shape[0], ids[self.rows], attention[self.rows]
        positions = (attention.cumsum(-1) - 1).clamp_min(0)
        if self.past is None:
            self.past = preallocated_cache(self.lm.model.config, self.capacity)
        logits, self.past = self._run(self.past, ids[:, self.seen :], attention, positions[:, self.seen :], section)
        self.seen = ids.shape[1]
        if self.rows is None:
            return logits
        return logits.new_zeros(batch, logits.shape[-1]).index_copy_(0, self.rows, logits)

    def keep(self, live: torch.Tensor) -> None:
        """Drop the finished rows from the model's batch and KV cache once no more than
        :data:`COMPACT_AT` of it is live (a bounded number of cache copies, each smaller): the
        forward passes then cost what the live rows cost. A live row's tokens do not change;
        its float statistics may, by round-off, as with any other batch shape."""
        rows = torch.arange(len(live), device=live.device) if self.rows is None else self.rows
        kept = live[rows].nonzero().flatten()
        if 0 < len(kept) <= COMPACT_AT * len(rows):
            self.past.batch_select_indices(kept)
            self.rows = rows[kept]

    def prefill(self, ids: torch.Tensor, attention: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
        """:meth:`last_logits` of the prompts, sharing what they share:

        - rows come in runs of n copies of one prompt; the model runs on one row of each run,
          its logits repeated n times and its KV cache kept once for the n rows
          (``models.prompt_sharing``) where the model's attention allows, else repeated;
        - prompts whose first :data:`SHARED_PREFIX_MIN` or more tokens agree
          (:func:`common_prefix`) run those once, in the layout of :func:`split_prefix`;
        - prompts of unequal length run in :func:`length_groups` (:meth:`_grouped`).

        Returns the logits and the batch (ids, attention) as the cache now holds it."""
        ids, attention = ids[::n], attention[::n]
        shared = common_prefix(ids, attention)
        if shared >= SHARED_PREFIX_MIN:
            ids, attention = split_prefix(ids, attention, shared)
        else:
            shared = 0
        budget = CPU_PREFILL_TOKENS if ids.device.type == "cpu" else ACCELERATOR_PREFILL_TOKENS
        groups = length_groups(attention[:, shared:].sum(-1).tolist(), budget)
        self.past = preallocated_cache(self.lm.model.config, self.capacity)
        if len(groups) > 1 and all_preallocated(self.past):
            logits = self._grouped(ids, attention, shared, groups)
        else:
            if shared:
                self.last_logits(ids[:1, :shared], attention[:1, :shared], "prefill")
                self.past.batch_repeat_interleave(ids.shape[0])
            logits = self.last_logits(ids, attention, "prefill")
        if n > 1 and prompt_sharing.enabled(self.lm.model) and all_preallocated(self.past):
            self.past = prompt_sharing.share_prompts(self.past, n, attention, self.capacity - ids.shape[1])
        elif n > 1:
            self.past.batch_repeat_interleave(n)
        return logits.repeat_interleave(n, dim=0), ids.repeat_interleave(n, dim=0), attention.repeat_interleave(n, dim=0)

    def _grouped(self, ids: torch.Tensor, attention: torch.Tensor, shared: int, groups: list[list[int]]) -> torch.Tensor:
        """The prefill's logits, run group by group: the ``shared`` context once, then each group
        on its rows' own columns only (the last m of the batch, m its longest), its cache placed
        in the batch's (``kv_cache.place_rows``). Positions are the whole batch's, so every real
        token keeps the position it has in a single call."""
        config, width = self.lm.model.config, ids.shape[1]
        positions = (attention.cumsum(-1) - 1).clamp_min(0)
        context = None
        if shared:
            context = preallocated_cache(config, self.capacity)
            _, context = self._run(context, ids[:1, :shared], attention[:1, :shared], positions[:1, :shared], "prefill")
        logits = None
        for group in groups:
            rows = torch.tensor(group, device=ids.device)
            own = int(attention[rows, shared:].sum(-1).max())
            cache = preallocated_cache(config, own) if context is None else repeated(context, len(group))
            columns = torch.cat([torch.arange(shared), torch.arange(width - own, width)]).to(ids.device)
            part, cache = self._run(cache, ids[rows, width - own :], attention[rows][:, columns],
                                    positions[rows, width - own :], "prefill")
            place_rows(self.past, len(ids), rows, cache, shared, width)
            logits = part.new_zeros(len(ids), part.shape[-1]) if logits is None else logits
            logits[rows] = part
        self.seen = width
        return logits


def generate(
    lm: LanguageModel,
    prompts: Sequence[str],
    decoder: Decoder,
    *,
    seeds: Sequence[int],
    max_new_tokens: int,
    stop: Sequence[str] = (),
    top_k: int = 5,
    large_lm: LanguageModel | None = None,
    n_per_prompt: int = 1,
    clock: Callable[[str], Any] = untimed,
) -> list[Generation]:
    """Generate ``n_per_prompt`` continuations per prompt (one batch of len(prompts) · n rows,
    prompt-major: rows i·n … i·n + n − 1 continue prompt i, from one shared prefill);
    ``seeds[r]`` drives row r's sampling. ``large_lm`` is the model of a decoder that declares
    ``large_model`` (module docstring). ``clock`` (``entropy_bench.clock``) receives the seconds
    of the sections ``prefill``, ``forward`` (decode steps), ``decoder``, ``statistics``,
    ``stop`` (stop-string scans) and ``records`` (the returned generations)."""
    if len(seeds) != len(prompts) * n_per_prompt:
        raise ValueError(f"generate: {len(seeds)} seeds for {len(prompts)} prompts × {n_per_prompt} continuations")
    if (decoder.large_model is None) != (large_lm is None):
        raise ValueError(
            f"decoder {decoder.id} declares large_model={decoder.large_model!r} but generate() "
            f"got large_lm={None if large_lm is None else large_lm.name!r}: pass exactly the model it declares"
        )
    if large_lm is not None and large_lm.tokenizer.get_vocab() != lm.tokenizer.get_vocab():
        raise ValueError(f"models {lm.name!r} and {large_lm.name!r} do not share a tokenizer")
    tok = lm.tokenizer
    device = lm.device
    batch = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    ids = batch["input_ids"].to(device).repeat_interleave(n_per_prompt, dim=0)
    attention = batch["attention_mask"].to(device).repeat_interleave(n_per_prompt, dim=0)
    B = ids.shape[0]
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    eos = torch.tensor(sorted(lm.eos_token_ids), device=device)
    pad = tok.pad_token_id
    prompt_tokens = attention.sum(-1)
    capacity = ids.shape[1] + max_new_tokens  # every column the loop can feed
    small = _Incremental(lm, capacity, clock)
    large = None if large_lm is None else _Incremental(large_lm, capacity, clock)
    context = {name: torch.zeros(B, dtype=torch.long, device=device) for name in ("small_model", "large_model")}

    state = decoder.init_state(B, device)
    state = decoder.start(state, [row[mask.bool()].tolist() for row, mask in zip(ids, attention)], tok, list(seeds))
    done = torch.zeros(B, dtype=torch.bool, device=device)
    finish = ["length"] * B
    steps: list[dict[str, torch.Tensor]] = []
    stops = StopScan(tok, stop, B)
    for t in range(max_new_tokens):
        if t == 0:
            logits, ids, attention = small.prefill(ids, attention, n_per_prompt)
        else:
            if large is None:  # the large model's cache catches up on all rows: kept whole
                small.keep(~done)
            logits = small.last_logits(ids, attention)
        check_logits(logits, f"model {lm.name} at step {t}")
        context["small_model"] = torch.where(done, context["small_model"], prompt_tokens + t)
        routed: dict[str, torch.Tensor] = {}
        if large is not None:
            with clock("decoder"):
                use_large, state = decoder.route(logits, state)
            use_large = use_large & ~done
            routed = dict(large_model_used=use_large, small_model_entropy=softmax_stats(logits).entropy)
            if bool(use_large.any()):
                big = large.last_logits(ids, attention).to(logits.device)
                check_logits(big, f"model {large_lm.name} at step {t}")
                logits = torch.where(use_large.unsqueeze(-1), big, logits)
                context["large_model"] = torch.where(use_large, prompt_tokens + t, context["large_model"])
        with clock("decoder"):
            warped, state = decoder.step(logits, state)  # the logits were checked above
            chosen = warped.argmax(dim=-1) if decoder.deterministic else _sample(warped, generators, ~done)
            state = decoder.observe(state, logits, chosen)
        with clock("statistics"):
            steps.append(dict(token=torch.where(done, pad, chosen), live=~done,
                              **_token_stats(logits, warped, chosen, ~done, top_k), **routed))
        newly_eos = ~done & torch.isin(chosen, eos)
        for i in newly_eos.nonzero().flatten().tolist():
            finish[i] = "eos"
        done = done | newly_eos
        if stop:
            with clock("stop"):
                for i in stops.scan(chosen.tolist(), (~done).nonzero().flatten().tolist()):
                    finish[i] = "stop"
                    done[i] = True
        if bool(done.all()):
            break
        ids = torch.cat([ids, chosen.unsqueeze(-1)], dim=1)
        attention = torch.cat([attention, torch.ones(B, 1, dtype=attention.dtype, device=device)], dim=1)

    totals: list[dict[str, float]] = [{} for _ in range(B)]
    if large_lm is not None:
        flops = {name: 2.0 * m.n_params * context[name] for name, m in (("small_model", lm), ("large_model", large_lm))}
        totals = [
            {
                "flops_estimate": float(flops["small_model"][i] + flops["large_model"][i]),
                "flops_estimate_small_model": float(flops["small_model"][i]),
                "flops_estimate_large_model": float(flops["large_model"][i]),
            }
            for i in range(B)
        ]
    with clock("records"):
        return [row_generation(tok, steps, i, finish[i], stop, totals[i]) for i in range(B)]


PER_TOKEN = ("logprob", "entropy", "warped_logprob", "warped_entropy", "top_ids", "top_logprobs")


def row_generation(tok, steps: list[dict[str, torch.Tensor]], row: int, finish: str, stop,
                   totals: dict[str, float]) -> Generation:
    """Row ``row``'s generation. The text excludes EOS and is cut at the first stop string; the
    token statistics cover the tokens that produced the kept text, plus EOS when the model
    ended the sequence (its probability is part of P(y | x)), and at least one token. Per-step
    entries other than the :class:`Generation` fields go to ``extra``, with ``totals``."""
    live = [s for s in steps if bool(s["live"][row])]
    ids = [int(s["token"][row]) for s in live]
    n_text = len(ids) - 1 if finish == "eos" else len(ids)
    whole = tok.decode(ids[:n_text], skip_special_tokens=True)
    text = truncate_at_stop(whole, stop)
    stopped = len(text) < len(whole)
    finish = "stop" if stopped else finish
    n = len(ids)
    if stopped:  # smallest prefix of tokens whose text covers the kept text
        n = next(k for k in range(n_text + 1) if len(tok.decode(ids[:k], skip_special_tokens=True)) >= len(text))
    keep = live[: max(n, 1)]

    def col(key):
        return [s[key][row].tolist() for s in keep]

    extra_keys = [k for k in steps[0] if k not in PER_TOKEN and k not in ("token", "live")]
    return Generation(
        text=text,
        token_ids=ids[: len(keep)],
        **{k: col(k) for k in PER_TOKEN},
        finish_reason=finish,
        extra={**{k: col(k) for k in extra_keys}, **totals},
    )
