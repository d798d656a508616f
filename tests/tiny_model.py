"""A tiny random causal LM with a locally trained BPE tokenizer, saved as a normal HF directory.

Built in-process in well under a second; loaded through the same ``from_pretrained`` path as
hub models. Weights are random, so its outputs are meaningless but deterministic.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Question: Tom has 3 apples. He gets 4 more. How many apples does Tom have now?\nAnswer: 7",
    "1 + 2 = 3\n\n4 - 1 = 3\n\n5 + 4 = 9\n\n9 - 8 = 1\n\n#### 12",
    "Lena has 12 marbles and gives away 5, so she has 7 marbles left.",
] * 20


def build_tiny_model(path: Path, seed: int = 0, n_layer: int = 2, n_positions: int = 512) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(fast), n_positions=n_positions, n_embd=32, n_layer=n_layer, n_head=2,
        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.eos_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path
