"""Tests of fitting on a dask.distributed cluster through joblib's dask backend.

The cluster is a LocalCluster of two worker processes with one thread each, so
every task and every fitted member travels between processes by pickle, as on a
real cluster.
"""

import sys

import joblib
import numpy as np
import pytest
import torch
from distributed import Client, LocalCluster, get_worker
from nets import scaled_float32
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier
from skorch import NeuralNetClassifier

from sftfusion import MemberSearchCV, SFTClassifier


class WorkerNB(GaussianNB):
    """GaussianNB that stores the address of the dask worker that fitted it.

    ``worker_`` is None after a fit outside any dask worker.
    """

    def fit(self, X, y, sample_weight=None):
        try:
            self.worker_ = get_worker().address
        except ValueError:
            self.worker_ = None
        return super().fit(X, y, sample_weight=sample_weight)


class SeededMLP(torch.nn.Module):
    """A two-layer perceptron whose initial weights depend only on ``seed``.

    skorch builds the module inside fit, which runs on a dask worker. Seeding
    here makes the worker's net start from the same weights as a local one.
    """

    def __init__(self, seed=0, n_features=4, n_outputs=3, hidden=8):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, n_outputs),
        )
        torch.random.set_rng_state(generator_state)

    def forward(self, X):
        return self.layers(X)


@pytest.fixture(scope="module")
def dask_client():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def iris_float32(iris):
    X, y = iris
    return scaled_float32(X), y


def seeded_net():
    return NeuralNetClassifier(
        SeededMLP,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=5,
        batch_size=32,
        train_split=None,
        verbose=0,
    )


def members():
    return [
        ("a", WorkerNB()),
        ("b", WorkerNB(var_smoothing=1e-2)),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("net", seeded_net()),
    ]


def fit_on(backend, estimator, X, y):
    with joblib.parallel_backend(backend):
        return estimator.fit(X, y)


def test_dask_fit_equals_default_backend(dask_client, iris_float32):
    X, y = iris_float32
    local = fit_on("loky", SFTClassifier(members(), n_jobs=2), X, y)
    remote = fit_on("dask", SFTClassifier(members(), n_jobs=2), X, y)

    workers = set(dask_client.scheduler_info()["workers"])
    for name in ("a", "b"):
        assert remote.named_estimators_[name].worker_ in workers
        assert local.named_estimators_[name].worker_ is None
    assert np.array_equal(remote.predict_proba(X), local.predict_proba(X))
    assert np.array_equal(remote.predict(X), local.predict(X))


def test_dask_learned_fusion_equals_default_backend(dask_client, iris_float32):
    X, y = iris_float32
    params = {"temperature": "learn", "weights": "learn", "cv": 3, "refit": False}
    local = fit_on("loky", SFTClassifier(members(), n_jobs=2, **params), X, y)
    remote = fit_on("dask", SFTClassifier(members(), n_jobs=2, **params), X, y)

    workers = set(dask_client.scheduler_info()["workers"])
    fold_models = remote.named_estimators_["a"].estimators
    assert len(fold_models) == 3
    assert all(model.worker_ in workers for model in fold_models)
    assert remote.temperature_ == local.temperature_
    assert np.array_equal(remote.weights_, local.weights_)
    assert np.array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_dask_grid_search_with_cache(dask_client, iris_float32, tmp_path):
    X, y = iris_float32
    grid = {"b": [WorkerNB(var_smoothing=1e-2), "drop"], "temperature": [0.3, 3.0]}
    local = fit_on(
        "loky", GridSearchCV(SFTClassifier(members()), grid, cv=3, n_jobs=2), X, y
    )
    cached = SFTClassifier(members(), memory=tmp_path)
    remote = fit_on("dask", GridSearchCV(cached, grid, cv=3, n_jobs=2), X, y)

    for key in ("mean_test_score", "rank_test_score"):
        assert np.array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    assert np.array_equal(
        remote.best_estimator_.predict_proba(X), local.best_estimator_.predict_proba(X)
    )
    # Four members on three folds, then the best candidate's members on all rows.
    refitted = len(remote.best_estimator_.estimators_)
    assert len(list(tmp_path.rglob("output.pkl"))) == 4 * 3 + refitted


def test_dask_member_search_equals_default_backend(dask_client, iris_float32):
    X, y = iris_float32
    params = {"temperatures": [0.2, "learn"], "scoring": "neg_log_loss", "cv": 3}
    local = fit_on(
        "loky", MemberSearchCV(SFTClassifier(members()), n_jobs=2, **params), X, y
    )
    remote = fit_on(
        "dask", MemberSearchCV(SFTClassifier(members()), n_jobs=2, **params), X, y
    )
    for key in ("split0_test_score", "mean_test_score", "rank_test_score"):
        assert np.array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    assert np.array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_dask_cache_with_script_class(dask_client, iris_float32, tmp_path, monkeypatch):
    X, y = iris_float32
    # A class of the running script reaches the workers pickled by value.
    ScriptNB = type("ScriptNB", (GaussianNB,), {"__module__": "__main__"})
    monkeypatch.setattr(sys.modules["__main__"], "ScriptNB", ScriptNB, raising=False)
    grid = {"temperature": [0.3, 3.0]}
    cached = SFTClassifier([("nb", ScriptNB())], memory=tmp_path)
    remote = fit_on("dask", GridSearchCV(cached, grid, cv=3, n_jobs=2), X, y)
    assert len(list(tmp_path.rglob("output.pkl"))) == 3 + 1

    local = GridSearchCV(SFTClassifier([("nb", ScriptNB())]), grid, cv=3).fit(X, y)
    assert np.array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
