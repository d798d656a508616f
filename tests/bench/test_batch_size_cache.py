"""Generations are cached per batch size (their float statistics depend on it, their tokens do
not), and entries written by entropy-bench 0.1, whose keys had no batch size, are adopted."""

import pytest

from entropy_bench import sweep
from entropy_bench.cache import Cache
from entropy_bench.models.pool import Models
from entropy_bench.runner import run_sweep
from entropy_bench.tables import load_examples
from entropy_bench.tracks.generation_data import generation_key

from sweep_fixtures import CountingLoader, tiny_sweep


def entries(cache_dir):
    return sorted(p.name for p in (cache_dir / "generation").rglob("*.pt"))


def test_two_batch_sizes_keep_two_entries_with_the_same_tokens(tiny_model_dir, tmp_path):
    cache = tmp_path / "cache"
    tables = {}
    for batch_size in (1, 4):
        spec = sweep.parse(tiny_sweep(tiny_model_dir, batch_size=batch_size, decoders=["greedy"]))
        uri = f"sqlite:///{tmp_path / f'b{batch_size}.db'}"
        result = run_sweep(spec, tracking_uri=uri, cache_dir=cache, progress=False)
        assert result.generated_examples == 6  # batch 4 does not reuse batch 1's entries
        tables[batch_size] = load_examples(uri, "tiny").sort_values("id", ignore_index=True)
    assert len(entries(cache)) == 12
    one, four = tables[1], tables[4]
    assert one["text"].tolist() == four["text"].tolist() and one["n_tokens"].tolist() == four["n_tokens"].tolist()
    assert one["mean_entropy"].to_numpy() == pytest.approx(four["mean_entropy"].to_numpy(), abs=1e-5)


def test_an_entry_without_batch_size_from_0_1_is_adopted_once(tiny_model_dir, tmp_path):
    spec = sweep.parse(tiny_sweep(tiny_model_dir, decoders=["greedy"]))
    cache_dir = tmp_path / "cache"
    run_sweep(spec, tracking_uri=f"sqlite:///{tmp_path / 'a.db'}", cache_dir=cache_dir, progress=False)
    # Rewrite the cache as 0.1 left it: the same records under the keys without batch size.
    cache, (cell,) = Cache(cache_dir), sweep.expand(spec)
    lm = Models()(cell.model)
    examples = cell.task_run.task.load(cell.task_run.split, cell.task_run.limit)
    legacy = tmp_path / "legacy"
    for example in examples:
        prompt = cell.task_run.task.prompt(example)
        record = cache.get("generation", generation_key(lm.fingerprint, prompt, cell, example["id"]))
        Cache(legacy).put("generation", generation_key(lm.fingerprint, prompt, cell, example["id"], legacy=True), record)
    loader = CountingLoader()
    result = run_sweep(spec, tracking_uri=f"sqlite:///{tmp_path / 'b.db'}", cache_dir=legacy,
                       resources={"models": Models(loader)}, progress=False)
    assert loader.calls == 0 and result.generated_examples == 0
    assert len(entries(legacy)) == 2 * len(examples)  # adopted: copied under the keys with batch size
