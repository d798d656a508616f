"""A tiny randomly initialised MNLI-style sequence classifier, saved as a normal HF directory.

No MNLI model ships offline, so the NLI tests load this one through the same
``AutoTokenizer`` / ``AutoModelForSequenceClassification.from_pretrained`` path that
``microsoft/deberta-large-mnli`` takes. Its weights are random (so its "entailments" mean
nothing) but deterministic, and its three labels are in a shuffled order so that the label
reordering is exercised. Weights are drawn wide (``initializer_range=0.5``) so that the
probabilities depend on the texts and their order, and the head has distinct biases so that the
three classes' probabilities are far apart: a wrong column order cannot pass by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

WORDS = (
    "a b c d the cat dog sat on mat answer is 42 . , ! ? it rains sun shines yes no "
    "not sleeps runs paris capital of france berlin germany"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# deberta-large-mnli has {0: CONTRADICTION, 1: NEUTRAL, 2: ENTAILMENT}; this is another order again.
SHUFFLED_LABELS = {0: "CONTRADICTION", 1: "ENTAILMENT", 2: "NEUTRAL"}


def build_tiny_nli_model(path: Path, id2label: dict[int, str] | None = None, seed: int = 0) -> Path:
    """A 2-layer, 16-wide BERT classifier with ``num_labels=3`` and an uncased word-piece tokenizer over :data:`WORDS`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    id2label = dict(SHUFFLED_LABELS if id2label is None else id2label)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _word_piece_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, initializer_range=0.5, num_labels=len(id2label),
        id2label=id2label, label2id={v: k for k, v in id2label.items()}, pad_token_id=0,
    )
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.linspace(-1.5, 1.5, len(id2label)))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _word_piece_tokenizer():
    """BERT's uncased word-piece tokenizer over :data:`WORDS`, built with ``tokenizers`` alone
    (no vocabulary download; the same on transformers 4 and 5)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + list(WORDS))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def reference_nli(path: Path, pairs: Sequence[tuple[str, str]]):
    """P(entailment, neutral, contradiction) of each pair, one pair at a time (no padding),
    reordered by the saved model's own ``id2label`` — written here, independently of
    ``entropy_bench.models.encoders``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    by_name = {label.lower(): int(i) for i, label in model.config.id2label.items()}
    order = [by_name["entailment"], by_name["neutral"], by_name["contradiction"]]
    rows = []
    with torch.no_grad():
        for premise, hypothesis in pairs:
            logits = model(**tokenizer(premise, hypothesis, return_tensors="pt")).logits[0].float()
            rows.append(logits.softmax(-1)[order])
    return torch.stack(rows) if rows else torch.zeros(0, 3)
