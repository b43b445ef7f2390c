"""Tests of the member cache: SFTClassifier's ``memory`` parameter."""

import pathlib
import sys
import threading

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from nets import scaled_float32, tiny_net
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier, _hashing
from sftfusion._hashing import register_main_global


class CountingNB(GaussianNB):
    """GaussianNB that records every real fit as (var_smoothing, n_samples)."""

    fits = []

    def fit(self, X, y, sample_weight=None):
        CountingNB.fits.append((self.var_smoothing, len(y)))
        return super().fit(X, y, sample_weight=sample_weight)


class OtherCountingNB(CountingNB):
    """The same estimator under another class name."""


@pytest.fixture(autouse=True)
def reset_fit_log():
    CountingNB.fits.clear()
    yield
    CountingNB.fits.clear()


def members():
    return [
        ("a", CountingNB(var_smoothing=1e-9)),
        ("b", CountingNB(var_smoothing=1e-3)),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


def cached_results(folder):
    """Return the number of fits stored in the cache under ``folder``."""
    return len(list(pathlib.Path(folder).rglob("output.pkl")))


def test_cache_second_fit_loads_members(iris, tmp_path):
    X, y = iris
    first = SFTClassifier(members(), temperature=0.3, memory=tmp_path).fit(X, y)
    assert len(CountingNB.fits) == 2
    assert cached_results(tmp_path) == 3

    second = SFTClassifier(members(), temperature=0.3, memory=tmp_path).fit(X, y)
    assert len(CountingNB.fits) == 2
    assert np.array_equal(second.predict_proba(X), first.predict_proba(X))


def test_cache_predictions_equal_uncached(iris, tmp_path):
    X, y = iris
    plain = SFTClassifier(members(), temperature=0.3).fit(X, y)
    miss = SFTClassifier(members(), temperature=0.3, memory=tmp_path).fit(X, y)
    hit = SFTClassifier(members(), temperature=0.3, memory=tmp_path).fit(X, y)
    assert np.array_equal(miss.predict_proba(X), plain.predict_proba(X))
    assert np.array_equal(hit.predict_proba(X), plain.predict_proba(X))
    assert np.array_equal(hit.predict(X), plain.predict(X))


def changed_fit_arguments(X, y):
    """Return (label, members, X, y, sample_weight) that each change one thing."""
    weight = np.ones(len(y))
    X_changed = X.copy()
    X_changed[0, 0] += 1e-9
    y_changed = y.copy()
    y_changed[[0, -1]] = y_changed[[-1, 0]]
    weight_changed = weight.copy()
    weight_changed[3] = 2.0
    changed_member = members()
    changed_member[0] = ("a", CountingNB(var_smoothing=1e-6))
    other_class = members()
    other_class[0] = ("a", OtherCountingNB(var_smoothing=1e-9))
    return [
        ("member parameter", changed_member, X, y, weight),
        ("member class", other_class, X, y, weight),
        ("X", members(), X_changed, y, weight),
        ("y", members(), X, y_changed, weight),
        ("sample_weight", members(), X, y, weight_changed),
    ]


def test_cache_misses_on_any_change(iris, tmp_path):
    X, y = iris
    weight = np.ones(len(y))
    SFTClassifier(members(), memory=tmp_path).fit(X, y, sample_weight=weight)
    assert len(CountingNB.fits) == 2

    expected_new_fits = {
        "member parameter": 1,
        "member class": 1,
        "X": 2,
        "y": 2,
        "sample_weight": 2,
    }
    for label, estimators, X_fit, y_fit, weight_fit in changed_fit_arguments(X, y):
        CountingNB.fits.clear()
        model = SFTClassifier(estimators, memory=tmp_path)
        model.fit(X_fit, y_fit, sample_weight=weight_fit)
        assert len(CountingNB.fits) == expected_new_fits[label], label
        uncached = SFTClassifier(estimators).fit(X_fit, y_fit, sample_weight=weight_fit)
        assert np.array_equal(model.predict_proba(X), uncached.predict_proba(X)), label


def test_cache_misses_on_nested_parameter(iris, tmp_path):
    X, y = iris

    def pipeline_members(with_mean):
        scaler = StandardScaler(with_mean=with_mean)
        return [("pipe", make_pipeline(scaler, CountingNB()))]

    SFTClassifier(pipeline_members(True), memory=tmp_path).fit(X, y)
    SFTClassifier(pipeline_members(True), memory=tmp_path).fit(X, y)
    assert len(CountingNB.fits) == 1
    SFTClassifier(pipeline_members(False), memory=tmp_path).fit(X, y)
    assert len(CountingNB.fits) == 2


def test_cache_key_ignores_names_and_verbose(iris, tmp_path, capsys):
    X, y = iris
    SFTClassifier(members(), memory=tmp_path).fit(X, y)
    renamed = [(f"{name}_renamed", member) for name, member in members()]
    SFTClassifier(renamed, memory=tmp_path, verbose=True).fit(X, y)
    assert len(CountingNB.fits) == 2
    assert "Processing a_renamed" in capsys.readouterr().out


def test_cache_grid_search_fits_once_per_fold(iris, tmp_path):
    X, y = iris
    grid = {
        "b": [CountingNB(var_smoothing=1e-3), "drop"],
        "tree": [DecisionTreeClassifier(max_depth=3, random_state=0), "drop"],
        "temperature": [0.2, 1.0, 5.0],
    }
    search = GridSearchCV(SFTClassifier(members(), memory=tmp_path), grid, cv=3)
    search.fit(X, y)

    fold_sizes = [len(train) for train, _ in StratifiedKFold(3).split(X, y)]
    best_members = search.best_estimator_.named_estimators_
    refits = 1 + (best_members["b"] != "drop")
    expected = sorted(
        [(1e-9, size) for size in fold_sizes]
        + [(1e-3, size) for size in fold_sizes]
        + [(1e-9, len(y))]
        + [(1e-3, len(y))] * (refits - 1)
    )
    assert sorted(CountingNB.fits) == expected

    # Uncached, every candidate fits its members on every fold: member "a" is in
    # all 12 candidates and member "b" in 6.
    CountingNB.fits.clear()
    GridSearchCV(SFTClassifier(members()), grid, cv=3).fit(X, y)
    assert len(CountingNB.fits) == 12 * 3 + 6 * 3 + refits


def test_cache_fold_fits_keyed_by_training_rows(iris, tmp_path):
    X, y = iris
    learned = SFTClassifier(members(), temperature="learn", cv=3, memory=tmp_path)
    learned.fit(X, y)
    assert len(CountingNB.fits) == 2 * 4

    CountingNB.fits.clear()
    SFTClassifier(members(), temperature="learn", cv=3, memory=tmp_path).fit(X, y)
    assert CountingNB.fits == []

    # A plain fit on one training fold's rows is that fold fit of the learned one.
    train, _ = next(StratifiedKFold(3).split(X, y))
    SFTClassifier(members(), memory=tmp_path).fit(X[train], y[train])
    assert CountingNB.fits == []


def test_cache_learned_fusion_equals_uncached(iris, tmp_path):
    X, y = iris
    params = {"temperature": "learn", "weights": "learn", "pool": "auto", "cv": 3}
    plain = SFTClassifier(members(), **params).fit(X, y)
    SFTClassifier(members(), memory=tmp_path, **params).fit(X, y)
    hit = SFTClassifier(members(), memory=tmp_path, **params).fit(X, y)
    assert hit.temperature_ == plain.temperature_
    assert np.array_equal(hit.weights_, plain.weights_)
    assert np.array_equal(hit.predict_proba(X), plain.predict_proba(X))


def test_cache_frozen_member_never_cached(iris, tmp_path):
    X, y = iris
    prefit = CountingNB().fit(X, y)
    CountingNB.fits.clear()
    estimators = [("frozen", FrozenEstimator(prefit)), ("nb", GaussianNB())]
    model = SFTClassifier(estimators, memory=tmp_path).fit(X, y)
    assert CountingNB.fits == []
    assert cached_results(tmp_path) == 1
    assert model.named_estimators_["frozen"].estimator is prefit

    SFTClassifier(estimators, weights="learn", cv=3, memory=tmp_path).fit(X, y)
    assert CountingNB.fits == []
    # The fit of nb on all samples is the one already cached.
    assert cached_results(tmp_path) == 1 + 3


def test_cache_skorch_member(iris, tmp_path, torch_single_thread):
    X, y = iris
    X = scaled_float32(X)

    def fit(seed, memory):
        torch.manual_seed(seed)
        estimators = [("net", tiny_net()), ("lr", LogisticRegression(max_iter=1000))]
        return SFTClassifier(estimators, memory=memory).fit(X, y)

    plain = fit(0, None)
    miss = fit(0, tmp_path)
    assert cached_results(tmp_path) == 2
    # Another seed would give other initial weights: only a cache hit ignores it.
    hit = fit(1, tmp_path)
    assert cached_results(tmp_path) == 2
    other_seed = fit(1, None)
    assert np.array_equal(miss.predict_proba(X), plain.predict_proba(X))
    assert np.array_equal(hit.predict_proba(X), plain.predict_proba(X))
    assert not np.array_equal(other_seed.predict_proba(X), plain.predict_proba(X))


def test_cache_tensor_input_and_parameter(iris, tmp_path, torch_single_thread):
    X, y = iris
    X = scaled_float32(X)

    def fit(seed):
        torch.manual_seed(seed)
        class_weight = torch.tensor([1.0, 2.0, 1.0])
        net = tiny_net(criterion__weight=class_weight)
        # A new tensor with the same values on every fit.
        return SFTClassifier([("net", net)], memory=tmp_path).fit(
            torch.from_numpy(X.copy()), torch.from_numpy(y.copy())
        )

    first = fit(0)
    # Another seed would give other initial weights: only a cache hit ignores it.
    second = fit(1)
    assert cached_results(tmp_path) == 1
    assert np.array_equal(second.predict_proba(X), first.predict_proba(X))


def test_cache_pandas_input(iris, tmp_path):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    labels = pd.Series(np.array(["x", "y", "z"])[y])
    params = {"temperature": "learn", "cv": 3, "memory": tmp_path}
    first = SFTClassifier(members(), **params).fit(frame, labels)
    CountingNB.fits.clear()
    second = SFTClassifier(members(), **params).fit(frame, labels)
    assert CountingNB.fits == []
    assert list(second.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    assert np.array_equal(second.predict_proba(frame), first.predict_proba(frame))


@pytest.mark.parametrize("kind", ["str", "path", "joblib.Memory"])
def test_cache_memory_forms(iris, tmp_path, kind):
    X, y = iris
    memory = {
        "str": str(tmp_path),
        "path": tmp_path,
        "joblib.Memory": joblib.Memory(tmp_path, verbose=0),
    }[kind]
    SFTClassifier(members(), memory=memory).fit(X, y)
    SFTClassifier(members(), memory=memory).fit(X, y)
    assert len(CountingNB.fits) == 2
    assert cached_results(tmp_path) == 3


def test_cache_memory_without_location_caches_nothing(iris):
    X, y = iris
    memory = joblib.Memory(None, verbose=0)
    SFTClassifier(members(), memory=memory).fit(X, y)
    SFTClassifier(members(), memory=memory).fit(X, y)
    assert len(CountingNB.fits) == 4


def test_cache_parallel_fits_fill_cache(iris, tmp_path):
    X, y = iris
    params = {"temperature": "learn", "cv": 3, "memory": tmp_path}
    parallel = SFTClassifier(members(), n_jobs=2, **params).fit(X, y)
    assert cached_results(tmp_path) == 3 * 4
    sequential = SFTClassifier(members(), **params).fit(X, y)
    assert CountingNB.fits == []
    assert np.array_equal(parallel.predict_proba(X), sequential.predict_proba(X))


def double(X):
    return 2 * X


def test_cache_unpicklable_member_rejected(iris, tmp_path):
    X, y = iris
    local = make_pipeline(FunctionTransformer(lambda X: 2 * X), GaussianNB())
    model = SFTClassifier([("local", local)], memory=tmp_path)
    with pytest.raises(ValueError, match="member 'local' .* cannot be cached"):
        model.fit(X, y)

    # Without a cache the same member fits, and a module-level function caches.
    SFTClassifier([("local", local)]).fit(X, y)
    module_level = make_pipeline(FunctionTransformer(double), GaussianNB())
    SFTClassifier([("module_level", module_level)], memory=tmp_path).fit(X, y)
    assert cached_results(tmp_path) == 1


@pytest.mark.parametrize("memory", [3, ["folder"], object()])
def test_cache_invalid_memory_rejected(iris, memory):
    X, y = iris
    with pytest.raises(ValueError, match="The 'memory' parameter of SFTClassifier"):
        SFTClassifier(members(), memory=memory).fit(X, y)


class LockingNB(GaussianNB):
    """GaussianNB whose fitted state holds a lock, which pickle rejects."""

    def fit(self, X, y, sample_weight=None):
        self.lock_ = threading.Lock()
        return super().fit(X, y, sample_weight=sample_weight)


def test_cache_unpicklable_fitted_member_not_stored(iris, tmp_path):
    X, y = iris
    estimators = [("locking", LockingNB()), ("nb", GaussianNB(var_smoothing=1e-3))]
    with pytest.warns(Warning, match="Unable to cache"):
        model = SFTClassifier(estimators, memory=tmp_path).fit(X, y)
    assert cached_results(tmp_path) == 1
    uncached = SFTClassifier(estimators).fit(X, y)
    assert np.array_equal(model.predict_proba(X), uncached.predict_proba(X))


def test_cache_memmap_input_hits_cache(iris, tmp_path):
    X, y = iris
    # loky hands arrays above 1 MB to its workers as memmaps.
    mapped = np.memmap(tmp_path / "X.dat", dtype=X.dtype, mode="w+", shape=X.shape)
    mapped[:] = X
    mapped.flush()
    SFTClassifier(members(), memory=tmp_path / "cache").fit(mapped, y)
    assert len(CountingNB.fits) == 2
    SFTClassifier(members(), memory=tmp_path / "cache").fit(X, y)
    assert len(CountingNB.fits) == 2


def script_class(name, monkeypatch):
    """Return a GaussianNB subclass that poses as defined in the running script.

    Classes of ``__main__`` reach joblib's worker processes pickled by value,
    so the workers cannot find them by name.
    """
    cls = type(name, (GaussianNB,), {"__module__": "__main__"})
    monkeypatch.setattr(sys.modules["__main__"], name, cls, raising=False)
    return cls


def test_cache_script_class_in_worker_processes(iris, tmp_path, monkeypatch):
    X, y = iris
    ScriptNB = script_class("ScriptNB", monkeypatch)
    params = {"temperature": "learn", "cv": 3, "memory": tmp_path}
    parallel = SFTClassifier([("nb", ScriptNB())], n_jobs=2, **params).fit(X, y)
    assert cached_results(tmp_path) == 4

    # The main process finds every fit that the workers stored.
    sequential = SFTClassifier([("nb", ScriptNB())], **params).fit(X, y)
    assert cached_results(tmp_path) == 4
    assert type(sequential.named_estimators_["nb"]) is ScriptNB
    assert np.array_equal(parallel.predict_proba(X), sequential.predict_proba(X))


def test_register_main_global_keeps_script_names(monkeypatch):
    monkeypatch.setattr(_hashing, "_REGISTERED_IN_MAIN", {})
    main = sys.modules["__main__"]
    ScriptNB = script_class("ScriptNB", monkeypatch)
    other = type("ScriptNB", (GaussianNB,), {"__module__": "__main__"})
    assert not register_main_global(other)
    assert main.ScriptNB is ScriptNB
    assert not register_main_global(lambda X: X)
    assert not register_main_global(GaussianNB)

    monkeypatch.delattr(main, "ScriptNB")
    assert register_main_global(other)
    assert main.ScriptNB is other
    # A name that it set itself may be set again, for a redefined class.
    redefined = type("ScriptNB", (GaussianNB,), {"__module__": "__main__"})
    assert register_main_global(redefined)
    assert main.ScriptNB is redefined
