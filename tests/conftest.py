"""Shared fixtures. SCIPY_ARRAY_API must be set before scipy is first imported so
that scikit-learn's estimator checks also run their array API check."""

import os

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
