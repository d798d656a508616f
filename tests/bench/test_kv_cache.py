"""The preallocated KV cache against its references: ``torch.cat`` of the same states (what
transformers' ``DynamicLayer`` holds) through every operation the decode loop uses, and the
logits of tiny models (GPT-2; Llama with grouped-query attention) run with transformers' own
``DynamicCache``."""

import inspect

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MistralConfig
from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

from entropy_bench.models.kv_cache import PreallocatedLayer, place_rows, preallocated_cache, repeated


def _states(batch: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, n, 4, generator=g), torch.randn(batch, 2, n, 4, generator=g)


def test_views_hold_what_concatenation_holds_through_repeat_select_and_crop():
    ours, ref = PreallocatedLayer(capacity=16), DynamicLayer()
    steps = [("update", 5), ("repeat", 3), ("update", 1), ("select", [0, 2]), ("update", 2), ("crop", -2), ("update", 1)]
    for seed, (op, arg) in enumerate(steps):
        if op == "update":
            k, v = _states(ref.keys.shape[0] if ref.is_initialized and ref.keys.numel() else 1, arg, seed)
            got, want = ours.update(k, v), ref.update(k, v)
            assert all(torch.equal(a, b) for a, b in zip(got, want))
        elif op == "repeat":
            ours.batch_repeat_interleave(arg), ref.batch_repeat_interleave(arg)
        elif op == "select":
            ours.batch_select_indices(torch.tensor(arg)), ref.batch_select_indices(torch.tensor(arg))
        else:
            ours.crop(arg), ref.crop(arg)
        assert torch.equal(ours.keys, ref.keys) and torch.equal(ours.values, ref.values)
        assert ours.get_seq_length() == ref.get_seq_length()
    assert ours.key_store.shape[2] == 16  # never reallocated to another length


def test_update_is_in_place_and_refuses_more_than_its_capacity():
    layer = PreallocatedLayer(capacity=4)
    layer.update(*_states(1, 3, 0))
    store = layer.key_store.data_ptr()
    layer.update(*_states(1, 1, 1))
    assert layer.key_store.data_ptr() == store
    with pytest.raises(ValueError, match="4 positions cannot take 1 more after 4"):
        layer.update(*_states(1, 1, 2))


def test_full_attention_layers_are_replaced_and_sliding_ones_kept():
    full = preallocated_cache(LlamaConfig(num_hidden_layers=3), capacity=8)
    assert [type(layer) for layer in full.layers] == [PreallocatedLayer] * 3
    sliding = preallocated_cache(MistralConfig(num_hidden_layers=2, sliding_window=4), capacity=8)
    assert [type(layer) for layer in sliding.layers] == [DynamicSlidingWindowLayer] * 2


def test_place_rows_lays_groups_out_left_padded_after_the_shared_columns():
    """Two groups of a 3-row batch (2 shared columns; own lengths 3, and 2 and 2) placed in a
    cache of width 6: each row's own columns end at column 6, padding is zero, and a group cache
    repeated from a one-row context leaves that context as it was."""
    config = LlamaConfig(num_hidden_layers=1)
    context = preallocated_cache(config, capacity=8)
    context.layers[0].update(*_states(1, 2, 0))
    first, second = repeated(context, 1), repeated(context, 2)
    assert context.layers[0].keys.shape[0] == 1 and second.layers[0].keys.shape[0] == 2
    first.layers[0].update(*_states(1, 3, 1))
    second.layers[0].update(*_states(2, 2, 2))
    batch = preallocated_cache(config, capacity=9)
    place_rows(batch, 3, torch.tensor([1]), first, shared=2, width=6)
    place_rows(batch, 3, torch.tensor([2, 0]), second, shared=2, width=6)
    keys, ctx = batch.layers[0].keys, context.layers[0].keys[0]
    assert keys.shape == (3, 2, 6, 4) and all(torch.equal(keys[r, :, :2], ctx) for r in range(3))
    assert torch.equal(keys[1, :, 3:], first.layers[0].keys[0, :, 2:])
    assert torch.equal(keys[2, :, 4:], second.layers[0].keys[0, :, 2:])
    assert torch.equal(keys[0, :, 4:], second.layers[0].keys[1, :, 2:])
    assert not keys[[0, 2], :, 2:4].any() and not keys[1, :, 2].any()  # the padding columns
    assert torch.equal(batch.layers[0].values[1, :, 3:], first.layers[0].values[0, :, 2:])


def _tiny(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=64, n_embd=16, n_layer=2, n_head=2)).eval()
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("kind", ["gpt2", "llama-gqa"])
def test_a_model_decodes_the_same_logits_as_with_transformers_dynamic_cache(kind):
    """A left-padded prefill, then single-token steps, rows dropped half-way: logits equal bit for bit."""
    model = _tiny(kind)
    field = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    ids = torch.randint(1, 64, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    caches = {"ours": preallocated_cache(model.config, capacity=12), "ref": DynamicCache(config=model.config)}
    logits = {}
    with torch.inference_mode():
        for name, cache in caches.items():
            step_ids, step_mask, out = ids, mask, []
            for t in range(5):
                fresh = step_ids if t == 0 else step_ids[:, -1:]
                positions = (step_mask.cumsum(-1) - 1).clamp_min(0)[:, -fresh.shape[1]:]
                o = model(input_ids=fresh, attention_mask=step_mask, position_ids=positions, use_cache=True,
                          **{field: cache})
                out.append(o.logits[:, -1])
                nxt = o.logits[:, -1].argmax(-1, keepdim=True)
                step_ids, step_mask = torch.cat([step_ids, nxt], 1), torch.cat([step_mask, torch.ones_like(nxt)], 1)
                if t == 2:  # row 1 finished: both caches drop it
                    cache.batch_select_indices(torch.tensor([0, 2]))
                    step_ids, step_mask = step_ids[[0, 2]], step_mask[[0, 2]]
            logits[name] = out
    for ours, ref in zip(logits["ours"], logits["ref"]):
        assert torch.equal(ours, ref)
