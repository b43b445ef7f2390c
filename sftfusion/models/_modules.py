"""Torch modules behind the skorch-wrapped member estimators.

The modules live in their own importable module, not inside an estimator's
``fit``, so that a fitted net pickles by reference and loads in joblib workers.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FeatureTokenizer(nn.Module):
    """Per-feature embedding: one token per scalar feature.

    Feature ``j`` of a row becomes the token ``x[j] * weight[j] + bias[j]``, so
    each feature has its own learned linear map into the model dimension, as in
    the FT-Transformer of Gorishniy et al., "Revisiting Deep Learning Models for
    Tabular Data" (2021, arXiv:2106.11959).

    Parameters
    ----------
    n_features : int
        Number of input features, which is also the number of tokens.

    d_model : int
        Size of each token embedding.
    """

    def __init__(self, n_features: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_features, d_model))
        self.bias = nn.Parameter(torch.empty(n_features, d_model))

        # With the bound 1/sqrt(d_model), each row of weight and bias has an
        # expected squared norm of 1/3 whatever d_model is, so the tokens of
        # standardized features start at a scale that does not grow with d_model.
        bound = 1.0 / math.sqrt(d_model)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # (batch, n_features) -> (batch, n_features, d_model)
        return X.unsqueeze(-1) * self.weight + self.bias


class ChunkTokenizer(nn.Module):
    """Chunk embedding: consecutive columns grouped into equal-width tokens.

    A row of ``n_tokens * width`` features is reshaped to ``(n_tokens, width)``
    and one linear map, shared by all tokens, projects each chunk to the model
    dimension. Read this way, an 8x8 image flattened row by row becomes 8 tokens
    of 8 pixels. The positional embedding added afterwards distinguishes the tokens.

    Parameters
    ----------
    n_features : int
        Number of input features. It must be a multiple of ``n_tokens``.

    n_tokens : int
        Number of tokens per row.

    d_model : int
        Size of each token embedding.
    """

    def __init__(self, n_features: int, n_tokens: int, d_model: int) -> None:
        super().__init__()
        if n_features % n_tokens != 0:
            raise ValueError(
                f"n_features={n_features!r} must be a multiple of "
                f"n_tokens={n_tokens!r} so that every token has the same width. "
                "Pick n_tokens among the divisors of n_features."
            )
        self.n_tokens = n_tokens
        self.width = n_features // n_tokens
        self.projection = nn.Linear(self.width, d_model)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        chunks = X.reshape(X.shape[0], self.n_tokens, self.width)
        return self.projection(chunks)


class SequenceTransformerModule(nn.Module):
    """Transformer encoder over the feature tokens of a row, with a linear head.

    The row is split into tokens (see ``FeatureTokenizer`` and
    ``ChunkTokenizer``), a learned CLS token is prepended, and a learned
    positional embedding is added to every position. A pre-norm
    ``nn.TransformerEncoder`` then mixes the tokens, and a linear head maps the
    final CLS state to one logit per class.

    Parameters
    ----------
    n_features : int
        Number of input features.

    n_classes : int
        Number of output logits.

    n_tokens : int or None, default=None
        Number of tokens per row. None gives one token per feature through
        ``FeatureTokenizer``; an int gives ``ChunkTokenizer`` with that many
        tokens.

    d_model, nhead, num_layers, dim_feedforward, dropout : int or float
        Sizes of the encoder and its dropout probability, with the meanings
        and defaults of the parameters of the same names of
        ``SequenceTransformerClassifier``.
    """

    def __init__(
        self,
        *,
        n_features: int,
        n_classes: int,
        n_tokens: int | None = None,
        d_model: int = 32,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if n_tokens is None:
            self.tokenizer = FeatureTokenizer(n_features, d_model)
            sequence_length = n_features
        else:
            self.tokenizer = ChunkTokenizer(n_features, n_tokens, d_model)
            sequence_length = n_tokens

        # One extra position for the CLS token at index 0.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.position_embedding = nn.Parameter(
            torch.zeros(1, sequence_length + 1, d_model)
        )
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.02)

        layer = nn.TransformerEncoderLayer(
            d_model=d_model,
            nhead=nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # Nested tensors only pay off with padding masks, which this module
        # never uses. Turning them off also avoids the warning that
        # norm_first=True triggers otherwise.
        self.encoder = nn.TransformerEncoder(
            layer,
            num_layers=num_layers,
            norm=nn.LayerNorm(d_model),
            enable_nested_tensor=False,
        )
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        tokens = self.tokenizer(X)
        cls_tokens = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls_tokens, tokens], dim=1) + self.position_embedding

        encoded = self.encoder(tokens)
        return self.head(encoded[:, 0])
