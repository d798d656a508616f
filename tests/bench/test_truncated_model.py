"""``<model>#layers=N``: the first N decoder blocks of a GPT-2- or Llama-style model, its own
fingerprint, its base's source, and a clear error for an N out of range."""

from __future__ import annotations

import pytest
import torch

from entropy_bench.generation import generate
from entropy_bench.methods.registry import DECODERS
from entropy_bench.models.hf import load_model, parse_spec

PROMPTS = ["1 + 2 =", "Lena has 12 marbles"]


@pytest.fixture(scope="module")
def llama_dir(tiny_model_dir, tmp_path_factory):
    """A random 3-layer Llama with the tiny model's tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=256, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def last_logits(lm, prompt: str) -> torch.Tensor:
    ids = lm.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return lm.model(ids).logits[0, -1]


@pytest.mark.parametrize("style", ["gpt2", "llama"])
def test_truncation_keeps_the_first_layers(style, tiny_model_dir, llama_dir):
    base_dir, n_layers = (tiny_model_dir, 2) if style == "gpt2" else (llama_dir, 3)
    full = load_model(str(base_dir))
    cut = load_model(f"{base_dir}#layers=1")
    blocks = cut.model.transformer.h if style == "gpt2" else cut.model.model.layers
    assert len(blocks) == 1 and cut.model.config.num_hidden_layers == 1
    assert full.model.config.num_hidden_layers == n_layers
    if style == "gpt2":
        assert cut.model.config.n_layer == 1
    assert cut.name == f"{base_dir}#layers=1" and cut.source == full.source
    assert cut.fingerprint != full.fingerprint
    assert load_model(f"{base_dir}#layers=1").fingerprint == cut.fingerprint
    assert cut.n_params < full.n_params
    assert not torch.allclose(last_logits(cut, PROMPTS[0]), last_logits(full, PROMPTS[0]))
    # The kept block has the full model's weights.
    kept = dict((blocks[0]).named_parameters())
    full_blocks = full.model.transformer.h if style == "gpt2" else full.model.model.layers
    for name, weight in full_blocks[0].named_parameters():
        assert torch.equal(kept[name], weight)


@pytest.mark.parametrize("style", ["gpt2", "llama"])
def test_truncated_model_generates_with_its_kv_cache(style, tiny_model_dir, llama_dir):
    """Greedy generation with the KV cache matches transformers' own ``generate`` on the cut model."""
    lm = load_model(f"{tiny_model_dir if style == 'gpt2' else llama_dir}#layers=1")
    ours = generate(lm, PROMPTS, DECODERS.build("greedy"), seeds=[0, 1], max_new_tokens=8)
    batch = lm.tokenizer(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    ref = lm.model.generate(**batch, do_sample=False, max_new_tokens=8, pad_token_id=lm.tokenizer.pad_token_id)
    for row, gen in enumerate(ours):
        assert gen.token_ids == ref[row, batch["input_ids"].shape[1] :].tolist()[: len(gen.token_ids)]


@pytest.mark.parametrize("n", [0, 3, 100])
def test_layers_out_of_range_is_a_clear_error(tiny_model_dir, n):
    with pytest.raises(ValueError, match=rf"layers={n} is out of range; it has 2 layers"):
        load_model(f"{tiny_model_dir}#layers={n}")


@pytest.mark.parametrize("fragment", ["layers=-1", "layers=two", "depth=1", "layers"])
def test_malformed_spec_is_a_clear_error(fragment):
    with pytest.raises(ValueError, match="#layers=N"):
        parse_spec(f"some/model#{fragment}")


def test_parse_spec():
    assert parse_spec("some/model") == ("some/model", None)
    assert parse_spec("some/model#layers=12") == ("some/model", 12)
