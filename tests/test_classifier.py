"""Tests of SFTClassifier: the scikit-learn contract, members, labels and errors."""

import os
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import torch
from members import ProcessRecordingLogisticRegression
from nets import tiny_net
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sftfusion import SFTClassifier, softmax_fusion


def iris_members():
    return [
        ("lr", LogisticRegression(max_iter=1000)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


@parametrize_with_checks(
    [
        SFTClassifier(
            [
                ("lr", LogisticRegression()),
                ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ]
        ),
        SFTClassifier(
            [
                ("a", DecisionTreeClassifier(max_depth=3, random_state=0)),
                ("skip", "drop"),
                ("b", DecisionTreeClassifier(max_depth=4, random_state=1)),
            ],
            temperature=0.1,
            weights=[1, 5, 2],
        ),
        SFTClassifier(
            [
                ("lr", LogisticRegression()),
                ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
            ],
            temperature=0.5,
            batch_size=7,
            device="cpu",
        ),
    ]
)
def test_classifier_sklearn_compatible(estimator, check):
    check(estimator)


def test_classifier_infinite_temperature_equals_soft_voting(iris):
    X, y = iris
    weights = [1.0, 2.0, 0.5]
    voting = VotingClassifier(iris_members(), voting="soft", weights=weights)
    fused = SFTClassifier(iris_members(), temperature=float("inf"), weights=weights)
    expected = voting.fit(X, y).predict_proba(X)
    assert np.allclose(fused.fit(X, y).predict_proba(X), expected, atol=1e-9, rtol=0)


def test_classifier_probabilities_equal_softmax_fusion(iris):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=0.2, weights=[3, 1, 1]).fit(X, y)
    probas = np.stack([member.predict_proba(X) for member in model.estimators_])
    expected = softmax_fusion(probas, temperature=0.2, weights=[3, 1, 1])
    assert np.array_equal(model.predict_proba(X), expected)


def test_classifier_predict_is_argmax_of_proba(iris_named):
    X, y = iris_named
    model = SFTClassifier(iris_members(), temperature=0.05).fit(X, y)
    proba = model.predict_proba(X)
    assert np.array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert model.score(X, y) == np.mean(model.predict(X) == y)


def test_classifier_string_labels(iris_named):
    X, y = iris_named
    model = SFTClassifier(iris_members()).fit(X, y)
    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert set(model.predict(X)) <= set(model.classes_)
    assert model.score(X, y) > 0.9


def test_classifier_class_weight_keyed_by_string_labels(iris_named):
    X, y = iris_named
    class_weight = {"setosa": 1.0, "versicolor": 8.0, "virginica": 0.5}
    member = LogisticRegression(class_weight=class_weight, max_iter=1000)
    model = SFTClassifier([("lr", member), ("nb", GaussianNB())]).fit(X, y)
    alone = clone(member).fit(X, y)
    assert np.array_equal(model.named_estimators_["lr"].coef_, alone.coef_)


def test_classifier_single_member_returns_its_probabilities(iris):
    X, y = iris
    model = SFTClassifier([("lr", LogisticRegression(max_iter=1000))]).fit(X, y)
    alone = LogisticRegression(max_iter=1000).fit(X, y)
    assert np.array_equal(model.predict_proba(X), alone.predict_proba(X))


def test_classifier_pandas_input_with_column_names():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=200),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], size=200)),
        }
    )
    y = np.where((frame["size"] > 0) ^ (frame["colour"] == "red"), "yes", "no")
    encoded = ColumnTransformer(
        [("onehot", OneHotEncoder(), ["colour"])], remainder="passthrough"
    )
    members = [
        ("lr", make_pipeline(encoded, LogisticRegression())),
        (
            "hgb",
            HistGradientBoostingClassifier(
                categorical_features="from_dtype", max_iter=20
            ),
        ),
    ]
    model = SFTClassifier(members).fit(frame, pd.Series(y))
    assert model.feature_names_in_.tolist() == ["size", "colour"]
    assert model.n_features_in_ == 2
    assert model.score(frame, y) > 0.9


TEXTS = [
    "a wonderful film, warm and funny",
    "great acting and a great story",
    "I loved every minute of it",
    "superb, moving and beautifully shot",
    "one of the best films this year",
    "a delight from start to finish",
    "dull, slow and far too long",
    "terrible script and wooden acting",
    "I hated every minute of it",
    "a boring mess with no story",
    "one of the worst films this year",
    "awful, avoid it",
]
SENTIMENT = ["pos"] * 6 + ["neg"] * 6


def test_classifier_raw_text_members():
    members = [
        ("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression(C=10))),
        ("counts", make_pipeline(CountVectorizer(), MultinomialNB())),
    ]
    model = SFTClassifier(members, temperature=0.5).fit(TEXTS, SENTIMENT)
    assert model.predict(
        ["a great and warm story", "a dull and awful mess"]
    ).tolist() == [
        "pos",
        "neg",
    ]
    assert not hasattr(model, "n_features_in_")


def test_classifier_sparse_input(iris):
    X, y = iris
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("tree", DecisionTreeClassifier(random_state=0)),
    ]
    dense = SFTClassifier(members).fit(X, y).predict_proba(X)
    fitted = SFTClassifier(members).fit(sparse.csr_matrix(X), y)
    # On sparse input lbfgs stops at a slightly different point within its tol.
    assert np.allclose(fitted.predict_proba(sparse.csr_matrix(X)), dense, atol=1e-3)


def test_classifier_sample_weight_reaches_members(iris):
    X, y = iris
    weight = np.random.default_rng(0).uniform(0.1, 3.0, size=len(y))
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("scaled", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
    ]
    model = SFTClassifier(members).fit(X, y, sample_weight=weight)
    alone = LogisticRegression(max_iter=1000).fit(X, y, sample_weight=weight)
    assert np.allclose(model.named_estimators_["lr"].coef_, alone.coef_)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(X, y, logisticregression__sample_weight=weight)
    fitted = model.named_estimators_["scaled"]
    assert np.allclose(fitted[-1].coef_, pipeline[-1].coef_)
    unweighted = SFTClassifier(members).fit(X, y)
    assert not np.allclose(unweighted.named_estimators_["lr"].coef_, alone.coef_)


def test_classifier_sample_weight_unsupported_member_named(iris):
    X, y = iris
    members = [("lr", LogisticRegression()), ("knn", KNeighborsClassifier())]
    match = r"member 'knn' \(KNeighborsClassifier\) does not accept sample_weight"
    with pytest.raises(ValueError, match=match):
        SFTClassifier(members).fit(X, y, sample_weight=np.ones(len(y)))


def test_classifier_fitted_attributes(iris):
    X, y = iris
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("off", "drop"),
        ("nb", GaussianNB()),
    ]
    model = SFTClassifier(members, weights=[1, 10, 3]).fit(X, y)
    assert list(model.named_estimators_) == ["lr", "off", "nb"]
    assert model.named_estimators_["off"] == "drop"
    assert model.estimators_ == [
        model.named_estimators_["lr"],
        model.named_estimators_["nb"],
    ]
    assert model.estimators_[0] is not members[0][1]
    assert np.allclose(model.weights_, [0.25, 0.75])
    assert model.temperature_ == 1.0
    assert model.n_features_in_ == 4
    assert list(model.named_estimators) == ["lr", "off", "nb"]


def test_classifier_parallel_fit_matches_sequential(iris):
    X, y = iris
    sequential = SFTClassifier(iris_members()).fit(X, y).predict_proba(X)
    parallel = SFTClassifier(iris_members(), n_jobs=2).fit(X, y).predict_proba(X)
    assert np.array_equal(parallel, sequential)


def test_classifier_n_jobs_fits_in_workers(iris):
    X, y = iris
    members = [
        (f"lr{index}", ProcessRecordingLogisticRegression(max_iter=1000))
        for index in range(4)
    ]
    sequential = SFTClassifier(members).fit(X, y)
    parallel = SFTClassifier(members, n_jobs=2).fit(X, y)
    main_process = os.getpid()
    sequential_ids = {member.fit_process_id_ for member in sequential.estimators_}
    assert sequential_ids == {main_process}
    worker_ids = {member.fit_process_id_ for member in parallel.estimators_}
    assert main_process not in worker_ids


def test_classifier_verbose_prints_one_line_per_member(iris, capsys):
    X, y = iris
    SFTClassifier(iris_members(), verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    names = ["lr", "nb", "tree"]
    for position, (line, name) in enumerate(zip(lines, names, strict=True), start=1):
        progress = rf"\({position} of 3\) Processing {name}"
        pattern = rf"\[SFTClassifier\] \.+ {progress}, total=\s*\d+\.\ds"
        assert re.fullmatch(pattern, line)
        assert len(line) == 70


def test_classifier_silent_by_default(iris, capsys):
    X, y = iris
    SFTClassifier(iris_members()).fit(X, y)
    assert capsys.readouterr().out == ""


def test_classifier_predict_log_proba_zero_probability(iris):
    X, y = iris
    members = [
        ("a", DecisionTreeClassifier(random_state=0)),
        ("b", DecisionTreeClassifier(random_state=1)),
    ]
    model = SFTClassifier(members).fit(X, y)
    log_proba = model.predict_log_proba(X)
    assert np.isneginf(log_proba).any()
    assert np.array_equal(np.exp(log_proba), model.predict_proba(X))


def test_classifier_pickle_round_trip(iris):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=0.3).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert np.array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_classifier_grid_search_over_members_and_temperature(iris):
    X, y = iris
    grid = {
        "nb": [GaussianNB(), "drop"],
        "tree": [DecisionTreeClassifier(max_depth=2, random_state=0), "drop"],
        "temperature": [0.1, 1.0],
    }
    search = GridSearchCV(SFTClassifier(iris_members()), grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.9
    assert search.best_estimator_.temperature_ in (0.1, 1.0)


def test_classifier_cross_val_score(iris):
    X, y = iris
    scores = cross_val_score(SFTClassifier(iris_members()), X, y, cv=5)
    assert scores.shape == (5,)
    assert scores.mean() > 0.9


def test_classifier_skorch_member_in_grid_search(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X).astype(np.float32)
    torch.manual_seed(0)
    net = tiny_net(module__hidden=16, max_epochs=20)
    members = [("net", net), ("lr", LogisticRegression(max_iter=1000))]
    grid = {"net__max_epochs": [2, 20], "temperature": [0.5, 1.0]}
    search = GridSearchCV(SFTClassifier(members), grid, cv=3).fit(X, y)
    assert search.best_score_ > 0.85
    fitted_net = search.best_estimator_.named_estimators_["net"]
    assert fitted_net.max_epochs == search.best_params_["net__max_epochs"]
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    assert np.array_equal(
        restored.predict_proba(X), search.best_estimator_.predict_proba(X)
    )


def test_classifier_member_emitting_nan_named(iris):
    X, y = iris
    broken = LogisticRegression(max_iter=1000).fit(X, y)
    broken.coef_[:] = np.nan
    members = [("lr", GaussianNB()), ("broken", FrozenEstimator(broken))]
    model = SFTClassifier(members).fit(X, y)
    with pytest.raises(
        ValueError, match=r"member 'broken' \(FrozenEstimator\) contain NaN"
    ):
        model.predict_proba(X)


def test_classifier_member_fit_error_names_member(iris):
    X, _ = iris
    one_class = np.zeros(len(X), dtype=int)
    members = [("tree", DecisionTreeClassifier()), ("lr", LogisticRegression())]
    match = r"member 'lr' \(LogisticRegression\) failed in fit: .*at least 2 classes"
    with pytest.raises(ValueError, match=match) as info:
        SFTClassifier(members).fit(X, one_class)
    assert isinstance(info.value.__cause__, ValueError)
    assert "failed in fit" not in str(info.value.__cause__)


def test_classifier_member_with_unknown_class_rejected(iris):
    X, y = iris
    other = GaussianNB().fit(X, y + 10)
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("other", FrozenEstimator(other)),
    ]
    match = r"'other' \(FrozenEstimator\) predicts classes \[10, 11, 12\] that are not"
    with pytest.raises(ValueError, match=match):
        SFTClassifier(members).fit(X, y)


def test_classifier_member_on_subset_of_classes_aligned(iris):
    X, y = iris
    keep = y > 0
    partial = GaussianNB().fit(X[keep], y[keep])
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("partial", FrozenEstimator(partial)),
    ]
    model = SFTClassifier(members, weights=[0, 1]).fit(X, y)
    proba = model.predict_proba(X)
    assert np.all(proba[:, 0] == 0)
    assert np.array_equal(proba[:, 1:], partial.predict_proba(X))


class UnlabelledNB(GaussianNB):
    """A classifier that, like some third-party ones, keeps no classes_ after fit."""

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        self.labels = self.classes_
        del self.classes_
        return self

    def predict_proba(self, X):
        self.classes_ = self.labels
        try:
            return super().predict_proba(X)
        finally:
            del self.classes_


def test_classifier_member_without_classes_rejected(iris):
    X, y = iris
    with pytest.raises(
        ValueError, match=r"member 'nb' \(UnlabelledNB\) has no classes_"
    ):
        SFTClassifier([("nb", UnlabelledNB())]).fit(X, y)


def test_classifier_unfitted_predict_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SFTClassifier(iris_members()).predict(np.zeros((2, 4)))


def test_classifier_y_none_rejected(iris):
    X, _ = iris
    with pytest.raises(
        ValueError, match="requires y to be passed, but the target y is None"
    ):
        SFTClassifier(iris_members()).fit(X, None)


@pytest.mark.parametrize(
    "estimators, match",
    [
        ([], r"non-empty list of \(name, estimator\) tuples; got \[\]"),
        ([("lr",)], r"must be a \(name, estimator\) tuple; got \('lr',\)"),
        ([(1, GaussianNB())], r"Member names must be strings; got 1"),
        (
            [("m", GaussianNB()), ("m", LogisticRegression())],
            r"must be unique; 'm' appears 2 times in \['m', 'm'\]",
        ),
        ([("my__nb", GaussianNB())], r"'my__nb' must not contain '__'"),
        (
            [("weights", GaussianNB())],
            r"'weights' is also a parameter of SFTClassifier",
        ),
        ([("a", "drop"), ("b", "drop")], r"All members are 'drop' in \['a', 'b'\]"),
        (
            [("reg", LinearRegression())],
            r"member 'reg' \(LinearRegression\) is not a classifier",
        ),
        (
            [("svc", SVC())],
            r"member 'svc' \(SVC\) has no predict_proba.*CalibratedClassifierCV",
        ),
    ],
)
def test_classifier_invalid_estimators_rejected(iris, estimators, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        SFTClassifier(estimators).fit(X, y)


def test_classifier_estimators_not_a_list_rejected(iris):
    X, y = iris
    with pytest.raises(
        ValueError, match=r"'estimators' parameter of SFTClassifier must be"
    ):
        SFTClassifier(tuple(iris_members())).fit(X, y)


@pytest.mark.parametrize(
    "weights, match",
    [
        (
            [1, 2],
            r"one weight per entry \(3 entries, dropped ones included\); "
            r"got \[1, 2\] with shape \(2,\)",
        ),
        ([1, -2, 1], r"must be non-negative; got \[1, -2, 1\]"),
        ([1, 1, float("nan")], r"must contain finite numbers"),
        ([0, 5, 0], r"at least one active member a positive weight; got \[0, 5, 0\]"),
    ],
)
def test_classifier_invalid_weights_rejected(iris, weights, match):
    X, y = iris
    members = [("lr", LogisticRegression()), ("off", "drop"), ("nb", GaussianNB())]
    with pytest.raises(ValueError, match=match):
        SFTClassifier(members, weights=weights).fit(X, y)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), "hot"])
def test_classifier_invalid_temperature_rejected(iris, temperature):
    X, y = iris
    match = r"'temperature' parameter of SFTClassifier must be .*" + re.escape(
        f"Got {temperature!r} instead."
    )
    with pytest.raises(ValueError, match=match):
        SFTClassifier(iris_members(), temperature=temperature).fit(X, y)


@pytest.mark.parametrize("weights", [np.array([1.0, 2.0, 3.0]), [1, 2, 3], (1, 2, 3)])
def test_classifier_weights_any_array_like(iris, weights):
    X, y = iris
    model = SFTClassifier(iris_members(), weights=weights).fit(X, y)
    assert np.allclose(model.weights_, [1 / 6, 2 / 6, 3 / 6])
