"""Texts and a tiny randomly initialised BERT for the tests of the text members.

``build_tiny_model`` writes the model and its WordPiece tokenizer to a folder,
so the tests need transformers but no download.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

WORDS = "good bad great awful love hate phone movie food the a is was it not very"
POSITIVE = [
    "good phone",
    "great movie",
    "love the food",
    "very good",
    "great food",
    "love it",
    "good movie",
    "it is great",
]
NEGATIVE = [
    "bad phone",
    "awful movie",
    "hate the food",
    "very bad",
    "awful food",
    "hate it",
    "bad movie",
    "it is awful",
]
TEXTS = POSITIVE + NEGATIVE
LABELS = np.array(["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE), dtype=object)

# Small settings under which the tiny model fits TEXTS perfectly.
FAST = {"max_epochs": 10, "lr": 1e-2, "batch_size": 4, "random_state": 0}


def build_tiny_model(folder: Path, *, fixed_padding: int = 48) -> Path:
    """Write a tiny random BERT and a WordPiece tokenizer to ``folder``.

    The tokenizer.json pads and truncates every text to ``fixed_padding``
    tokens, as all-MiniLM-L6-v2's does with 128, so the tests can check that
    the loaders switch this off.
    """
    reason = 'needs the text extra: pip install "sftfusion[text]"'
    transformers = pytest.importorskip("transformers", reason=reason)
    tokenizers = pytest.importorskip("tokenizers", reason=reason)

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = special + WORDS.split() + letters + ["##" + letter for letter in letters]
    token_ids = {token: index for index, token in enumerate(vocab)}

    tokenizer = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(vocab=token_ids, unk_token="[UNK]")
    )
    tokenizer.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", token_ids["[CLS]"]), ("[SEP]", token_ids["[SEP]"])],
    )
    tokenizer.decoder = tokenizers.decoders.WordPiece()
    tokenizer.enable_padding(length=fixed_padding, pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(fixed_padding)
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)

    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.BertModel(config)
    model.save_pretrained(folder)
    return folder
