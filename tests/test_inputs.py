"""Tests of SFTClassifier on unusual X, y and parameter values."""

import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier, softmax_fusion


def iris_members():
    return [
        ("lr", LogisticRegression(max_iter=1000)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


def one_class_members():
    """Members that, unlike LogisticRegression, accept y with a single class."""
    return [
        ("tree", DecisionTreeClassifier(random_state=0)),
        ("knn", KNeighborsClassifier(n_neighbors=1)),
    ]


def test_inputs_single_class_y(iris):
    X, _ = iris
    y = np.full(len(X), "only")
    model = SFTClassifier(one_class_members()).fit(X, y)
    assert model.classes_.tolist() == ["only"]
    assert np.array_equal(model.predict_proba(X[:5]), np.ones((5, 1)))
    assert model.predict(X[:5]).tolist() == ["only"] * 5


def test_inputs_single_sample(iris):
    X, y = iris
    model = SFTClassifier(one_class_members()).fit(X[:1], y[:1])
    assert model.classes_.tolist() == [0]
    assert model.predict(X[100:103]).tolist() == [0, 0, 0]


def test_inputs_predict_single_sample(iris):
    X, y = iris
    model = SFTClassifier(iris_members()).fit(X, y)
    proba = model.predict_proba(X[100:101])
    assert proba.shape == (1, 3)
    # LogisticRegression's product of one row can round differently from a
    # product of 150 rows.
    assert np.allclose(proba, model.predict_proba(X)[100:101], atol=1e-15, rtol=0)
    assert model.predict(X[100:101]).tolist() == [2]


def test_inputs_empty_fit_names_member(iris):
    X, y = iris
    match = r"member 'lr' \(LogisticRegression\) failed in fit: Found array with 0 "
    with pytest.raises(ValueError, match=match):
        SFTClassifier(iris_members()).fit(X[:0], y[:0])


def test_inputs_empty_predict_names_member(iris):
    X, y = iris
    model = SFTClassifier(iris_members()).fit(X, y)
    match = r"member 'lr' \(LogisticRegression\) failed in predict_proba: Found array"
    with pytest.raises(ValueError, match=match):
        model.predict_proba(X[:0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_inputs_low_precision_X(iris, dtype):
    X, y = iris
    X = X.astype(dtype)
    model = SFTClassifier(iris_members(), temperature=0.5).fit(X, y)
    proba = model.predict_proba(X)
    members = np.stack([member.predict_proba(X) for member in model.estimators_])
    assert proba.dtype == np.float64
    # GaussianNB keeps float16, whose rows sum to 1 only within float16
    # rounding. The ensemble checked each member at its own precision.
    expected = softmax_fusion(members, temperature=0.5, check_input=False)
    assert np.array_equal(proba, expected)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-12)
    assert model.score(X, y) > 0.9


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["setosa", "versicolor", "virginica"]),
        np.array(["setosa", "versicolor", "virginica"], dtype=object),
        np.array([-7, -1, 3]),
        np.array([-2.0, 0.0, 1.0]),
    ],
    ids=["str", "object", "negative-int", "float"],
)
def test_inputs_label_types(iris, labels):
    X, y = iris
    y = labels[y]
    model = SFTClassifier(iris_members()).fit(X, y)
    assert model.classes_.tolist() == labels.tolist()
    assert model.predict(X).dtype == labels.dtype
    assert model.score(X, y) > 0.9


def test_inputs_boolean_labels(iris):
    X, y = iris
    y = y == 2
    seen_one_class = DecisionTreeClassifier().fit(X[y], y[y])
    members = iris_members() + [("true", FrozenEstimator(seen_one_class))]
    model = SFTClassifier(members).fit(X, y)
    assert model.classes_.tolist() == [False, True]
    assert model.predict(X).dtype == bool
    assert model.score(X, y) > 0.9


def test_inputs_negative_labels_frozen_subset(iris):
    X, y = iris
    y = np.array([-7, -1, 3])[y]
    keep = y != -1
    partial = GaussianNB().fit(X[keep], y[keep])
    members = [("lr", LogisticRegression(max_iter=1000))]
    members.append(("partial", FrozenEstimator(partial)))
    model = SFTClassifier(members, weights=[0, 1]).fit(X, y)
    assert np.all(model.predict_proba(X)[:, 1] == 0)
    assert np.array_equal(model.predict(X), partial.predict(X))


def test_inputs_mixed_label_types_rejected(iris):
    X, y = iris
    mixed = np.array(["setosa", 1, None], dtype=object)[y]
    match = (
        r"labels in y must be of one kind that can be sorted.*mix of the types "
        r"\['NoneType', 'int', 'str'\]. Convert y first"
    )
    with pytest.raises(ValueError, match=match):
        SFTClassifier(iris_members()).fit(X, mixed)


@pytest.fixture(scope="module")
def iris_member_probas(iris):
    X, y = iris
    fitted = SFTClassifier(iris_members()).fit(X, y)
    return np.stack([member.predict_proba(X) for member in fitted.estimators_])


@pytest.mark.parametrize("temperature", [1e8, float("inf")])
def test_inputs_large_temperature_is_mean(iris, iris_member_probas, temperature):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=temperature, weights=[1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = model.fit(X, y).predict_proba(X)
    expected = np.average(iris_member_probas, axis=0, weights=[1, 2, 3])
    assert np.allclose(proba, expected, atol=1e-7, rtol=0)


def test_inputs_tiny_temperature_is_max(iris, iris_member_probas):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = model.fit(X, y).predict_proba(X)
    maximum = iris_member_probas.max(axis=0)
    expected = maximum / maximum.sum(axis=1, keepdims=True)
    assert np.allclose(proba, expected, atol=1e-8, rtol=0)
