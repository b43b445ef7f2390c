"""A small torch module and the skorch net around it, shared by the test files."""

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier


class TinyMLP(torch.nn.Module):
    """A two-layer perceptron that returns one logit per output unit."""

    def __init__(self, n_features=4, n_outputs=3, hidden=8):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, n_outputs),
        )

    def forward(self, X):
        return self.layers(X)


def tiny_net(**params):
    """Return an unfitted skorch classifier around TinyMLP.

    skorch draws the initial weights from torch's global generator, so seed it
    with ``torch.manual_seed`` before fit for repeatable weights.
    """
    settings = {
        "criterion": torch.nn.CrossEntropyLoss,
        "optimizer": torch.optim.Adam,
        "lr": 0.05,
        "max_epochs": 10,
        "batch_size": 32,
        "train_split": None,
        "verbose": 0,
    }
    settings.update(params)
    return NeuralNetClassifier(TinyMLP, **settings)


def scaled_float32(X):
    """Return X standardised and as float32, the input the skorch nets expect."""
    return StandardScaler().fit_transform(X).astype(np.float32)
