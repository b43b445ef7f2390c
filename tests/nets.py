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
    module = settings.pop("module", TinyMLP)
    return NeuralNetClassifier(module, **settings)


def scaled_float32(X):
    """Return X standardised and as float32, the input the skorch nets expect."""
    return StandardScaler().fit_transform(X).astype(np.float32)


class TwoInputMLP(torch.nn.Module):
    """A perceptron over two named inputs, for X given as a dict of arrays."""

    def __init__(self, n_left=2, n_right=2, n_outputs=3, hidden=8):
        super().__init__()
        self.left = torch.nn.Linear(n_left, hidden)
        self.right = torch.nn.Linear(n_right, hidden)
        self.output = torch.nn.Linear(hidden, n_outputs)

    def forward(self, left, right):
        return self.output(torch.relu(self.left(left) + self.right(right)))


def two_input_net(**params):
    """Return an unfitted skorch classifier around TwoInputMLP.

    Its X is a dict with the arrays "left" and "right", as skorch accepts.
    """
    return tiny_net(module=TwoInputMLP, **params)


def split_columns(X):
    """Return X as the dict of two column blocks that two_input_net takes."""
    half = X.shape[1] // 2
    return {"left": X[:, :half], "right": X[:, half:]}
