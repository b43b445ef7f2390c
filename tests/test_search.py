"""Tests of MemberSearchCV: member subsets scored from one set of fold predictions."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import torch
from nets import scaled_float32, split_columns, tiny_net, two_input_net
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sftfusion import MemberSearchCV, SFTClassifier, softmax_fusion
from sftfusion._learning import fit_fusion


class CountingNB(GaussianNB):
    """GaussianNB that records the number of samples of every real fit."""

    fits = []

    def fit(self, X, y, sample_weight=None):
        CountingNB.fits.append(len(y))
        return super().fit(X, y, sample_weight=sample_weight)


def members():
    return [
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("knn", KNeighborsClassifier(n_neighbors=15)),
    ]


def subset_grid(names, temperatures, pools):
    """Return a GridSearchCV grid with one dict per non-empty member subset."""
    grid = []
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(names, size):
            dropped = {name: ["drop"] for name in names if name not in subset}
            grid.append({**dropped, "temperature": temperatures, "pool": pools})
    return grid


def candidate_key(params, names):
    """Return (included members, temperature, pool) of a candidate's params."""
    included = tuple(name for name in names if params.get(name) != "drop")
    return included, params["temperature"], params["pool"]


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_search_scores_equal_grid_search(iris, scoring):
    X, y = iris
    names = [name for name, _ in members()]
    temperatures, pools = [0.2, 1.0, float("inf")], ["linear", "log"]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = MemberSearchCV(
        SFTClassifier(members()),
        temperatures=temperatures,
        pools=pools,
        scoring=scoring,
        cv=cv,
    ).fit(X, y)
    grid = GridSearchCV(
        SFTClassifier(members()),
        subset_grid(names, temperatures, pools),
        scoring=scoring,
        cv=cv,
    ).fit(X, y)

    assert len(search.cv_results_["params"]) == 7 * 3 * 2
    grid_rows = {
        candidate_key(params, names): row
        for row, params in enumerate(grid.cv_results_["params"])
    }
    assert len(grid_rows) == len(search.cv_results_["params"])
    for row, params in enumerate(search.cv_results_["params"]):
        grid_row = grid_rows[candidate_key(params, names)]
        for split in range(3):
            key = f"split{split}_test_score"
            assert search.cv_results_[key][row] == grid.cv_results_[key][grid_row]
    assert search.best_score_ == grid.best_score_
    if scoring == "neg_log_loss":
        chosen = candidate_key(grid.best_params_, names)
        assert candidate_key(search.best_params_, names) == chosen


def test_search_results_layout(iris):
    X, y = iris
    search = MemberSearchCV(
        SFTClassifier(members()), temperatures=[0.5, 2.0], cv=4
    ).fit(X, y)
    results = search.cv_results_
    n_candidates = 7 * 2

    expected_keys = {
        "param_members",
        "param_temperature",
        "param_pool",
        "params",
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
    } | {f"split{split}_test_score" for split in range(4)}
    assert set(results) == expected_keys
    assert all(len(results[key]) == n_candidates for key in results)

    assert results["param_members"][0] == ("nb",)
    assert results["param_members"][-1] == ("nb", "tree", "knn")
    assert list(results["param_temperature"][:2]) == [0.5, 2.0]
    assert set(results["param_pool"]) == {"linear"}
    assert results["params"][0] == {
        "tree": "drop",
        "knn": "drop",
        "temperature": 0.5,
        "pool": "linear",
    }

    splits = np.column_stack([results[f"split{k}_test_score"] for k in range(4)])
    assert np.array_equal(results["mean_test_score"], splits.mean(axis=1))
    assert np.array_equal(results["std_test_score"], splits.std(axis=1))
    assert results["rank_test_score"].dtype == np.int32
    assert results["rank_test_score"][search.best_index_] == 1
    assert search.best_score_ == results["mean_test_score"].max()
    assert search.n_splits_ == 4
    assert np.array_equal(search.classes_, [0, 1, 2])
    frame = pd.DataFrame(results)
    assert frame.shape == (n_candidates, len(expected_keys))


def test_search_ties_rank_first_candidate_best(iris):
    X, y = iris
    # Listing a pool twice gives pairs of identical candidates, which tie.
    twin = [("nb", GaussianNB()), ("nb2", GaussianNB())]
    search = MemberSearchCV(SFTClassifier(twin), pools=["linear", "linear"], cv=3).fit(
        X, y
    )
    ranks = search.cv_results_["rank_test_score"]
    assert ranks[0] == ranks[1]
    assert search.best_index_ == int(np.flatnonzero(ranks == 1)[0])


def test_search_fits_each_member_once_per_fold(iris):
    X, y = iris
    CountingNB.fits.clear()
    estimator = SFTClassifier([("nb", CountingNB()), ("tree", members()[1][1])])
    search = MemberSearchCV(estimator, temperatures=[0.1, 1.0, 10.0], cv=5)
    search.fit(X, y)
    in_best = search.best_estimator_.named_estimators_["nb"] != "drop"
    assert len(CountingNB.fits) == 5 + in_best
    assert CountingNB.fits[:5] == [120] * 5


def test_search_best_estimator_is_refitted_candidate(iris):
    X, y = iris
    estimator = SFTClassifier(members(), weights=[1.0, 2.0, 3.0])
    search = MemberSearchCV(estimator, temperatures=[0.3, 3.0], cv=3).fit(X, y)
    expected = clone(estimator).set_params(**search.best_params_).fit(X, y)
    best = search.best_estimator_
    assert isinstance(best, SFTClassifier)
    assert best.temperature_ == expected.temperature_
    assert np.array_equal(best.weights_, expected.weights_)
    assert np.array_equal(best.predict_proba(X), expected.predict_proba(X))
    assert np.array_equal(search.predict_proba(X), expected.predict_proba(X))
    assert np.array_equal(search.predict(X), expected.predict(X))
    assert np.array_equal(search.predict_log_proba(X), expected.predict_log_proba(X))
    assert search.score(X, y) == accuracy_score(y, expected.predict(X))
    assert search.refit_time_ >= 0


def test_search_weights_restricted_to_subset(iris):
    X, y = iris
    estimator = SFTClassifier(members(), weights=[1.0, 0.0, 3.0], temperature=0.5)
    search = MemberSearchCV(estimator, scoring="neg_log_loss", cv=3).fit(X, y)
    subsets = list(search.cv_results_["param_members"])
    # The tree alone has weight 0, so that subset is left out.
    assert ("tree",) not in subsets
    assert len(subsets) == 6

    # The score of (nb, knn) fuses them with priors 1/4 and 3/4.
    folds = list(StratifiedKFold(3).split(X, y))
    row = subsets.index(("nb", "knn"))
    probas = [
        cross_val_predict(member, X, y, cv=folds, method="predict_proba")
        for name, member in members()
        if name != "tree"
    ]
    for split, (_, test) in enumerate(folds):
        fold_probas = np.stack([proba[test] for proba in probas])
        fused = softmax_fusion(fold_probas, temperature=0.5, weights=[1.0, 3.0])
        expected = -log_loss(y[test], fused, labels=[0, 1, 2])
        score = search.cv_results_[f"split{split}_test_score"][row]
        assert score == pytest.approx(expected, rel=1e-12)


def test_search_learned_candidates_learn_on_other_folds(iris):
    X, y = iris
    estimator = SFTClassifier(members(), weights="learn")
    search = MemberSearchCV(
        estimator, temperatures=["learn", 1.0], scoring="neg_log_loss", cv=3
    ).fit(X, y)
    results = search.cv_results_
    assert np.all(np.isfinite(results["mean_test_score"]))

    # Reproduce the full subset with a learned temperature, fold by fold.
    folds = list(StratifiedKFold(3).split(X, y))
    probas = np.stack(
        [
            cross_val_predict(member, X, y, cv=folds, method="predict_proba")
            for _, member in members()
        ]
    )
    row = len(results["params"]) - 2
    assert results["param_members"][row] == ("nb", "tree", "knn")
    assert results["param_temperature"][row] == "learn"
    for split, (train, test) in enumerate(folds):
        learned, _ = fit_fusion(
            probas[:, train],
            y[train],
            None,
            pools=("linear",),
            temperature=1.0,
            prior=np.full(3, 1 / 3),
            learn_temperature=True,
            learn_weights=True,
            calibrate_members=False,
            names=["nb", "tree", "knn"],
        )
        fused = softmax_fusion(
            probas[:, test], temperature=learned.temperature, weights=learned.prior
        )
        expected = -log_loss(y[test], fused, labels=[0, 1, 2])
        score = results[f"split{split}_test_score"][row]
        assert score == pytest.approx(expected, rel=1e-9)


def test_search_auto_pool_and_calibration(iris):
    X, y = iris
    estimator = SFTClassifier(members()[:2], calibrate_members=True, cv=3)
    search = MemberSearchCV(
        estimator, pools=["auto"], scoring="neg_log_loss", cv=3
    ).fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.pool_ in ("linear", "log")
    assert search.best_estimator_.member_temperatures_.shape == (
        len(search.best_estimator_.estimators_),
    )


def test_search_dropped_entries_stay_out(iris):
    X, y = iris
    estimators = [members()[0], ("skip", "drop"), members()[1]]
    search = MemberSearchCV(SFTClassifier(estimators), cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    for included in search.cv_results_["param_members"]:
        assert "skip" not in included
    for params in search.cv_results_["params"]:
        assert "skip" not in params
    assert search.best_estimator_.named_estimators_["skip"] == "drop"


def test_search_sample_weight_matches_grid_search(iris):
    X, y = iris
    weight = np.random.default_rng(0).uniform(0.2, 2.0, len(y))
    estimators = [("nb", GaussianNB()), ("tree", members()[1][1])]
    search = MemberSearchCV(SFTClassifier(estimators), scoring="neg_log_loss", cv=3)
    search.fit(X, y, sample_weight=weight)
    grid = GridSearchCV(
        SFTClassifier(estimators),
        subset_grid(["nb", "tree"], [1.0], ["linear"]),
        scoring="neg_log_loss",
        cv=3,
    ).fit(X, y, sample_weight=weight)
    grid_scores = {
        candidate_key(params, ["nb", "tree"]): score
        for params, score in zip(
            grid.cv_results_["params"],
            grid.cv_results_["mean_test_score"],
            strict=True,
        )
    }
    for params, score in zip(
        search.cv_results_["params"],
        search.cv_results_["mean_test_score"],
        strict=True,
    ):
        assert score == grid_scores[candidate_key(params, ["nb", "tree"])]


def test_search_member_without_sample_weight_rejected(iris):
    X, y = iris
    estimators = [("nb", GaussianNB()), ("knn", KNeighborsClassifier())]
    search = MemberSearchCV(SFTClassifier(estimators), cv=3)
    with pytest.raises(ValueError, match="member 'knn' .* does not accept"):
        search.fit(X, y, sample_weight=np.ones(len(y)))


def test_search_group_folds(iris):
    X, y = iris
    groups = np.arange(len(y)) % 5
    search = MemberSearchCV(SFTClassifier(members()), cv=GroupKFold(5))
    search.fit(X, y, groups=groups)
    assert search.n_splits_ == 5
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_search_string_labels_and_scorer(iris_named):
    X, y = iris_named
    search = MemberSearchCV(SFTClassifier(members()), scoring="roc_auc_ovr", cv=3).fit(
        X, y
    )
    assert list(search.classes_) == ["setosa", "versicolor", "virginica"]
    assert np.all(search.cv_results_["mean_test_score"] > 0.9)
    assert set(search.predict(X)) <= set(search.classes_)


def test_search_parallel_matches_sequential(iris):
    X, y = iris
    params = {"temperatures": [0.1, "learn"], "scoring": "neg_log_loss", "cv": 3}
    sequential = MemberSearchCV(SFTClassifier(members()), **params).fit(X, y)
    parallel = MemberSearchCV(SFTClassifier(members()), n_jobs=2, **params).fit(X, y)
    for key in ("mean_test_score", "rank_test_score"):
        assert np.array_equal(parallel.cv_results_[key], sequential.cv_results_[key])
    assert parallel.best_params_ == sequential.best_params_


def test_search_uses_estimator_memory(iris, tmp_path):
    X, y = iris
    CountingNB.fits.clear()
    estimator = SFTClassifier([("nb", CountingNB())], memory=tmp_path)
    MemberSearchCV(estimator, cv=3).fit(X, y)
    MemberSearchCV(estimator, cv=3).fit(X, y)
    assert len(CountingNB.fits) == 3 + 1


def test_search_skorch_member(iris, torch_single_thread):
    X, y = iris
    X = scaled_float32(X)
    torch.manual_seed(0)
    estimators = [("net", tiny_net()), ("lr", LogisticRegression(max_iter=1000))]
    search = MemberSearchCV(
        SFTClassifier(estimators), temperatures=[0.2, 1.0], cv=3
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 6
    assert search.best_score_ > 0.8
    assert search.predict(X).shape == y.shape


def test_search_dict_input(iris, torch_single_thread):
    X, y = iris
    X = split_columns(scaled_float32(X))

    def search():
        torch.manual_seed(0)
        estimator = SFTClassifier([("net", two_input_net())])
        return MemberSearchCV(estimator, temperatures=[0.5, 1.0], cv=3).fit(X, y)

    first, second = search(), search()
    assert np.all(np.isfinite(first.cv_results_["mean_test_score"]))
    assert first.predict(X).shape == y.shape
    assert np.array_equal(
        first.cv_results_["split0_test_score"], second.cv_results_["split0_test_score"]
    )


def test_search_verbose_prints_progress(iris, capsys):
    X, y = iris
    MemberSearchCV(
        SFTClassifier(members()[:2]), temperatures=[0.5, 1.0], cv=2, verbose=True
    ).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 + 1
    fold = r"\[MemberSearchCV\] \.+ \(1 of 4\) Processing nb, fold 1 of 2, total=.*"
    assert re.fullmatch(fold, lines[0])
    assert all(line.startswith("[MemberSearchCV] ") for line in lines)
    pattern = r"\[MemberSearchCV\] \.+ Scored 6 candidates on 2 folds, total=.*"
    assert re.fullmatch(pattern, lines[4])


def test_search_refit_false_has_no_predict(iris):
    X, y = iris
    search = MemberSearchCV(SFTClassifier(members()), refit=False, cv=3).fit(X, y)
    assert not hasattr(search, "best_estimator_")
    assert search.best_params_ == search.cv_results_["params"][search.best_index_]
    with pytest.raises(AttributeError, match="has no attribute 'predict'") as info:
        search.predict(X)
    assert "created with refit=False" in str(info.value.__cause__)


def test_search_refit_false_drops_previous_best_estimator(iris):
    X, y = iris
    search = MemberSearchCV(SFTClassifier(members()), cv=3).fit(X, y)
    assert hasattr(search, "best_estimator_")
    search.set_params(refit=False).fit(X, y)
    assert not hasattr(search, "best_estimator_")
    assert not hasattr(search, "refit_time_")
    assert not hasattr(search, "n_features_in_")


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer features and 0/1 labels, a small real binary problem."""
    return load_breast_cancer(return_X_y=True)


def tumour_cost(estimator, X, y):
    """Return minus the summed feature 1 of the samples of class 0 predicted 1.

    A cost-sensitive scorer: it reads a feature of X, not only the predictions.
    """
    missed = (estimator.predict(X) == 1) & (y == 0)
    return -float(np.sum(X[missed, 1]))


def test_search_callable_scorer_reads_test_features(cancer):
    X, y = cancer
    names = ["nb", "tree"]
    estimators = [("nb", GaussianNB()), members()[1]]
    search = MemberSearchCV(SFTClassifier(estimators), scoring=tumour_cost, cv=3)
    search.fit(X, y)
    grid = GridSearchCV(
        SFTClassifier(estimators),
        subset_grid(names, [1.0], ["linear"]),
        scoring=tumour_cost,
        cv=3,
    ).fit(X, y)
    grid_scores = {
        candidate_key(params, names): score
        for params, score in zip(
            grid.cv_results_["params"], grid.cv_results_["mean_test_score"], strict=True
        )
    }
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        assert score == grid_scores[candidate_key(params, names)]


def test_search_scorer_predicting_other_input_rejected(iris):
    X, y = iris

    def copying_scorer(estimator, X, y):
        return float(np.mean(estimator.predict(X.copy()) == y))

    search = MemberSearchCV(
        SFTClassifier(members()), scoring=copying_scorer, cv=3, error_score="raise"
    )
    with pytest.raises(ValueError, match="other than the test fold it received"):
        search.fit(X, y)


def test_search_failed_scores_set_to_error_score(iris):
    X, y = iris
    # Without shuffling, each test fold of the sorted iris contains one class, on
    # which log-loss is undefined.
    estimators = members()[:2]
    params = {"scoring": "neg_log_loss", "cv": KFold(3)}
    failed = "9 of 9 test scores failed and were set to error_score=nan"
    with pytest.warns(UserWarning, match=failed):
        search = MemberSearchCV(SFTClassifier(estimators), **params).fit(X, y)
    assert np.all(np.isnan(search.cv_results_["split0_test_score"]))
    with pytest.warns(UserWarning, match="split 0: ValueError: y_true contains only"):
        search = MemberSearchCV(
            SFTClassifier(estimators), error_score=-1.0, **params
        ).fit(X, y)
    assert np.all(search.cv_results_["mean_test_score"] == -1.0)

    grid = GridSearchCV(
        SFTClassifier(estimators),
        subset_grid(["nb", "tree"], [1.0], ["linear"]),
        error_score=-1.0,
        **params,
    )
    with pytest.warns(UserWarning):
        grid.fit(X, y)
    assert np.all(grid.cv_results_["mean_test_score"] == -1.0)

    search = MemberSearchCV(SFTClassifier(estimators), error_score="raise", **params)
    with pytest.raises(ValueError, match="y_true contains only one label"):
        search.fit(X, y)


@pytest.mark.parametrize("score", [{"accuracy": 1.0}, np.array([1.0, 2.0]), "1.0"])
def test_search_scorer_returning_non_number_rejected(iris, score):
    X, y = iris
    search = MemberSearchCV(
        SFTClassifier(members()[:1]), scoring=lambda *args: score, cv=3
    )
    with pytest.raises(TypeError, match="must return one number per test fold"):
        search.fit(X, y)


def test_search_unweighted_scorer_warns(iris):
    X, y = iris
    weight = np.random.default_rng(0).uniform(0.2, 2.0, len(y))

    def accuracy(estimator, X, y):
        return float(np.mean(estimator.predict(X) == y))

    search = MemberSearchCV(SFTClassifier(members()[:2]), scoring=accuracy, cv=3)
    with pytest.warns(UserWarning, match="does not take sample_weight"):
        search.fit(X, y, sample_weight=weight)


def test_search_missing_target_names_search(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="MemberSearchCV requires y to be passed"):
        MemberSearchCV(SFTClassifier(members()), cv=3).fit(X, None)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"temperatures": []}, "must contain at least one temperature"),
        ({"temperatures": [1.0, 0.0]}, "temperature"),
        ({"temperatures": ["hot"]}, "temperature"),
        ({"pools": []}, "must contain at least one pool"),
        ({"pools": ["linear", "max"]}, r"'pools' parameter must be one of .*'max'"),
        ({"cv": ShuffleSplit(3, random_state=0)}, "MemberSearchCV scores every"),
        ({"scoring": 3}, "The 'scoring' parameter of MemberSearchCV"),
        ({"error_score": "skip"}, "The 'error_score' parameter of MemberSearchCV"),
    ],
)
def test_search_invalid_parameters_rejected(iris, params, match):
    X, y = iris
    search = MemberSearchCV(SFTClassifier(members()), **params)
    with pytest.raises(ValueError, match=match):
        search.fit(X, y)


@pytest.mark.parametrize(
    "estimator, match",
    [
        (GaussianNB(), "The 'estimator' parameter of MemberSearchCV"),
        (SFTClassifier(members(), temperature=-1.0), "'temperature' parameter"),
        (SFTClassifier([("svc", LinearSVC())]), "has no predict_proba"),
    ],
)
def test_search_invalid_estimator_rejected(iris, estimator, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        MemberSearchCV(estimator).fit(X, y)


@parametrize_with_checks(
    [
        MemberSearchCV(
            SFTClassifier(
                [("lr", LogisticRegression()), ("weak", LogisticRegression(C=0.01))]
            ),
            temperatures=[0.5, 2.0],
            cv=3,
        )
    ]
)
def test_search_sklearn_compatible(estimator, check):
    check(estimator)
