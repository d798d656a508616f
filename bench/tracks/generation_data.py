"""The generation track's data: each example's answer and samples, from the cache or the model.

An **answer** is the cell decoder's generation for an example (sample index 0, the row seed of
:func:`row_seed`). **Samples** are ``n_samples`` further draws for the sampling-based measures,
sample indices 1 … n with their own row seeds, from ``sample_decoder`` (the cell's decoder by
default). Every generation is cached under :func:`generation_key`, and only the missing ones are
generated — in batches, each written to the cache as soon as it is done, so a killed sweep loses
at most one batch; the samples of one prompt share one prefill (the backend's ``n_per_prompt``).
Statistics that generate text of their own (perturbed questions, their responses) draw through
a :class:`Generator`, cached the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from entropy_bench.cache import content_key
from entropy_bench.clock import untimed
from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.records import Generation

if TYPE_CHECKING:
    from entropy_bench.tracks.generation import GenerationCell


def model_prompt(task, example: dict, lm, max_new_tokens: int) -> str:
    """The prompt ``lm`` reads for ``example``: the task's prompt fitted (``TextTask.fit``) to
    the tokens of ``lm``'s context window left after ``max_new_tokens`` (no limit where the
    model's config names no window)."""
    window = lm.context_window
    budget = sys.maxsize if window is None else window - max_new_tokens
    return task.fit(example, task.prompt(example), lm.tokenizer, budget)


def row_seed(cell_seed: int, example_id: str, sample: int = 0) -> int:
    """The sampling seed of one (example, sample): independent of batching and order."""
    digest = hashlib.sha256(f"{cell_seed}/{example_id}/{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generation_key(
    model_fingerprint: str, prompt: str, cell: "GenerationCell", example_id: str, sample: int = 0,
    large_fingerprint: str | None = None, legacy: bool = False, decoder: Decoder | None = None,
    max_new_tokens: int | None = None, stop: Sequence[str] | None = None,
) -> str:
    """The cache key of one generation. It holds the batch size: a row's tokens do not depend on
    it, but its float statistics do, by up to ~1e-6 (padded batches run other matmul shapes), so
    runs at two batch sizes keep two entries. ``legacy``: the key of entropy-bench 0.1, without it.
    ``decoder``, ``max_new_tokens``, ``stop``: those it is drawn with, if not the cell's (samples
    from a ``sample_decoder``; a statistic's own generations, :class:`Generator`)."""
    large = {} if large_fingerprint is None else {"large_model": large_fingerprint}
    batch = {} if legacy else {"batch_size": cell.batch_size}
    return content_key(
        **large,
        **batch,
        model=model_fingerprint,
        prompt=prompt,
        decoder=(decoder or cell.decoder).id,
        seed=row_seed(cell.seed, example_id, sample),
        max_new_tokens=cell.task_run.max_new_tokens if max_new_tokens is None else max_new_tokens,
        stop=list(cell.task_run.task.stop if stop is None else stop),
    )


def batch_order(prompts: Sequence[str], per_batch: int) -> list[list[int]]:
    """The prompts' indices in batches of ``per_batch``, longest prompt first (by characters, as
    lm-eval sorts its requests): the prompts of a batch have similar lengths and pay for little
    padding. A row's tokens do not depend on its batch-mates, so the order changes no output."""
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    return [order[start : start + per_batch] for start in range(0, len(order), per_batch)]


def in_batches(lm, prompts: Sequence[str], seeds: Sequence[Sequence[int]], decoder: Decoder, *, per_batch: int,
               max_new_tokens: int, stop: Sequence[str], large=None, clock: Callable[[str], Any] = untimed,
               ) -> Iterator[tuple[list[int], list[list[Generation]], float]]:
    """Generate ``len(seeds[i])`` continuations of each prompt (one per seed, from one shared
    prefill), ``per_batch`` prompts per call, and yield each batch as soon as it is done: the
    prompts' indices, their continuations and the seconds per continuation, in the batches of
    :func:`batch_order`. ``clock`` goes to the backend (``bench profile generation``)."""
    for idx in batch_order(prompts, per_batch):
        n = [len(seeds[i]) for i in idx]
        if len(set(n)) > 1:
            raise ValueError(f"in_batches: prompts of one batch need the same number of seeds, got {n}")
        t0 = time.perf_counter()
        gens = lm.generate([prompts[i] for i in idx], decoder, seeds=[s for i in idx for s in seeds[i]],
                           max_new_tokens=max_new_tokens, stop=stop, large=large, n_per_prompt=n[0], clock=clock)
        seconds = (time.perf_counter() - t0) / len(gens)
        yield idx, [gens[k * n[0] : (k + 1) * n[0]] for k in range(len(idx))], seconds


@dataclasses.dataclass
class CellData:
    """A cell's generations, their cache keys, how many were generated now and the seconds they took."""

    generations: list[Generation]
    keys: list[str]
    generated: int
    seconds: float


def cell_generations(
    cell: "GenerationCell", examples: list[dict], prompts: list[str], cache, lm, large_lm=None,
    decoder: Decoder | None = None,
) -> CellData:
    """Every example's generation for ``cell`` (by ``decoder`` instead of the cell's, if given:
    the greedy answers G-NLL reads), from the cache where it is there already."""
    decoder = decoder or cell.decoder
    large_fp = None if large_lm is None else large_lm.fingerprint
    ids = [e["id"] for e in examples]
    keys_ = [generation_key(lm.fingerprint, p, cell, i, large_fingerprint=large_fp, decoder=decoder)
             for i, p in zip(ids, prompts)]
    found = [cache.get("generation", k) for k in keys_]
    for i in [i for i, g in enumerate(found) if g is None]:  # written by 0.1: adopted once, as it is
        found[i] = cache.get("generation", generation_key(lm.fingerprint, prompts[i], cell, ids[i],
                                                          large_fingerprint=large_fp, legacy=True, decoder=decoder))
        if found[i] is not None:
            cache.put("generation", keys_[i], found[i])
    missing = [i for i, g in enumerate(found) if g is None]
    for idx, gens, seconds in in_batches(lm, [prompts[i] for i in missing], [[row_seed(cell.seed, ids[i])] for i in missing],
                                         decoder, per_batch=cell.batch_size, max_new_tokens=cell.task_run.max_new_tokens,
                                         stop=cell.task_run.task.stop, large=large_lm):
        for j, (g,) in zip(idx, gens):
            found[missing[j]] = {**g.to_dict(), "seconds": seconds}
            cache.put("generation", keys_[missing[j]], found[missing[j]])
    gens = [_generation(r) for r in found]
    return CellData(gens, keys_, len(missing), sum(r.get("seconds", 0.0) for r in found))


def _generation(record: dict) -> Generation:
    """A cached record as a :class:`Generation` (without the seconds it took)."""
    return Generation.from_dict({k: v for k, v in record.items() if k != "seconds"})


@dataclasses.dataclass
class SampleData:
    """A cell's samples per example, their cache keys, how many were generated now and their seconds."""

    samples: list[list[Generation]]
    keys: list[list[str]]
    generated: int
    seconds: float


def cell_samples(cell: "GenerationCell", examples: list[dict], prompts: list[str], cache, lm, large_lm=None) -> SampleData:
    """Every example's ``cell.n_samples`` samples (module docstring), from the cache where they are:
    samples 1 … n of the example's own row, drawn by a :class:`Generator` with the cell's sample
    decoder; batches hold ``batch_size // n`` prompts (at least one)."""
    generator = Generator(cell, lm, cache, large_lm)
    found, keys = generator.records(prompts, [e["id"] for e in examples], cell.n_samples)
    samples = [[_generation(r) for r in row] for row in found]
    return SampleData(samples, keys, generator.generated, sum(r.get("seconds", 0.0) for row in found for r in row))


def draw_rows(lm, cache, prompts: list[str], keys: list[list[str]], seeds: list[list[int]], decoder: Decoder, *,
              per_batch: int, max_new_tokens: int, stop: Sequence[str], large=None) -> tuple[list[list[dict]], int]:
    """The records of ``len(keys[i])`` continuations of each prompt, from the cache where they are,
    and how many the model generated now.

    A prompt with any continuation missing gets all n drawn again from one shared prefill (a row's
    tokens do not depend on its batch, so the ones found are reproduced), the missing ones stored
    as soon as their batch of ``per_batch`` prompts is done."""
    n = len(keys[0]) if keys else 0
    found = [[cache.get("generation", k) for k in row] for row in keys]
    missing = [i for i, row in enumerate(found) if any(r is None for r in row)]
    for idx, gens, seconds in in_batches(lm, [prompts[i] for i in missing], [seeds[i] for i in missing], decoder,
                                         per_batch=per_batch, max_new_tokens=max_new_tokens, stop=stop, large=large):
        for j, row in zip(idx, gens):
            i = missing[j]
            for k in range(n):
                if found[i][k] is None:
                    found[i][k] = {**row[k].to_dict(), "seconds": seconds}
                    cache.put("generation", keys[i][k], found[i][k])
    return found, n * len(missing)


@dataclasses.dataclass
class Generator:
    """The statistics graph's input ``generator``: the cell's model and cache, for statistics that
    generate text of their own (the perturbation steps: paraphrased questions and the responses
    to them).

    Each draw is cached under the :func:`generation_key` of its prompt, row, sample index and
    settings (:func:`draw_rows`), so a killed sweep keeps all but the batch in flight, and a draw
    is found again by every cell whose key it matches (a statistic that fixes its own decoder,
    as the paraphraser does, shares its draws across the cells' decoders). ``generated`` and
    ``cached`` count the generations made now and found; ``key`` is what the draws depend on
    beyond their prompts, chained into the statistics' cache keys.
    """

    cell: "GenerationCell"
    lm: Any
    cache: Any
    large_lm: Any = None
    generated: int = 0
    cached: int = 0

    @property
    def decoder(self) -> Decoder:
        """The decoder of the cell's samples, which draws a statistic's responses."""
        return self.cell.sample_decoder or self.cell.decoder

    @property
    def key(self) -> str:
        large = self._large(self.decoder)
        return content_key(model=self.lm.fingerprint, large_model=None if large is None else large.fingerprint,
                           seed=self.cell.seed, batch_size=self.cell.batch_size, decoder=self.decoder.id,
                           max_new_tokens=self.cell.task_run.max_new_tokens)

    def prompt(self, example: dict) -> str:
        """The prompt the cell's model reads for ``example`` (:func:`model_prompt`)."""
        return model_prompt(self.cell.task_run.task, example, self.lm, self.cell.task_run.max_new_tokens)

    def _large(self, decoder: Decoder):
        return self.large_lm if decoder is self.cell.decoder else None

    def draw(self, prompts: list[str], rows: list[str], n: int, decoder: Decoder | None = None,
             max_new_tokens: int | None = None, stop: Sequence[str] | None = None) -> list[list[Generation]]:
        """``n`` continuations of each prompt, the k-th (k = 1 … n) seeded as sample k of row
        ``rows[i]`` (:func:`row_seed`); drawn by :attr:`decoder` with the task's ``max_new_tokens``
        and stop strings unless others are given. A row named by an example's id with the
        example's own prompt gives exactly that example's samples."""
        found, _ = self.records(prompts, rows, n, decoder, max_new_tokens, stop)
        return [[_generation(r) for r in row] for row in found]

    def records(self, prompts: list[str], rows: list[str], n: int, decoder: Decoder | None = None,
                max_new_tokens: int | None = None, stop: Sequence[str] | None = None,
                ) -> tuple[list[list[dict]], list[list[str]]]:
        """:meth:`draw`'s cached records (with the seconds each took) and their cache keys."""
        cell, decoder = self.cell, decoder or self.decoder
        max_new_tokens = cell.task_run.max_new_tokens if max_new_tokens is None else max_new_tokens
        stop = tuple(cell.task_run.task.stop if stop is None else stop)
        large = self._large(decoder)
        large_fp = None if large is None else large.fingerprint
        keys = [[generation_key(self.lm.fingerprint, p, cell, row, sample=k, large_fingerprint=large_fp, decoder=decoder,
                                max_new_tokens=max_new_tokens, stop=stop) for k in range(1, n + 1)]
                for p, row in zip(prompts, rows)]
        seeds = [[row_seed(cell.seed, row, k) for k in range(1, n + 1)] for row in rows]
        found, generated = draw_rows(self.lm, self.cache, prompts, keys, seeds, decoder,
                                     per_batch=max(1, cell.batch_size // n), max_new_tokens=max_new_tokens,
                                     stop=stop, large=large)
        self.generated += generated
        self.cached += n * len(prompts) - generated
        return found, keys
