"""lm-evaluation-harness model ``entropy_bench``: any lm-eval task through the suite's models,
generation loop and decoders.

Importing this module registers the model with lm-eval's registry, after ``import
lm_eval.models`` (lm-eval's own models stay registered). From Python::

    import entropy_bench.lm_eval_adapter  # noqa: F401  (registers "entropy_bench")
    import lm_eval
    lm_eval.simple_evaluate(model="entropy_bench",
                            model_args="pretrained=HuggingFaceTB/SmolLM2-135M-Instruct,decoder=min_p(min_p=0.1)",
                            tasks=["gsm8k"])

From the shell: ``bench lm-eval --model entropy_bench --model_args pretrained=…,decoder=… --tasks …``
(lm-eval's own command line with this model registered; lm-eval does not discover third-party
models by itself).

Model arguments (a string ``k=v,k=v`` split at the commas outside brackets, so a decoder id
keeps its parameters):

- ``pretrained``: a model spec as sweeps name models (hub id, local directory, ``#layers=N``);
  loaded by :func:`~entropy_bench.models.hf.load_model`, the packaged offline copy included.
- ``decoder``: a decoder id (``greedy``, ``min_p(min_p=0.1)``, ``temperature(temperature=0.7)+top_p(top_p=0.9)``).
  It decides how tokens are drawn; a task's ``do_sample`` / ``temperature`` are not read (its
  ``until`` and ``max_gen_toks`` are).
- ``seed`` and ``row_prefix``: request ``k`` of document ``d`` is drawn with the seed
  ``row_seed(seed, row_prefix + str(d), k)`` (``row_prefix`` default: ``<task name>/``) — a
  sweep cell's seeding, so ``row_prefix=gsm8k/test/`` with the cell's seed gives exactly the
  cell's answers (our GSM8K example ids are ``gsm8k/test/<i>``).
  The k-th copy of a request that lm-eval repeats (``repeats: n``) is sample k.
- ``batch_size``: prompts per call of the generation loop (lm-eval's ``--batch_size``).
- ``max_gen_toks``: generation length where a task's ``generation_kwargs`` give none
  (lm-eval's ``hf`` model's default, 256).

``loglikelihood`` follows lm-eval's ``hf`` model: (context, continuation) tokenised as a
whole and split where the context's tokens end (a context's trailing spaces move to the
continuation), an empty context replaced by the end-of-text token; the answer is the sum of the
continuation's log-probabilities and whether each of its tokens is the model's argmax.
``loglikelihood_rolling`` scores a text in lm-eval's disjoint rolling windows of the model's
context length. Both run in float32, one forward pass per request batch, right-padded.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import lm_eval.models  # noqa: F401  (lm-eval's own models first: registering ours must not hide them)
import torch
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model

from entropy_bench.methods.decoders.base import parse_decoder
from entropy_bench.methods.registry import split_outside_brackets
from entropy_bench.models.hf import DEFAULT_MODEL, load_model
from entropy_bench.tasks.base import truncate_at_stop
from entropy_bench.tracks.generation_data import in_batches, row_seed

DEFAULT_MAX_GEN_TOKS = 256


@register_model("entropy_bench")
class EntropyBenchLM(TemplateLM):
    """An lm-eval ``LM`` over a :class:`~entropy_bench.models.hf.LanguageModel` (module docstring)."""

    def __init__(self, pretrained: str = DEFAULT_MODEL, decoder: str = "greedy", seed: int = 0,
                 row_prefix: str | None = None, batch_size: int | str = 8,
                 max_gen_toks: int = DEFAULT_MAX_GEN_TOKS, **ignored: Any):
        super().__init__()
        if str(batch_size).startswith("auto"):
            raise ValueError("entropy_bench: batch_size must be a number (lm-eval's 'auto' sizing is not supported)")
        unknown = set(ignored) - {"max_batch_size", "device"}  # what lm-eval's CLI passes to every model
        if unknown:
            raise TypeError(f"entropy_bench: unknown model argument(s) {sorted(unknown)}; known: pretrained, "
                            "decoder, seed, row_prefix, batch_size, max_gen_toks")
        self.lm = load_model(str(pretrained))
        self.tokenizer = self.lm.tokenizer
        self.decoder = parse_decoder(str(decoder))
        self.seed, self.row_prefix = int(seed), None if row_prefix is None else str(row_prefix)
        self.batch_size, self.max_gen_toks = int(batch_size), int(max_gen_toks)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> "EntropyBenchLM":
        """lm-eval's ``k=v,k=v`` model arguments, split at the commas outside brackets."""
        items = split_outside_brackets(arg_string.strip(), ",") or []
        args = {k.strip(): lm_utils.handle_arg_string(v) for k, _, v in (i.partition("=") for i in items if i)}
        return cls.create_from_arg_obj(args, additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> "EntropyBenchLM":
        """The model arguments over lm-eval's own settings (``--batch_size``, whose default is 1,
        ``--device``): a ``batch_size`` in the model arguments wins."""
        settings = {k: v for k, v in (additional_config or {}).items() if v is not None}
        return cls(**(settings | dict(arg_dict)))

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def max_length(self) -> int:
        return self.lm.context_window or self.tokenizer.model_max_length

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        return self.tokenizer(string, add_special_tokens=bool(add_special_tokens))["input_ids"]

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Each request's continuation by the suite's loop, cut at its ``until`` strings; requests
        with equal (``until``, ``max_gen_toks``) are generated together."""
        out: list[str | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            groups[self._settings(request.args[1])].append(i)
        seeds = self._seeds(requests)
        for (until, max_new), members in groups.items():
            prompts = [requests[i].args[0] for i in members]
            for idx, gens, _ in in_batches(self.lm, prompts, [[seeds[i]] for i in members], self.decoder,
                                           per_batch=self.batch_size, max_new_tokens=max_new, stop=until):
                for j, (generation,) in zip(idx, gens):
                    out[members[j]] = truncate_at_stop(generation.text, until)
        return out

    def _settings(self, gen_kwargs: dict) -> tuple[tuple[str, ...], int]:
        until = gen_kwargs.get("until", ())
        until = (until,) if isinstance(until, str) else tuple(until)
        return until, int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))

    def _seeds(self, requests) -> list[int]:
        """Each request's row seed; the k-th copy of one request (lm-eval's ``repeats``) is sample k."""
        copies: Counter = Counter()
        seeds = []
        for request in requests:
            prefix = f"{request.task_name}/" if self.row_prefix is None else self.row_prefix
            row = f"{prefix}{request.doc_id}"
            seeds.append(row_seed(self.seed, row, copies[id(request)]))
            copies[id(request)] += 1
        return seeds

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs: Any) -> list[tuple[float, bool]]:
        """(Σ log p(continuation token | before), every token the argmax) for each
        ``(_, context_ids, continuation_ids)``; inputs longer than the window keep their end."""
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i][1]) - len(requests[i][2]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            results = self._score_batch([(requests[i][1], requests[i][2]) for i in batch])
            for i, result in zip(batch, results):
                out[i] = result
        return out

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        inputs = [(ctx + cont)[-(self.max_length + 1) :][:-1] for ctx, cont in pairs]
        width = max(len(x) for x in inputs)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([x + [pad] * (width - len(x)) for x in inputs])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in inputs])
        logprobs = torch.log_softmax(self.lm(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        results = []
        for row, (x, (_, cont)) in enumerate(zip(inputs, pairs)):
            positions = torch.arange(len(x) - len(cont), len(x))
            rows = logprobs[row, positions]
            target = torch.tensor(cont)
            total = rows.gather(-1, target[:, None]).sum().item()
            results.append((float(total), bool((rows.argmax(-1) == target).all())))
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """The log-likelihood of each whole text, in lm-eval's disjoint rolling windows."""
        out = []
        for (text,) in (request.args for request in requests):
            windows = [lm_utils.make_disjoint_window(w) for w in lm_utils.get_rolling_token_windows(
                token_list=self.tok_encode(text), prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length, context_len=1)]
            scores = self._loglikelihood_tokens([(None, ctx, cont) for ctx, cont in windows])
            out.append(sum(score for score, _ in scores))
        return out
