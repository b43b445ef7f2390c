"""Shared fixtures. SCIPY_ARRAY_API must be set before scipy is first imported so
that scikit-learn's estimator checks also run their array API check."""

import os
from pathlib import Path

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402


@pytest.fixture(scope="session")
def iris():
    """Iris features and integer labels, a small real three-class problem."""
    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def iris_named(iris):
    """Iris with the labels replaced by species names."""
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    return X, names[y]


@pytest.fixture
def torch_single_thread():
    """Run torch on one intra-op thread during the test.

    The test nets are tiny. On a two-core machine at a load average near 6, a
    10-epoch fit on iris took 0.1 s with one torch thread and 2 s with two.
    """
    import torch

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


# The UCI Sentiment Labelled Sentences, read in place: by default from the
# shared data folder beside the repository, or from SFTFUSION_SENTENCES_DIR.
SENTENCES_DIR = Path(
    os.environ.get(
        "SFTFUSION_SENTENCES_DIR",
        Path(__file__).resolve().parents[2]
        / "shared"
        / "data"
        / "sentiment_labelled_sentences",
    )
)


@pytest.fixture
def sentences_dir():
    """The folder of the UCI sentence files; skips the test if it is missing."""
    if not SENTENCES_DIR.is_dir():
        pytest.skip(
            f"sentence data not found at {SENTENCES_DIR}; set SFTFUSION_SENTENCES_DIR"
        )
    return SENTENCES_DIR
