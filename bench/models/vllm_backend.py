"""Generation through vLLM: the suite's decoders as vLLM logits processors, returning the same
:class:`~entropy_bench.methods.records.Generation` records as the transformers backend.

**vLLM API followed.** The V1 engine's batch-level logits processors,
``vllm.v1.sample.logits_processor.LogitsProcessor`` (``__init__(vllm_config, device,
is_pin_memory)``, ``update_state(BatchUpdate | None)``, ``apply(logits) -> logits``,
``is_argmax_invariant()``), passed as a class to ``LLM(logits_processors=[...])``, with per-request
arguments in ``SamplingParams.extra_args``: vLLM >= 0.11, whose V1 model runner calls them
(``BatchUpdate.added`` holds ``(index, params, prompt_tok_ids, output_tok_ids)``; 0.10's
``(index, params, output_tok_ids)`` is read too). Later releases make Model Runner V2, with another
processor interface, the default (0.32's documentation says so); the backend asks for the V1
runner (``VLLM_USE_V2_MODEL_RUNNER=0``), which they keep as the legacy one.
Outputs: ``RequestOutput.outputs[0]`` is a ``CompletionOutput`` with ``token_ids``, ``text``,
``finish_reason`` ("stop" | "length") and ``stop_reason``, and, with ``SamplingParams(logprobs=k)``,
``logprobs``: per generated token a dict ``token_id → Logprob(logprob, rank, decoded_token)``
holding the sampled token and the k most probable (ranks 1 … k).

**Decoders as logits processors.** vLLM's sampler (V1, ``Sampler.forward``) computes the
log-probs it returns from the model's logits z_t *before* any processor
(``logprobs_mode="raw_logprobs"``, the default, asked for explicitly), then applies the
processors that are not argmax-invariant (ours says it is not, so it runs for greedy rows too),
then samples: greedy rows (temperature 0) take argmax z'_t, the others draw from softmax(z'_t)
(temperature 1, no top-k / top-p of vLLM's own). So per generated token x_t of a row:

    logprob[t], top_ids[t], top_logprobs[t]   from CompletionOutput.logprobs (vLLM, from z_t)
    entropy[t]         = H(softmax(z_t))               recorded by the processor
    warped_entropy[t]  = H(softmax(z'_t))              recorded by the processor
    warped_logprob[t]  = (z'_t[x_t] − m'_t) − log s'_t  recorded once x_t is known

with z'_t = decoder(z_t) and m'_t, s'_t the maximum and Σ exp(z'_t − m'_t) of the warped row:
the formula of ``entropy_bench.kernels.softmax_stats`` (``max_logprob = −log s``), whose
statistics the processor takes, as ``entropy_bench.generation`` does.

:class:`DecoderSteps` holds, per row of a :meth:`VLLMBackend.generate` call, the decoder's state
and what the processor recorded. The processor sees vLLM's persistent batch: rows come and go
(``removed``, ``added``, ``moved`` in each ``BatchUpdate``), and each added row brings a live
reference to the request's list of output tokens. A step is recorded as pending at output
position n = len(output tokens); it is committed when that list grows past n (then x_t is known:
warped log-prob, ``decoder.observe``), and dropped when the row's next step comes at the same n
(vLLM discards the token sampled for a partial prefill chunk). The last step of a row is
committed from the returned ``CompletionOutput.token_ids``. Stateless decoders
(``init_state`` is ``None``) warp all of the batch's rows in one call; stateful ones (Mirostat,
DRY, XTC, chains) keep a one-row state per request and warp row by row.

The processor runs in vLLM's worker, and the records must come back to the caller: the backend
runs vLLM's engine in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, tensor parallel 1), so
that the processor class it passes (built per backend, holding its :class:`DecoderSteps`) is the
one vLLM instantiates.

**Sampling.** Greedy decoders give the same tokens as the transformers backend (up to float
round-off between the two implementations). Sampled rows use ``SamplingParams(seed=row seed)``:
vLLM's random stream differs from the transformers backend's (Gumbel noise from a
``torch.Generator`` per row), so sampled tokens are reproducible per seed within a backend but not
equal across backends; only greedy decoding is compared token for token.

:func:`to_generation` (the conversion from vLLM's output) needs no vLLM: it is unit-tested on
recorded, vLLM-shaped outputs. Two-model decoders (``large_model``) and ``#layers=N`` specs are
transformers-only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch

from entropy_bench.clock import untimed
from entropy_bench.generation import row_generation
from entropy_bench.hub import hub_reachable
from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.bad_logits import check_logits
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.records import Generation
from entropy_bench.models.hf import DEFAULT_MODEL, dir_fingerprint, fingerprint_of, parse_spec

ROW_KEY = "entropy_bench_row"  # SamplingParams.extra_args[ROW_KEY] = [call, row]
TOP_K = 5  # top-k log-probs per token, as entropy_bench.generation.generate records
INSTALL_HINT = "pip install -e '.[vllm]' on a machine with a CUDA GPU"


# ---------------------------------------------------------------- the conversion (no vLLM needed)


def _column(value: float) -> torch.Tensor:
    return torch.tensor([float(value)], dtype=torch.float64)  # float64: the value comes back as given


def to_generation(
    output: Any, entropy: Sequence[float], warped_entropy: Sequence[float], warped_logprob: Sequence[float], *,
    tokenizer: Any, eos_token_ids: set[int] | Sequence[int], stop: Sequence[str] = (), top_k: int = TOP_K,
) -> Generation:
    """The :class:`Generation` of one vLLM ``CompletionOutput`` (``token_ids``, ``logprobs``) and
    the processor's per-token ``entropy``, ``warped_entropy``, ``warped_logprob``.

    The record is cut as the transformers backend cuts it (``entropy_bench.generation.row_generation``,
    the one code path): text decoded from the tokens without EOS and cut at the first stop string,
    token statistics over the tokens that made the kept text plus EOS when the model ended the
    sequence. The finish reason is "eos" when the last token is one of ``eos_token_ids``, "stop"
    when a stop string cut the text, else "length" (vLLM says "stop" for both of the first two).
    The log-prob of each token and the ``top_k`` most probable tokens (by vLLM's rank) come from
    ``output.logprobs``."""
    ids = [int(t) for t in output.token_ids]
    positions = output.logprobs
    if positions is None:
        raise ValueError("vLLM output has no logprobs: generate with SamplingParams(logprobs=k)")
    counts = {"token_ids": len(ids), "logprobs": len(positions), "entropy": len(entropy),
              "warped_entropy": len(warped_entropy), "warped_logprob": len(warped_logprob)}
    if not ids or len(set(counts.values())) != 1:
        raise ValueError(f"vLLM output: per-token lists of different or zero lengths: {counts}")
    steps = []
    for t, token in enumerate(ids):
        position: Mapping[int, Any] = positions[t]
        if token not in position:
            raise ValueError(f"vLLM output: token {t} ({token}) has no log-prob among {sorted(position)}")
        top = sorted(position.items(), key=lambda item: item[1].rank)[:top_k]
        steps.append(dict(
            token=torch.tensor([token]), live=torch.tensor([True]),
            logprob=_column(position[token].logprob), entropy=_column(entropy[t]),
            warped_logprob=_column(warped_logprob[t]), warped_entropy=_column(warped_entropy[t]),
            top_ids=torch.tensor([[int(i) for i, _ in top]]),
            top_logprobs=torch.tensor([[float(lp.logprob) for _, lp in top]], dtype=torch.float64),
        ))
    finish = "eos" if ids[-1] in set(eos_token_ids) else "length"
    return row_generation(tokenizer, steps, 0, finish, stop, {})


# ---------------------------------------------------------------- the decoder over vLLM's batch


class _Step(NamedTuple):
    """The statistics of one ``apply`` over R rows (module docstring)."""

    warped: torch.Tensor  # z' [R, V]
    warped_max: torch.Tensor  # m' [R]
    warped_max_logprob: torch.Tensor  # −log s' [R]
    entropy: torch.Tensor  # H(softmax z) [R]
    warped_entropy: torch.Tensor  # H(softmax z') [R]


@dataclasses.dataclass
class _Pending:
    """A row's step whose token is not known yet: output position ``n``, row ``j`` of ``step``, and
    what ``decoder.observe`` needs (the state the step returned and the row's logits [1, V])."""

    n: int
    step: _Step
    j: int
    state: Any
    logits: torch.Tensor | None


_UNSET = object()


@dataclasses.dataclass
class RowTrace:
    """One request of a :meth:`VLLMBackend.generate` call: its prompt and seed (for
    ``decoder.start``), the decoder's one-row state, and the committed per-token statistics
    (0-dim tensors, on the device, until :meth:`DecoderSteps.records` reads them)."""

    context: list[int]
    seed: int
    state: Any = _UNSET
    entropy: list[torch.Tensor] = dataclasses.field(default_factory=list)
    warped_entropy: list[torch.Tensor] = dataclasses.field(default_factory=list)
    warped_logprob: list[torch.Tensor] = dataclasses.field(default_factory=list)
    pending: _Pending | None = None


class DecoderSteps:
    """The suite decoder of the current :meth:`VLLMBackend.generate` call applied to vLLM's batch,
    with the per-row records (module docstring). ``model_calls`` counts ``apply`` calls: one per
    engine step that ran the model and sampled."""

    def __init__(self):
        self.call = 0
        self.decoder: Decoder | None = None
        self.tokenizer: Any = None
        self.rows: dict[int, RowTrace] = {}
        self.stateless = True
        self.model_calls = 0

    def begin(self, decoder: Decoder, tokenizer: Any, contexts: Sequence[Sequence[int]], seeds: Sequence[int]) -> int:
        """Start a call: row r has prompt ``contexts[r]`` and seed ``seeds[r]``; returns the call
        number that the requests' ``extra_args[ROW_KEY] = [call, r]`` carry."""
        self.call += 1
        self.decoder, self.tokenizer = decoder, tokenizer
        self.rows = {r: RowTrace(list(c), int(s)) for r, (c, s) in enumerate(zip(contexts, seeds, strict=True))}
        self.stateless = decoder.init_state(1, torch.device("cpu")) is None
        return self.call

    def tag(self, params: Any) -> tuple[int, int] | None:
        """``(call, row)`` of a request from its ``SamplingParams``; ``None`` for a request of no call."""
        value = (getattr(params, "extra_args", None) or {}).get(ROW_KEY)
        return None if value is None else (int(value[0]), int(value[1]))

    def trace(self, tag: tuple[int, int]) -> RowTrace | None:
        """The row of the current call that ``tag`` names (``None`` for an earlier call's)."""
        call, row = tag
        return self.rows.get(row) if call == self.call else None

    def apply(self, logits: torch.Tensor, entries: Sequence[tuple[int, tuple[int, int], list[int]]]) -> torch.Tensor:
        """Warp the batch rows ``entries`` = (batch index, tag, live output tokens) of ``logits``
        in place (other rows untouched), recording each row's step as pending."""
        live = [(i, trace, out) for i, tag, out in entries if (trace := self.trace(tag)) is not None]
        if not live:
            return logits
        self.settle([(trace, out) for _, trace, out in live])
        index = torch.tensor([i for i, _, _ in live], device=logits.device)
        z = logits.index_select(0, index)  # a copy: vLLM's tensor is overwritten below
        check_logits(z, f"vLLM model logits (rows {[i for i, _, _ in live]})")
        decoder = self.decoder
        if self.stateless:
            warped, _ = decoder.step(z, None)
            states: list[Any] = [None] * len(live)
        else:
            parts, states = [], []
            for j, (_, trace, _) in enumerate(live):
                if trace.state is _UNSET:
                    state = decoder.init_state(1, logits.device)
                    trace.state = decoder.start(state, [trace.context], self.tokenizer, [trace.seed])
                part, state = decoder.step(z[j : j + 1], trace.state)
                parts.append(part)
                states.append(state)
            warped = torch.cat(parts)
        full, warp = softmax_stats(z), softmax_stats(warped)
        step = _Step(warped, warped.amax(dim=-1), warp.max_logprob, full.entropy, warp.entropy)
        for j, (_, trace, out) in enumerate(live):
            trace.pending = _Pending(len(out), step, j, states[j], None if self.stateless else z[j : j + 1])
        return logits.index_copy_(0, index, warped.to(logits.dtype))

    def settle(self, pairs: Sequence[tuple[RowTrace, Sequence[int]]]) -> None:
        """For each (row, its output tokens so far): commit the pending step if its token is now
        known, or drop it if the output did not grow past it (module docstring)."""
        groups: dict[int, list[tuple[RowTrace, _Pending, int]]] = defaultdict(list)
        for trace, out in pairs:
            p = trace.pending
            if p is None:
                continue
            if len(out) <= p.n:
                trace.pending = None
                continue
            token = int(out[p.n])
            if token < 0:
                raise RuntimeError(f"vLLM gave the logits processor a placeholder token ({token}): run without async scheduling")
            groups[id(p.step)].append((trace, p, token))
        for items in groups.values():
            step = items[0][1].step
            j = torch.tensor([p.j for _, p, _ in items], device=step.warped.device)
            y = torch.tensor([token for _, _, token in items], device=step.warped.device)
            logprob = (step.warped[j, y] - step.warped_max[j]) + step.warped_max_logprob[j]
            for k, (trace, p, token) in enumerate(items):
                if p.n != len(trace.entropy):
                    raise RuntimeError(f"logits processor: token {p.n} of a row came after {len(trace.entropy)} recorded tokens")
                trace.entropy.append(step.entropy[p.j])
                trace.warped_entropy.append(step.warped_entropy[p.j])
                trace.warped_logprob.append(logprob[k])
                if not self.stateless:
                    trace.state = self.decoder.observe(p.state, p.logits, torch.tensor([token], device=p.logits.device))
                trace.pending = None

    def records(self, row: int, token_ids: Sequence[int]) -> tuple[list[float], list[float], list[float]]:
        """(entropy, warped_entropy, warped_logprob) of row ``row``'s tokens ``token_ids`` (vLLM's
        output), committing the last step with them."""
        trace = self.rows[row]
        self.settle([(trace, token_ids)])
        n = len(token_ids)
        if len(trace.entropy) < n:
            raise RuntimeError(f"row {row}: vLLM returned {n} tokens but its logits processor recorded {len(trace.entropy)}")
        columns = (trace.entropy[:n], trace.warped_entropy[:n], trace.warped_logprob[:n])
        return tuple(torch.stack(c).tolist() if c else [] for c in columns)  # type: ignore[return-value]


class DecoderLogitsProcessor:
    """vLLM's V1 ``LogitsProcessor`` interface over a :class:`DecoderSteps` (``steps``, set on the
    subclass that :func:`vllm_processor_class` builds): keeps batch index → (tag, live output
    tokens) from each ``BatchUpdate`` and hands the rows of the current call to ``steps``.
    Requests without ``extra_args[ROW_KEY]`` are left alone."""

    steps: DecoderSteps

    def __init__(self, vllm_config: Any = None, device: Any = None, is_pin_memory: bool = False):
        self.batch: dict[int, tuple[tuple[int, int], list[int]]] = {}

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        return None

    def is_argmax_invariant(self) -> bool:
        """``False``: a decoder may change the argmax, and the processor records every step."""
        return False

    def update_state(self, batch_update: Any) -> None:
        """Apply ``removed``, then ``added``, then ``moved`` (vLLM's order); rows that leave the
        batch have their last step settled."""
        if batch_update is None:
            return
        gone = [self.batch.pop(i) for i in batch_update.removed if i in self.batch]
        for added in batch_update.added:
            index, params, out = added[0], added[1], added[-1]
            if index in self.batch:
                gone.append(self.batch.pop(index))
            tag = self.steps.tag(params)
            if tag is not None:
                self.batch[index] = (tag, out)
        for a, b, direction in batch_update.moved:
            first, second = self.batch.pop(a, None), self.batch.pop(b, None)
            if getattr(direction, "name", direction) == "SWAP":
                if second is not None:
                    self.batch[a] = second
            elif second is not None:
                gone.append(second)
            if first is not None:
                self.batch[b] = first
        self.steps.settle([(trace, out) for tag, out in gone if (trace := self.steps.trace(tag)) is not None])

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        self.steps.model_calls += 1
        entries = [(i, *self.batch[i]) for i in sorted(self.batch) if i < logits.shape[0]]
        return self.steps.apply(logits, entries) if entries else logits


def vllm_processor_class(steps: DecoderSteps) -> type:
    """A subclass of vLLM's ``LogitsProcessor`` bound to ``steps`` (needs vllm)."""
    from vllm.v1.sample.logits_processor import LogitsProcessor

    return type("EntropyBenchLogitsProcessor", (DecoderLogitsProcessor, LogitsProcessor),
                {"steps": steps, "__module__": __name__})


# ---------------------------------------------------------------- weights, as the transformers backend finds them


def resolve_weights(name: str) -> tuple[str, str, str]:
    """(what vLLM loads: a directory or hub id, source, fingerprint) of a model spec, by
    ``entropy_bench.models.hf.load_model``'s resolution order and with its fingerprints, without
    loading weights: the same weights have the same fingerprint on both backends (hence the same
    cache keys)."""
    from transformers import AutoConfig

    from entropy_bench.models.offline import OFFLINE_COPIES, materialise

    base, n_layers = parse_spec(name)
    if n_layers is not None:
        raise ValueError(f"model {name!r}: '#layers=N' truncation is transformers-only; the vLLM backend loads whole models")
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), f"local:{path.resolve()}", dir_fingerprint(path)
    for source, local_only in (("hf-cache", True), ("hub", False)):
        if source == "hub" and not hub_reachable():
            break
        try:
            config = AutoConfig.from_pretrained(name, local_files_only=local_only)
        except OSError:
            continue
        rev = getattr(config, "_commit_hash", None) or "unknown"
        if local_only:  # vLLM gets the cached snapshot's directory: it then needs no network
            from huggingface_hub import snapshot_download

            return snapshot_download(name, local_files_only=True), source, fingerprint_of(name, "hub", rev)
        return name, source, fingerprint_of(name, "hub", rev)
    if name in OFFLINE_COPIES:
        copy = OFFLINE_COPIES[name]
        return str(materialise(copy)), copy.source, fingerprint_of(name, copy.source)
    raise OSError(f"model {name!r}: not a local directory, not in the Hugging Face cache, the hub is unreachable, "
                  f"and no packaged offline copy is known (offline copies: {', '.join(OFFLINE_COPIES)})")


def eos_token_ids(weights: str, tokenizer: Any, *, local_files_only: bool = True) -> set[int]:
    """The ids that end a sequence, as ``LanguageModel.eos_token_ids`` has them: the generation
    config's ``eos_token_id`` (from the model config when there is no generation config) and the
    tokenizer's."""
    from transformers import AutoConfig, GenerationConfig

    try:
        config = GenerationConfig.from_pretrained(weights, local_files_only=local_files_only)
    except OSError:
        config = GenerationConfig.from_model_config(AutoConfig.from_pretrained(weights, local_files_only=local_files_only))
    ids = config.eos_token_id
    ids = list(ids) if isinstance(ids, (list, tuple)) else [ids]
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return {int(i) for i in ids if i is not None}


# ---------------------------------------------------------------- the backend


class VLLMBackend:
    """:class:`~entropy_bench.models.base.GenerationBackend` on vLLM (module docstring).

    ``dtype`` defaults to float32, the transformers backend's, so that records agree; bfloat16 is
    vLLM's usual choice for throughput. ``engine_args`` go to ``vllm.LLM`` as given."""

    def __init__(self, name: str = DEFAULT_MODEL, *, dtype: str = "float32", gpu_memory_utilization: float = 0.5,
                 seed: int = 0, **engine_args: Any):
        try:
            import vllm
        except ImportError as err:
            raise ImportError(f"the vLLM backend needs the vllm package: {INSTALL_HINT}") from err
        from transformers import AutoConfig, AutoTokenizer

        weights, self.source, weights_fingerprint = resolve_weights(name)
        # its own generations: vLLM's kernels and sampler are not the transformers backend's
        self.fingerprint = fingerprint_of(weights_fingerprint, "backend=vllm")
        self.name = name
        local_only = self.source != "hub"
        self.tokenizer = AutoTokenizer.from_pretrained(weights, local_files_only=local_only)
        self.eos_token_ids = eos_token_ids(weights, self.tokenizer, local_files_only=local_only)
        self.config = AutoConfig.from_pretrained(weights, local_files_only=local_only)
        self.steps = DecoderSteps()
        # The processor must run in this process (its records come back through self.steps), on
        # the V1 model runner (its interface); set for the process, before the engine starts.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ["VLLM_USE_V2_MODEL_RUNNER"] = "0"
        known = {f.name for f in dataclasses.fields(vllm.EngineArgs)}
        if "logits_processors" not in known:
            raise ImportError(f"vllm {vllm.__version__} has no custom logits processors in its V1 engine; "
                              f"the vLLM backend needs vllm>=0.11 ({INSTALL_HINT})")
        optional = dict(generation_config="vllm", logprobs_mode="raw_logprobs", async_scheduling=False)
        args = dict(model=weights, tokenizer=weights, dtype=dtype, seed=seed, gpu_memory_utilization=gpu_memory_utilization,
                    tensor_parallel_size=1, logits_processors=[vllm_processor_class(self.steps)],
                    **{k: v for k, v in optional.items() if k in known})
        self.llm = vllm.LLM(**(args | engine_args))
        self.vllm_version = vllm.__version__
        self.steps.model_calls = 0  # the engine's warm-up runs are not generation

    @property
    def forward_calls(self) -> int:
        """Engine steps (each one forward pass of the model over the batch, then sampling)."""
        return self.steps.model_calls

    def generate(
        self, prompts: Sequence[str], decoder: Decoder, *, seeds: Sequence[int], max_new_tokens: int,
        stop: Sequence[str] = (), large: Any = None, n_per_prompt: int = 1, clock: Callable[[str], Any] = untimed,
    ) -> list[Generation]:
        """``n_per_prompt`` continuations per prompt (prompt-major, one request each; vLLM's prefix
        cache shares their prefill), ``seeds[r]`` for row r. ``clock`` gets ``forward`` (vLLM's
        generate, decoder and statistics included) and ``records``."""
        from vllm import SamplingParams

        if len(seeds) != len(prompts) * n_per_prompt:
            raise ValueError(f"generate: {len(seeds)} seeds for {len(prompts)} prompts × {n_per_prompt} continuations")
        if decoder.large_model is not None or large is not None:
            raise ValueError(f"decoder {decoder.id}: two-model decoding runs on the transformers backend only")
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        rows = [ids[r // n_per_prompt] for r in range(len(seeds))]
        call = self.steps.begin(decoder, self.tokenizer, rows, seeds)
        greedy = decoder.deterministic
        params = [
            SamplingParams(
                n=1, max_tokens=max_new_tokens, temperature=0.0 if greedy else 1.0, top_p=1.0,
                seed=None if greedy else int(seed), logprobs=TOP_K, stop=[s for s in stop if s] or None,
                stop_token_ids=sorted(self.eos_token_ids), skip_special_tokens=True, extra_args={ROW_KEY: [call, r]},
            )
            for r, seed in enumerate(seeds)
        ]
        with clock("forward"):
            outputs = self.llm.generate([{"prompt_token_ids": row} for row in rows], params, use_tqdm=False)
        with clock("records"):
            gens = []
            for r, output in enumerate(outputs):
                completion = output.outputs[0]
                gens.append(to_generation(completion, *self.steps.records(r, completion.token_ids), tokenizer=self.tokenizer,
                                          eos_token_ids=self.eos_token_ids, stop=stop, top_k=TOP_K))
            return gens

    def describe(self) -> dict[str, str]:
        """Tags for tracking: name, source, fingerprint, dtype and config as the transformers
        backend gives them, and the backend with vLLM's version."""
        dtype = getattr(getattr(self.llm.llm_engine, "model_config", None), "dtype", None)
        return {
            "model.name": self.name,
            "model.source": self.source,
            "model.fingerprint": self.fingerprint,
            "model.dtype": str(dtype).removeprefix("torch."),
            "model.config": json.dumps({"type": self.config.model_type, "vocab": self.config.vocab_size}),
            "model.backend": f"vllm {self.vllm_version}",
        }
