"""Torch modules behind the text members.

The modules live in their own importable module, not inside an estimator's
``fit``, so that a fitted net pickles by reference and loads in joblib workers.
transformers is imported only when a module is built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def mean_pool(
    hidden_states: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Average the token states of each row over its real (unpadded) tokens.

    Parameters
    ----------
    hidden_states : torch.Tensor of shape (batch, n_tokens, hidden_size)
        Last hidden states of the encoder.

    attention_mask : torch.Tensor of shape (batch, n_tokens)
        1 for real tokens and 0 for padding.

    Returns
    -------
    pooled : torch.Tensor of shape (batch, hidden_size)
    """
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    summed = (hidden_states * mask).sum(dim=1)
    # BERT-style tokenizers add [CLS] and [SEP] to every text, even an empty
    # one, so a row has real tokens. The clamp only keeps an all-padding row
    # finite.
    counts = mask.sum(dim=1).clamp(min=1.0)
    return summed / counts


def find_encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """Return the list of Transformer blocks of a Hugging Face encoder.

    The attribute that holds the blocks differs between architectures
    (``encoder.layer`` in BERT, ``transformer.layer`` in DistilBERT), so the
    first ``nn.ModuleList`` with ``config.num_hidden_layers`` entries is taken.

    Raises
    ------
    ValueError
        If no such list exists.
    """
    n_layers = encoder.config.num_hidden_layers
    for _, module in encoder.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return module
    raise ValueError(
        f"Could not find the {n_layers} Transformer blocks of the "
        f"{type(encoder).__name__} encoder, so its layers cannot be frozen. "
        "Use freeze_layers=0 with this model."
    )


def freeze_lower_layers(encoder: nn.Module, n_frozen: int) -> None:
    """Stop gradients in the embeddings and the lowest ``n_frozen`` blocks.

    ``n_frozen=0`` leaves every parameter trainable.

    Raises
    ------
    ValueError
        If ``n_frozen`` exceeds the number of blocks.
    """
    if n_frozen == 0:
        return

    n_layers = encoder.config.num_hidden_layers
    if n_frozen > n_layers:
        raise ValueError(
            f"The 'freeze_layers' parameter must be at most the number of encoder "
            f"layers ({n_layers}); got {n_frozen!r}. Pass a value from 0 to "
            f"{n_layers}."
        )

    embeddings = getattr(encoder, "embeddings", None)
    if embeddings is None:
        embeddings = encoder.get_input_embeddings()
    frozen = [embeddings, *find_encoder_layers(encoder)[:n_frozen]]
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)


class TextClassifierModule(nn.Module):
    """Pretrained Transformer encoder, mean pooling, dropout and a linear head.

    The encoder weights come from a local Hugging Face folder. The pooled
    sentence vector is the mean of the last hidden states over real tokens, the
    pooling that sentence-embedding checkpoints such as all-MiniLM-L6-v2 were
    trained with.

    Parameters
    ----------
    model_dir : str
        Local folder written by ``save_pretrained``.

    n_classes : int
        Number of output logits.

    freeze_layers : int, default=0
        With a positive value, the embeddings and the lowest ``freeze_layers``
        Transformer blocks get no gradient.
    """

    def __init__(self, *, model_dir: str, n_classes: int, freeze_layers: int = 0):
        super().__init__()
        from sftfusion.models._pretrained import load_encoder

        self.encoder = load_encoder(Path(model_dir))
        freeze_lower_layers(self.encoder, freeze_layers)

        config = self.encoder.config
        dropout = getattr(config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(config.hidden_size, n_classes)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden_states = self.encoder(**inputs).last_hidden_state

        pooled = mean_pool(hidden_states, attention_mask)
        return self.head(self.dropout(pooled))
