"""The vLLM backend (``entropy_bench.models.vllm_backend``).

Without vLLM: the conversion of vLLM's outputs to :class:`Generation` records is checked on
recorded, vLLM-shaped outputs made from a real decode of the transformers backend on the tiny
model — its own per-step logits are fed to the logits processor through a stand-in of vLLM's V1
engine loop (persistent batch, finished rows removed and the batch condensed, a discarded
partial-prefill sample), and vLLM's ``CompletionOutput.logprobs`` are built from them as vLLM's
sampler builds them (raw log-probs, the sampled token then the top k by rank) — and the records
must equal the transformers backend's. The processor on a logits batch must equal the suite
decoder applied directly, and record what ``entropy_bench.generation`` records.

With vLLM and a CUDA GPU: :func:`test_vllm_matches_transformers_on_gpu` runs both backends with
greedy decoding on the default model (in a subprocess: the tests' ``TRITON_INTERPRET=1`` must not
reach vLLM's Triton kernels) and writes results/generation/vllm_vs_transformers.json. Otherwise
it is skipped, with :data:`GPU_REASON`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from entropy_bench.generation import _token_stats, generate
from entropy_bench.kernels.softmax_stats import softmax_stats
from entropy_bench.methods.decoders.base import build_decoder
from entropy_bench.models.hf import fingerprint_of, load_model
from entropy_bench.models.vllm_backend import (
    ROW_KEY, TOP_K, DecoderLogitsProcessor, DecoderSteps, eos_token_ids, resolve_weights, to_generation,
)
from entropy_bench.tasks.base import truncate_at_stop

GPU_REASON = "vLLM backend needs the vllm package and a CUDA GPU (pip install -e '.[vllm]')"
REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results" / "generation" / "vllm_vs_transformers.json"

PROMPTS = ["1 + 2 =", "Question: Tom has 3 apples. He gets", "Lena", "5 + 4"]
SEEDS = [11, 12, 13, 14]
MAX_NEW = 12
STOP = ("sesP", "nana")  # on the tiny model's greedy texts: one row stops late, one at once (empty text)


# ---------------------------------------------------------------- stand-ins mirroring vLLM's types (attribute names as vLLM's)


@dataclasses.dataclass
class Logprob:
    """Mirrors ``vllm.logprobs.Logprob``."""

    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclasses.dataclass
class CompletionOutput:
    """Mirrors ``vllm.outputs.CompletionOutput``."""

    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclasses.dataclass
class RequestOutput:
    """Mirrors ``vllm.outputs.RequestOutput`` (the fields the backend reads and a few more)."""

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclasses.dataclass
class SamplingParams:
    """Mirrors the one field of ``vllm.SamplingParams`` the processor reads."""

    extra_args: dict | None = None


class MoveDirectionality(enum.Enum):
    """Mirrors ``vllm.v1.sample.logits_processor.MoveDirectionality``."""

    UNIDIRECTIONAL = enum.auto()
    SWAP = enum.auto()


@dataclasses.dataclass(frozen=True)
class BatchUpdate:
    """Mirrors ``vllm.v1.sample.logits_processor.BatchUpdate`` (added: index, params, prompt ids, output ids)."""

    batch_size: int
    removed: list
    added: list
    moved: list


def processor_for(steps: DecoderSteps) -> DecoderLogitsProcessor:
    """The processor as vLLM builds it, minus vLLM's base class."""
    return type("Processor", (DecoderLogitsProcessor,), {"steps": steps})(None, torch.device("cpu"), False)


# ---------------------------------------------------------------- recording the transformers backend's steps


class Recording:
    """A decoder that is ``inner`` and keeps the logits it was given and the tokens drawn at each step."""

    large_model = None

    def __init__(self, inner):
        self.inner, self.logits, self.tokens = inner, [], []

    @property
    def deterministic(self):
        return self.inner.deterministic

    @property
    def id(self):
        return self.inner.id

    def init_state(self, batch_size, device):
        return self.inner.init_state(batch_size, device)

    def start(self, state, context, tokenizer=None, seeds=None):
        return self.inner.start(state, context, tokenizer, seeds)

    def step(self, logits, state):
        self.logits.append(logits.clone())
        return self.inner.step(logits, state)

    def observe(self, state, logits, tokens):
        self.tokens.append(tokens.clone())
        return self.inner.observe(state, logits, tokens)


def logprob_dict(z: torch.Tensor, token: int, tokenizer) -> dict[int, Logprob]:
    """One position of ``CompletionOutput.logprobs`` as vLLM's V1 sampler makes it: raw log-probs
    (log_softmax of the model's logits), the sampled token with its rank (tokens at least as
    probable), then the top k with ranks 1 … k (a sampled token among them keeps its first place)."""
    raw = z.float().log_softmax(-1)
    top = raw.topk(TOP_K)
    position = {token: Logprob(float(raw[token]), int((raw >= raw[token]).sum()), tokenizer.decode([token]))}
    position.update({int(i): Logprob(float(v), k + 1, tokenizer.decode([int(i)]))
                     for k, (v, i) in enumerate(zip(top.values, top.indices))})
    return position


def finish_rows(where: dict[int, int], finished) -> BatchUpdate:
    """The ``BatchUpdate`` of vLLM's persistent batch when ``finished`` rows leave it: their batch
    indices removed, then the rows at the highest indices moved into the holes (``condense``);
    ``where`` (row → batch index) is updated."""
    removed = [where.pop(r) for r in finished]
    moved = []
    for hole in sorted(removed):
        last = max(where.values(), default=-1)
        if last > hole:
            row = next(r for r, i in where.items() if i == last)
            where[row] = hole
            moved.append((last, hole, MoveDirectionality.UNIDIRECTIONAL))
    return BatchUpdate(len(where), removed, [], moved)


def run_like_vllm(recording: Recording, decoder, tokenizer, eos: set[int], stop, contexts):
    """Drive the processor with the recorded logits as vLLM's V1 engine would: one request per
    row; each step a ``BatchUpdate`` (rows finished at the last step removed, the last rows moved
    into the holes), a first step whose samples are discarded (a partial prefill chunk), ``apply``
    on the live rows' logits in batch order, the recorded token appended to each live row's output
    list; a row ends on EOS, a stop string in its decoded text, or ``MAX_NEW`` tokens. Returns
    vLLM-shaped outputs and the :class:`DecoderSteps`."""
    steps = DecoderSteps()
    call = steps.begin(decoder, tokenizer, contexts, SEEDS)
    processor = processor_for(steps)
    B = len(contexts)
    outs: list[list[int]] = [[] for _ in range(B)]
    positions: list[list[dict]] = [[] for _ in range(B)]
    where = {r: r for r in range(B)}  # live row → batch index
    processor.update_state(BatchUpdate(B, [], [(r, SamplingParams({ROW_KEY: [call, r]}), contexts[r], outs[r])
                                               for r in range(B)], []))
    done: set[int] = set()
    newly: list[int] = []
    for t, (z, chosen) in enumerate(zip(recording.logits, recording.tokens)):
        if t > 0:
            if newly:
                processor.update_state(finish_rows(where, newly))
            else:
                processor.update_state(None)
        if not where:
            break
        order = sorted(where, key=where.get)
        batch = z[order].clone()
        if t == 0:
            processor.apply(torch.randn_like(batch))  # a partial prefill chunk: vLLM samples, then drops the token
        warped = processor.apply(batch)
        if decoder.deterministic:
            assert warped.argmax(-1).tolist() == [int(chosen[r]) for r in order]
        newly = []
        for r in order:
            token = int(chosen[r])
            outs[r].append(token)
            positions[r].append(logprob_dict(z[r], token, tokenizer))
            text = tokenizer.decode(outs[r], skip_special_tokens=True)
            if token in eos or truncate_at_stop(text, stop) != text or len(outs[r]) == MAX_NEW:
                newly.append(r)
        done.update(newly)
    outputs = []
    for r in range(B):
        text = tokenizer.decode(outs[r], skip_special_tokens=True)
        hit = next((s for s in stop if s and s in text), None)
        ended = outs[r][-1] in eos or hit is not None
        completion = CompletionOutput(0, truncate_at_stop(text, stop), list(outs[r]), None, positions[r],
                                      "stop" if ended else "length", hit)
        outputs.append(RequestOutput(str(r), None, contexts[r], [completion]))
    return outputs, steps


def assert_same_generation(ours, expected, tol=1e-6):
    assert ours.text == expected.text
    assert ours.token_ids == expected.token_ids
    assert ours.finish_reason == expected.finish_reason
    assert ours.top_ids == expected.top_ids
    for field in ("logprob", "entropy", "warped_logprob", "warped_entropy"):
        assert getattr(ours, field) == pytest.approx(getattr(expected, field), abs=tol), field
    for a, b in zip(ours.top_logprobs, expected.top_logprobs, strict=True):
        assert a == pytest.approx(b, abs=tol)
    assert ours.extra == expected.extra == {}


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def _contexts(lm, n_per_prompt=1):
    ids = [lm.tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    return [ids[r // n_per_prompt] for r in range(len(PROMPTS) * n_per_prompt)]


@pytest.mark.parametrize("spec, stop", [
    ("greedy", STOP),
    ({"name": "top_p", "top_p": 0.9}, STOP),
    ({"name": "mirostat", "tau": 3.0}, ()),  # stateful: one state per request, warped row by row
])
def test_conversion_equals_the_transformers_backend(lm, spec, stop):
    decoder = build_decoder(spec)
    recording = Recording(decoder)
    expected = generate(lm, PROMPTS, recording, seeds=SEEDS, max_new_tokens=MAX_NEW, stop=stop)
    outputs, steps = run_like_vllm(recording, decoder, lm.tokenizer, lm.eos_token_ids, stop, _contexts(lm))
    for r, (output, want) in enumerate(zip(outputs, expected, strict=True)):
        completion = output.outputs[0]
        got = to_generation(completion, *steps.records(r, completion.token_ids), tokenizer=lm.tokenizer,
                            eos_token_ids=lm.eos_token_ids, stop=stop)
        assert_same_generation(got, want)
    if spec == "greedy":  # the case covers a late stop, an immediate stop (empty text) and length finishes
        assert [g.finish_reason for g in expected] == ["stop", "length", "stop", "length"]
        assert expected[2].text == "" and len(expected[2].token_ids) == 1


def test_eos_finish(lm):
    """A row that ends with EOS: the EOS token and its statistics are kept, the text leaves it out."""
    decoder = build_decoder("greedy")
    z = torch.randn(3, len(lm.tokenizer), generator=torch.Generator().manual_seed(0))
    eos = min(lm.eos_token_ids)
    z[2, eos] = 50.0
    tokens = z.argmax(-1).tolist()
    steps = DecoderSteps()
    call = steps.begin(decoder, lm.tokenizer, [[5, 6]], [0])
    processor, out = processor_for(steps), []
    processor.update_state(BatchUpdate(1, [], [(0, SamplingParams({ROW_KEY: [call, 0]}), [5, 6], out)], []))
    for t in range(3):
        processor.apply(z[t : t + 1].clone())
        out.append(tokens[t])
    positions = [logprob_dict(z[t], tokens[t], lm.tokenizer) for t in range(3)]
    completion = CompletionOutput(0, "", list(out), None, positions, "stop", None)
    gen = to_generation(completion, *steps.records(0, out), tokenizer=lm.tokenizer, eos_token_ids=lm.eos_token_ids)
    assert gen.finish_reason == "eos" and gen.token_ids == tokens and tokens[-1] == eos
    assert gen.text == lm.tokenizer.decode(tokens[:2], skip_special_tokens=True)
    logprob = z.log_softmax(-1).gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)
    assert gen.logprob == pytest.approx(logprob.tolist(), abs=1e-6)
    assert gen.entropy == pytest.approx(softmax_stats(z).entropy.tolist(), abs=1e-6)


def test_conversion_refuses_outputs_without_logprobs(lm):
    completion = CompletionOutput(0, "a", [5], None, None, "length")
    with pytest.raises(ValueError, match="logprobs=k"):
        to_generation(completion, [1.0], [0.0], [0.0], tokenizer=lm.tokenizer, eos_token_ids={0})
    completion = CompletionOutput(0, "a", [5, 6], None, [{5: Logprob(-1.0, 1)}, {6: Logprob(-1.0, 1)}], "length")
    with pytest.raises(ValueError, match="different or zero lengths"):
        to_generation(completion, [1.0], [0.0], [0.0], tokenizer=lm.tokenizer, eos_token_ids={0})


# ---------------------------------------------------------------- the logits processor against the decoder


@pytest.mark.parametrize("spec", ["greedy", {"name": "top_p", "top_p": 0.9}, {"name": "min_p", "min_p": 0.1}])
def test_processor_equals_the_decoder_and_records_its_statistics(spec):
    """Rows 0, 2, 3 are the call's requests, row 1 another request (left alone). Two steps, with a
    swap of batch rows 0 and 3 between them: warped rows equal the decoder on the same rows, and
    the records equal ``entropy_bench.generation._token_stats`` of the same logits and tokens."""
    decoder = build_decoder(spec)
    g = torch.Generator().manual_seed(1)
    logits = [torch.randn(4, 64, generator=g) * 3 for _ in range(2)]
    steps = DecoderSteps()
    call = steps.begin(decoder, None, [[1], [2], [3]], [0, 1, 2])
    processor = processor_for(steps)
    outs = {row: [] for row in range(3)}
    index = {0: 0, 2: 1, 3: 2}  # batch index → row
    processor.update_state(BatchUpdate(4, [], [(i, SamplingParams({ROW_KEY: [call, row]}), [row + 1], outs[row])
                                               for i, row in index.items()] + [(1, SamplingParams(), [9], [])], []))
    chosen: dict[int, list[int]] = {row: [] for row in range(3)}
    per_row: dict[int, list[torch.Tensor]] = {row: [] for row in range(3)}
    for t, z in enumerate(logits):
        if t == 1:
            processor.update_state(BatchUpdate(4, [], [], [(0, 3, MoveDirectionality.SWAP)]))
            index = {3: 0, 2: 1, 0: 2}
        ours = [i for i in sorted(index)]
        got = processor.apply(z.clone())
        want, _ = decoder(z[ours], None)
        torch.testing.assert_close(got[ours], want, atol=0, rtol=0)
        torch.testing.assert_close(got[1], z[1], atol=0, rtol=0)
        g_tokens = torch.multinomial(want.softmax(-1), 1, generator=g).squeeze(-1)
        for k, i in enumerate(ours):
            row = index[i]
            outs[row].append(int(g_tokens[k]))
            chosen[row].append(int(g_tokens[k]))
            per_row[row].append(z[i])
    for row in range(3):
        z = torch.stack(per_row[row])
        warped, _ = decoder(z, None)
        tokens = torch.tensor(chosen[row])
        stats = _token_stats(z, warped, tokens, torch.ones(len(z), dtype=torch.bool), TOP_K)
        entropy, warped_entropy, warped_logprob = steps.records(row, outs[row])
        assert entropy == pytest.approx(stats["entropy"].tolist(), abs=1e-6)
        assert warped_entropy == pytest.approx(stats["warped_entropy"].tolist(), abs=1e-6)
        assert warped_logprob == pytest.approx(stats["warped_logprob"].tolist(), abs=1e-6)
        if spec == "greedy":
            assert warped_entropy == pytest.approx([0.0, 0.0], abs=1e-6)


def test_a_discarded_sample_is_not_recorded():
    """vLLM samples a row mid-prefill and drops the token: the next step at the same output
    position replaces the first, for the records and for a stateful decoder's state."""
    decoder = build_decoder({"name": "mirostat", "tau": 3.0})
    g = torch.Generator().manual_seed(2)
    junk, real = torch.randn(1, 32, generator=g), torch.randn(1, 32, generator=g)
    steps = DecoderSteps()
    call = steps.begin(decoder, None, [[1]], [0])
    processor, out = processor_for(steps), []
    processor.update_state(BatchUpdate(1, [], [(0, SamplingParams({ROW_KEY: [call, 0]}), [1], out)], []))
    processor.apply(junk.clone())
    got = processor.apply(real.clone())
    state = decoder.init_state(1, torch.device("cpu"))
    want, _ = decoder(real, state)
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    out.append(int(want.argmax()))
    entropy, _, _ = steps.records(0, out)
    assert entropy == pytest.approx(softmax_stats(real).entropy.tolist(), abs=1e-6)


class FakeLLM:
    """A stand-in of ``vllm.LLM`` for :class:`VLLMBackend`'s own code (engine arguments, sampling
    parameters, prompts, reading the outputs): the tiny model through transformers, one full
    forward pass per live request and step, the backend's logits processor class instantiated and
    driven as vLLM's V1 engine drives it (:func:`finish_rows`), greedy or seeded sampling, and
    vLLM's stopping rules (``max_tokens``, ``stop_token_ids``, stop strings). Not vLLM: it says
    nothing of vLLM's behaviour, only that the backend's glue reads and writes vLLM's names."""

    def __init__(self, **kwargs):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.kwargs = kwargs
        self.model = AutoModelForCausalLM.from_pretrained(kwargs["model"], dtype=torch.float32).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(kwargs["tokenizer"])
        self.processor = kwargs["logits_processors"][0](None, torch.device("cpu"), False)
        self.llm_engine = type("Engine", (), {"model_config": type("ModelConfig", (), {"dtype": torch.float32})})()

    def generate(self, prompts, params, use_tqdm=True):
        rows = [list(p["prompt_token_ids"]) for p in prompts]
        outs: list[list[int]] = [[] for _ in rows]
        positions: list[list[dict]] = [[] for _ in rows]
        generators = [None if p.seed is None else torch.Generator().manual_seed(p.seed) for p in params]
        where = {i: i for i in range(len(rows))}
        self.processor.update_state(BatchUpdate(len(rows), [], [(i, p, rows[i], outs[i]) for i, p in enumerate(params)], []))
        while where:
            order = sorted(where, key=where.get)
            with torch.no_grad():
                z = torch.stack([self.model(torch.tensor([rows[i] + outs[i]])).logits[0, -1] for i in order])
            warped = self.processor.apply(z.clone())
            finished = []
            for k, i in enumerate(order):
                p = params[i]
                if p.temperature == 0:
                    token = int(warped[k].argmax())
                else:
                    token = int(torch.multinomial(warped[k].softmax(-1), 1, generator=generators[i]))
                outs[i].append(token)
                positions[i].append(logprob_dict(z[k], token, self.tokenizer))
                text = self.tokenizer.decode(outs[i], skip_special_tokens=p.skip_special_tokens)
                if len(outs[i]) >= p.max_tokens or token in p.stop_token_ids or any(s in text for s in p.stop or ()):
                    finished.append(i)
            if where.keys() - set(finished):
                self.processor.update_state(finish_rows(where, finished))
            else:
                where.clear()
        return [RequestOutput(str(i), None, rows[i], [CompletionOutput(
            0, self.tokenizer.decode(outs[i], skip_special_tokens=True), outs[i], None, positions[i],
            "length" if len(outs[i]) >= params[i].max_tokens else "stop")]) for i in range(len(rows))]


@dataclasses.dataclass
class FakeSamplingParams:
    """Stands in for ``vllm.SamplingParams`` with the arguments the backend passes (a wrong name fails)."""

    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    logprobs: int | None = None
    stop: list[str] | None = None
    stop_token_ids: list[int] | None = None
    skip_special_tokens: bool = True
    extra_args: dict | None = None


@dataclasses.dataclass
class FakeEngineArgs:
    """Stands in for ``vllm.EngineArgs``: the backend passes only the arguments it has."""

    model: str = ""
    tokenizer: str | None = None
    dtype: str = "auto"
    seed: int = 0
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    logits_processors: list | None = None
    generation_config: str = "auto"
    logprobs_mode: str = "raw_logprobs"


@pytest.fixture
def fake_vllm(monkeypatch):
    import abc
    import types

    class LogitsProcessor(abc.ABC):  # vllm.v1.sample.logits_processor.LogitsProcessor, abstract as vLLM's
        @abc.abstractmethod
        def apply(self, logits): ...

        @abc.abstractmethod
        def update_state(self, batch_update): ...

        @abc.abstractmethod
        def is_argmax_invariant(self): ...

    vllm = types.ModuleType("vllm")
    vllm.__version__ = "0.0-fake"
    vllm.LLM, vllm.SamplingParams, vllm.EngineArgs = FakeLLM, FakeSamplingParams, FakeEngineArgs
    processors = types.ModuleType("vllm.v1.sample.logits_processor")
    processors.LogitsProcessor = LogitsProcessor
    for name, module in (("vllm", vllm), ("vllm.v1", types.ModuleType("vllm.v1")),
                         ("vllm.v1.sample", types.ModuleType("vllm.v1.sample")),
                         ("vllm.v1.sample.logits_processor", processors)):
        monkeypatch.setitem(sys.modules, name, module)
    for name in ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_USE_V2_MODEL_RUNNER"):
        monkeypatch.setenv(name, "unset by the test")  # restored after it
    return vllm


def test_backend_glue_on_a_stand_in_of_vllm(fake_vllm, lm, tiny_model_dir):
    """:class:`VLLMBackend` end to end on :class:`FakeLLM`: greedy records equal the transformers
    backend's (to 1e-5: full forward passes against its KV cache), with stop strings; a sampled
    decoder gives records of the right shape; engine arguments, tags and the call count."""
    from entropy_bench.models.base import GenerationBackend
    from entropy_bench.models.vllm_backend import VLLMBackend

    backend = VLLMBackend(str(tiny_model_dir))
    assert isinstance(backend, GenerationBackend)
    args = backend.llm.kwargs
    assert "async_scheduling" not in args  # not a field of this EngineArgs: left out
    assert (args["dtype"], args["logprobs_mode"], args["generation_config"]) == ("float32", "raw_logprobs", "vllm")
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0" and os.environ["VLLM_USE_V2_MODEL_RUNNER"] == "0"
    assert backend.fingerprint == backend.describe()["model.fingerprint"] == fingerprint_of(lm.fingerprint, "backend=vllm")
    assert backend.describe()["model.dtype"] == lm.describe()["model.dtype"] == "float32"
    greedy = build_decoder("greedy")
    want = lm.generate(PROMPTS, greedy, seeds=SEEDS, max_new_tokens=MAX_NEW, stop=STOP)
    got = backend.generate(PROMPTS, greedy, seeds=SEEDS, max_new_tokens=MAX_NEW, stop=STOP)
    for a, b in zip(got, want, strict=True):
        assert_same_generation(a, b, tol=1e-5)
    assert backend.forward_calls == MAX_NEW  # one engine step per token of the longest row
    sampled = backend.generate(PROMPTS[:2], build_decoder({"name": "min_p", "min_p": 0.1}), seeds=[1, 2, 3, 4],
                               max_new_tokens=6, n_per_prompt=2)
    assert len(sampled) == 4 and all(len(g.token_ids) == len(g.warped_logprob) == len(g.entropy) == 6 for g in sampled)
    assert all(lp <= 0 for g in sampled for lp in g.warped_logprob)


def test_weights_resolve_as_the_transformers_backend(lm, tiny_model_dir):
    """Same weights, same source and fingerprint (so the same cache keys), same EOS ids."""
    from transformers import AutoTokenizer

    weights, source, fingerprint = resolve_weights(str(tiny_model_dir))
    assert (source, fingerprint) == (lm.source, lm.fingerprint)
    assert eos_token_ids(weights, AutoTokenizer.from_pretrained(weights)) == lm.eos_token_ids
    with pytest.raises(ValueError, match="transformers-only"):
        resolve_weights(f"{tiny_model_dir}#layers=1")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_without_vllm_the_backend_says_how_to_install_it():
    from entropy_bench.models.vllm_backend import VLLMBackend

    with pytest.raises(ImportError, match=r"pip install -e '\.\[vllm\]' on a machine with a CUDA GPU"):
        VLLMBackend("unused")


# ---------------------------------------------------------------- on a GPU: both backends, greedy, the default model

GPU_PROMPTS = [
    "Question: Tom has 3 apples. He gets 4 more. How many apples does Tom have now?\nAnswer:",
    "The capital of France is",
    "Write a haiku about the sea.",
    "def fibonacci(n):",
]
GPU_MAX_NEW = 32
THROUGHPUT_ROWS, THROUGHPUT_NEW = 64, 128


@pytest.mark.slow
def test_vllm_matches_transformers_on_gpu(tmp_path):
    """Greedy on :data:`GPU_PROMPTS` through both backends: tokens equal, log-probs, entropies and
    top-k log-probs within 1e-3; throughput of both (64 rows × 128 new tokens, greedy) written to
    results/generation/vllm_vs_transformers.json."""
    pytest.importorskip("vllm", reason=GPU_REASON)
    if not torch.cuda.is_available():
        pytest.skip(GPU_REASON)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(REPO / "tests")
    done = subprocess.run([sys.executable, __file__, str(RESULTS)], env=env, cwd=tmp_path, timeout=1500,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    result = json.loads(RESULTS.read_text())
    for row in result["comparison"]["rows"]:
        assert row["same_tokens"], row
        assert row["max_abs_logprob_diff"] <= 1e-3, row
        assert row["max_abs_entropy_diff"] <= 1e-3, row
        assert row["max_abs_top_logprob_diff"] <= 1e-3, row
    assert result["fingerprints_equal"]


def _gpu_comparison(out_path: str) -> None:
    """The GPU run (a subprocess of the test, see the module docstring)."""
    from entropy_bench.methods.registry import DECODERS
    from entropy_bench.models.hf import DEFAULT_MODEL
    from entropy_bench.models.vllm_backend import VLLMBackend

    greedy = DECODERS.build("greedy")
    lm = load_model(DEFAULT_MODEL)
    lm.model.to("cuda")
    backend = VLLMBackend(DEFAULT_MODEL, dtype="float32", gpu_memory_utilization=0.4)

    def run(model, prompts, max_new):
        model.generate(prompts[:2], greedy, seeds=[0, 1], max_new_tokens=4)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        gens = model.generate(prompts, greedy, seeds=list(range(len(prompts))), max_new_tokens=max_new)
        torch.cuda.synchronize()
        return gens, time.perf_counter() - start

    theirs, _ = run(lm, GPU_PROMPTS, GPU_MAX_NEW)
    ours, _ = run(backend, GPU_PROMPTS, GPU_MAX_NEW)
    rows = []
    for prompt, a, b in zip(GPU_PROMPTS, theirs, ours, strict=True):
        n = min(len(a.token_ids), len(b.token_ids))

        def diff(x, y):
            x, y = torch.tensor(x[:n], dtype=torch.float64), torch.tensor(y[:n], dtype=torch.float64)
            return float((x - y).abs().max()) if n else 0.0

        rows.append({
            "prompt": prompt, "tokens": [len(a.token_ids), len(b.token_ids)],
            "same_tokens": a.token_ids == b.token_ids, "same_text": a.text == b.text,
            "finish_reason": [a.finish_reason, b.finish_reason],
            "max_abs_logprob_diff": diff(a.logprob, b.logprob), "max_abs_entropy_diff": diff(a.entropy, b.entropy),
            "max_abs_top_logprob_diff": diff(a.top_logprobs, b.top_logprobs),
        })
    many = [GPU_PROMPTS[i % len(GPU_PROMPTS)] for i in range(THROUGHPUT_ROWS)]
    throughput = {}
    for label, model in (("transformers", lm), ("vllm", backend)):
        gens, seconds = run(model, many, THROUGHPUT_NEW)
        tokens = sum(len(g.token_ids) for g in gens)
        throughput[label] = {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}
    result = {
        "model": DEFAULT_MODEL, "dtype": "float32", "device": torch.cuda.get_device_name(),
        "vllm": backend.vllm_version, "fingerprints_equal": backend.fingerprint == fingerprint_of(lm.fingerprint, "backend=vllm"),
        "comparison": {"decoder": "greedy", "max_new_tokens": GPU_MAX_NEW, "rows": rows},
        "throughput": {"decoder": "greedy", "rows": THROUGHPUT_ROWS, "max_new_tokens": THROUGHPUT_NEW, **throughput,
                       "speedup": throughput["vllm"]["tokens_per_second"] / throughput["transformers"]["tokens_per_second"]},
    }
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    _gpu_comparison(sys.argv[1])


# --- bench run --backend -----------------------------------------------------------------------


@pytest.mark.parametrize("backend, message", [
    ("vllm", "vllm is not installed; the vLLM backend needs a CUDA GPU and pip install -e '.[vllm]'"),
    ("vlm", "did you mean 'vllm'"),
])
def test_backend_option_without_vllm_exits_2_writing_nothing(backend, message, tmp_path, monkeypatch):
    import importlib.util

    from typer.testing import CliRunner

    from entropy_bench.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    done = CliRunner().invoke(app, ["run", "--backend", backend, "--tracking-uri", f"sqlite:///{tmp_path / 'r.db'}",
                                    "--cache-dir", str(tmp_path / "cache")])
    assert done.exit_code == 2 and message in done.output
    assert not (tmp_path / "r.db").exists() and not (tmp_path / "cache").exists()


def test_pool_loads_vllm_names_on_the_vllm_backend(tiny_model_dir, monkeypatch):
    from entropy_bench.models import pool

    assert pool.weights_of(f"vllm:{tiny_model_dir}") == str(tiny_model_dir)
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ImportError, match=r"pip install -e '\.\[vllm\]'"):
            pool.load_backend(f"vllm:{tiny_model_dir}")
    assert pool.load_backend(str(tiny_model_dir)).fingerprint  # any other name: the transformers backend
