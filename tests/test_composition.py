"""Tests of SFTClassifier inside other estimators, across threads and across runs."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from nets import scaled_float32, tiny_net
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier, softmax_fusion
from sftfusion.models import SequenceTransformerClassifier

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def iris_members():
    return [
        ("lr", LogisticRegression(max_iter=1000)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


def test_composition_pipeline_step(iris_named):
    X, y = iris_named
    alone = SFTClassifier(iris_members(), temperature=0.5).fit(X, y)
    pipeline = make_pipeline(
        FunctionTransformer(), SFTClassifier(iris_members(), temperature=0.5)
    ).fit(X, y)
    assert np.array_equal(pipeline.predict_proba(X), alone.predict_proba(X))
    assert np.array_equal(pipeline.classes_, alone.classes_)
    assert np.array_equal(pipeline.predict(X), alone.predict(X))


def test_composition_pipeline_grid_search(iris_named):
    X, y = iris_named
    pipeline = make_pipeline(StandardScaler(), SFTClassifier(iris_members()))
    grid = {
        "sftclassifier__temperature": [0.1, float("inf")],
        "sftclassifier__nb": [GaussianNB(), "drop"],
    }
    search = GridSearchCV(pipeline, grid, cv=3, scoring="neg_log_loss").fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    fitted = search.best_estimator_[-1]
    assert fitted.temperature_ == search.best_params_["sftclassifier__temperature"]


def test_composition_calibrated_ensemble(iris_named):
    X, y = iris_named
    ensemble = SFTClassifier(iris_members(), temperature=0.5)
    calibrated = CalibratedClassifierCV(ensemble, method="sigmoid", cv=3).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert calibrated.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert np.allclose(proba.sum(axis=1), 1)
    assert calibrated.score(X, y) > 0.9
    fitted = calibrated.calibrated_classifiers_[0].estimator
    assert isinstance(fitted, SFTClassifier)
    assert fitted.temperature_ == 0.5


def test_composition_calibrated_frozen_ensemble(iris_named):
    X, y = iris_named
    ensemble = SFTClassifier(iris_members()).fit(X[::2], y[::2])
    calibrated = CalibratedClassifierCV(FrozenEstimator(ensemble), method="isotonic")
    calibrated.fit(X[1::2], y[1::2])
    assert calibrated.calibrated_classifiers_[0].estimator.estimator is ensemble
    assert calibrated.score(X[1::2], y[1::2]) > 0.9


def test_composition_nested_ensemble(iris_named):
    X, y = iris_named
    inner = SFTClassifier(iris_members()[:2], temperature=0.2)
    outer = SFTClassifier(
        [("inner", inner), ("tree", DecisionTreeClassifier(random_state=0))],
        weights=[2, 1],
    ).fit(X, y)
    fitted_inner = outer.named_estimators_["inner"]
    members = np.stack(
        [
            fitted_inner.predict_proba(X),
            outer.named_estimators_["tree"].predict_proba(X),
        ]
    )
    expected = softmax_fusion(members, weights=[2, 1])
    assert fitted_inner is not inner
    assert fitted_inner.classes_.tolist() == outer.classes_.tolist()
    assert np.array_equal(outer.predict_proba(X), expected)


def test_composition_nested_parameters_searchable(iris):
    X, y = iris
    inner = SFTClassifier(iris_members()[:2])
    outer = SFTClassifier([("inner", inner), ("nb", GaussianNB())])
    assert outer.get_params()["inner__lr__C"] == 1.0
    grid = {"inner__temperature": [0.1, 10.0], "inner__lr__C": [0.1, 1.0]}
    search = GridSearchCV(outer, grid, cv=3).fit(X, y)
    best = search.best_estimator_.named_estimators_["inner"]
    assert best.temperature_ == search.best_params_["inner__temperature"]
    assert best.named_estimators_["lr"].C == search.best_params_["inner__lr__C"]


def test_composition_threads_give_identical_results(iris):
    X, y = iris
    X = np.tile(scaled_float32(X), (20, 1))
    y = np.tile(y, 20)
    torch.manual_seed(0)
    members = iris_members() + [
        ("forest", RandomForestClassifier(n_estimators=10, random_state=0)),
        ("net", tiny_net(max_epochs=2)),
    ]
    model = SFTClassifier(members, temperature=0.3).fit(X, y)
    reference = model.predict_proba(X)

    def predict(_):
        return [model.predict_proba(X) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [proba for batch in pool.map(predict, range(8)) for proba in batch]
    assert len(results) == 24
    for proba in results:
        assert np.array_equal(proba, reference)


def seeded_members():
    return [
        ("forest", RandomForestClassifier(n_estimators=10, random_state=0)),
        ("mlp", MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0)),
        (
            "transformer",
            SequenceTransformerClassifier(
                d_model=8, nhead=2, num_layers=1, max_epochs=2, random_state=0
            ),
        ),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_composition_random_state_repeats_fit(iris):
    X, y = iris
    X = scaled_float32(X)
    first = SFTClassifier(seeded_members(), temperature=0.5).fit(X, y)
    second = SFTClassifier(seeded_members(), temperature=0.5).fit(X, y)
    parallel = SFTClassifier(seeded_members(), temperature=0.5, n_jobs=2).fit(X, y)
    expected = first.predict_proba(X)
    assert np.array_equal(second.predict_proba(X), expected)
    assert np.array_equal(parallel.predict_proba(X), expected)
