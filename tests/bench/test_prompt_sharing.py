"""Shared-prompt decode attention against its references: PyTorch's scaled_dot_product_attention
over each row's concatenated columns (the prompt's, repeated, then the row's own), in float64,
through row selection; and whole generations of tiny models (GPT-2; Llama with grouped-query
attention) with the prompt's cache shared against the same model with it repeated per row."""

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from entropy_bench.generation import generate
from entropy_bench.methods.registry import DECODERS
from entropy_bench.models import prompt_sharing
from entropy_bench.models.hf import load_model
from entropy_bench.models.prompt_sharing import Layout, SharedPromptLayer, split_attention

KV_HEADS, GROUP, DIM, COLUMNS = 2, 3, 8, 7


def _layer(owner: list[int], seed: int = 0) -> tuple[SharedPromptLayer, torch.Tensor, torch.Tensor]:
    """A layer for prompts 0 … P−1 (prompt 1 with 2 columns of left padding) and rows continuing
    ``owner``, 4 generated columns written; returns it, the queries and the generated columns' mask."""
    g = torch.Generator().manual_seed(seed)
    prompts, rows = max(owner) + 1, len(owner)
    keys, values = (torch.randn(prompts, KV_HEADS, COLUMNS, DIM, generator=g, dtype=torch.float64) for _ in range(2))
    mask = torch.ones(prompts, COLUMNS, dtype=torch.bool)
    mask[1 % prompts, :2] = False
    layer = SharedPromptLayer(keys, values, Layout.of(torch.tensor(owner), mask), capacity=6)
    for _ in range(4):
        layer.update(*(torch.randn(rows, KV_HEADS, 1, DIM, generator=g, dtype=torch.float64) for _ in range(2)))
    query = torch.randn(rows, KV_HEADS * GROUP, 1, DIM, generator=g, dtype=torch.float64)
    generated = torch.ones(rows, 4, dtype=torch.bool)
    generated[0, 1] = False  # a masked generated column too
    return layer, query, generated


def _reference(layer: SharedPromptLayer, query: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """SDPA over each row's prompt columns (its prompt's, copied) followed by its own."""
    owner = layer.layout.owner
    keys = torch.cat([layer.prompt_keys[owner], layer.key_store[:, :, : layer.length]], dim=2)
    values = torch.cat([layer.prompt_values[owner], layer.value_store[:, :, : layer.length]], dim=2)
    mask = torch.cat([layer.layout.prompt_mask[owner], generated], dim=1)[:, None, None, :]
    out = torch.nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=mask, enable_gqa=True)
    return out.transpose(1, 2)


def _split(layer, query, generated) -> torch.Tensor:
    k, v = layer.update(*(torch.zeros(len(query), KV_HEADS, 0, DIM, dtype=torch.float64) for _ in range(2)))
    mask = torch.cat([torch.ones(len(query), COLUMNS, dtype=torch.bool), generated], dim=1)[:, None, None, :]
    return split_attention(query, k, v, mask, scaling=None)


@pytest.mark.parametrize("owner", [[0, 0, 1, 1, 1, 2], [0, 1, 2], [0, 0, 0, 0]])
def test_split_attention_equals_sdpa_over_each_rows_concatenated_columns(owner):
    layer, query, generated = _layer(owner)
    torch.testing.assert_close(_split(layer, query, generated), _reference(layer, query, generated), atol=1e-12, rtol=0)


def test_selecting_rows_keeps_their_attention_and_drops_prompts_left_without_rows():
    layer, query, generated = _layer([0, 0, 1, 1, 1, 2], seed=1)
    want = _reference(layer, query, generated)
    layer.batch_select_indices(torch.tensor([1, 4, 5]))  # prompt 0's second row, prompt 1's third, prompt 2's
    assert layer.prompt_keys.shape[0] == 3 and layer.layout.owner.tolist() == [0, 1, 2]
    layer.batch_select_indices(torch.tensor([1, 2]))  # prompt 0 left without rows
    assert layer.prompt_keys.shape[0] == 2 and layer.layout.owner.tolist() == [0, 1]
    assert layer.layout.slot.tolist() == [0, 0] and layer.get_seq_length() == COLUMNS + 4
    keep = torch.tensor([4, 5])
    torch.testing.assert_close(_split(layer, query[keep], generated[keep]), want[keep], atol=1e-12, rtol=0)


def test_a_query_whose_prompt_columns_are_all_masked_attends_to_its_own_columns_only():
    layer, query, generated = _layer([0, 1], seed=2)
    layer.layout.prompt_mask[1] = False
    got = _split(layer, query, generated)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, _reference(layer, query, generated), atol=1e-12, rtol=0)


def test_split_keys_fail_loudly_outside_their_attention_and_only_decode_steps_are_taken():
    layer, query, _ = _layer([0, 0])
    k, v = layer.update(*(torch.zeros(2, KV_HEADS, 0, DIM, dtype=torch.float64) for _ in range(2)))
    module = torch.nn.Module()
    with pytest.raises((TypeError, AttributeError)):
        sdpa_attention_forward(module, query, k, v, None)
    with pytest.raises(ValueError, match="one query position"):
        split_attention(query.expand(2, -1, 3, -1), k, v, None, None)
    with pytest.raises(NotImplementedError):
        layer.batch_repeat_interleave(2)


@pytest.fixture(scope="module")
def tiny_llama(tiny_model_dir, tmp_path_factory):
    """A 2-layer Llama with grouped-query attention (4 query heads, 2 KV heads) and the tiny
    GPT-2's tokenizer, saved and loaded through ``load_model``, as a real model is."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


PROMPTS = ["1 + 2 =", "Question: Tom has 3 apples. He gets", "Lena"]


@pytest.mark.parametrize("model", ["gpt2", "llama-gqa"])
def test_samples_from_a_shared_prompt_cache_equal_those_from_a_repeated_one(model, tiny_model_dir, tiny_llama, monkeypatch):
    """n = 3 samples of each prompt, stop strings ending rows early (the batch shrinks, prompts
    leave it): the same tokens and statistics to round-off as with the cache repeated per row,
    and the split path did run."""
    lm = load_model(str(tiny_model_dir if model == "gpt2" else tiny_llama))
    assert prompt_sharing.enabled(lm.model)
    dec, seeds = DECODERS.build("temperature", temperature=1.0), list(range(9))
    split_calls = []
    monkeypatch.setattr(prompt_sharing, "split_attention",
                        lambda *a: split_calls.append(1) or split_attention(*a))
    shared = generate(lm, PROMPTS, dec, seeds=seeds, max_new_tokens=10, stop=["e"], n_per_prompt=3)
    assert split_calls and {g.finish_reason for g in shared} >= {"stop", "length"}
    lm.model.set_attn_implementation("sdpa")
    assert not prompt_sharing.enabled(lm.model)
    repeated = generate(lm, PROMPTS, dec, seeds=seeds, max_new_tokens=10, stop=["e"], n_per_prompt=3)
    assert [g.token_ids for g in shared] == [g.token_ids for g in repeated]
    for a, b in zip(shared, repeated):
        torch.testing.assert_close(torch.tensor(a.logprob), torch.tensor(b.logprob), atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.tensor(a.entropy), torch.tensor(b.entropy), atol=1e-5, rtol=0)


def test_enable_leaves_an_eager_model_as_it_is(tiny_model_dir):
    lm = load_model(str(tiny_model_dir))
    lm.model.set_attn_implementation("eager")
    assert not prompt_sharing.enable(lm.model) and lm.model.config._attn_implementation == "eager"
