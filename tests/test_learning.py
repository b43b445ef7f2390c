"""Tests of learned fusion: the objective, the optimiser and SFTClassifier's use."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import torch
from nets import scaled_float32, split_columns, two_input_net
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import ShuffleSplit, StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sftfusion import SFTClassifier, softmax_fusion
from sftfusion._crossfit import FoldAveragedClassifier
from sftfusion._learning import (
    MEMBER_PRIOR_SAMPLES,
    PRIOR_REGULARIZATION,
    TEMPERATURE_BOUNDS,
    _FusionObjective,
    _Layout,
    learn_fusion,
)


def random_problem(n_members=3, n_samples=300, n_classes=4, seed=0):
    """Return member probabilities with exact zeros and ones, labels and weights."""
    rng = np.random.default_rng(seed)
    probas = rng.dirichlet(np.full(n_classes, 0.4), size=(n_members, n_samples))
    probas[0, :20] = 0.0
    probas[0, :20, 0] = 1.0
    y_index = rng.integers(0, n_classes, n_samples)
    weight = rng.uniform(0.5, 2.0, n_samples)
    return probas, y_index, weight


LAYOUTS = [
    combination
    for combination in itertools.product(["linear", "log"], *[[True, False]] * 3)
    if any(combination[1:])
]


@pytest.mark.parametrize("pool, learn_t, learn_w, calibrate", LAYOUTS)
def test_objective_gradient_matches_finite_differences(
    pool, learn_t, learn_w, calibrate
):
    probas, y_index, weight = random_problem()
    layout = _Layout(
        n_members=3,
        learn_temperature=learn_t,
        learn_weights=learn_w,
        calibrate_members=calibrate,
        temperature=0.7,
        prior=np.array([0.2, 0.3, 0.5]),
    )
    objective = _FusionObjective(probas, y_index, weight, pool, layout)
    theta = np.random.default_rng(1).normal(scale=0.5, size=layout.size)
    _, gradient = objective(theta)
    numeric = np.zeros_like(theta)
    for index in range(layout.size):
        step = np.zeros_like(theta)
        step[index] = 1e-6
        numeric[index] = (
            objective(theta + step)[0] - objective(theta - step)[0]
        ) / 2e-6
    assert np.allclose(gradient, numeric, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("pool, learn_t, learn_w, calibrate", LAYOUTS)
def test_objective_loss_matches_kernel(pool, learn_t, learn_w, calibrate):
    probas, y_index, weight = random_problem(seed=2)
    layout = _Layout(
        n_members=3,
        learn_temperature=learn_t,
        learn_weights=learn_w,
        calibrate_members=calibrate,
        temperature=0.7,
        prior=np.array([0.2, 0.3, 0.5]),
    )
    objective = _FusionObjective(probas, y_index, weight, pool, layout)
    theta = np.random.default_rng(3).normal(scale=0.5, size=layout.size)
    temperature, prior, member_temperatures = layout.decode(theta)
    fused = softmax_fusion(
        probas,
        temperature=temperature,
        weights=prior,
        pool=pool,
        member_temperatures=member_temperatures,
    )
    true = np.maximum(fused[np.arange(len(y_index)), y_index], np.finfo(float).eps)
    expected = np.average(-np.log(true), weights=weight)
    if learn_w:
        alpha = theta[layout.prior_slice]
        expected += 0.5 * PRIOR_REGULARIZATION * np.sum((alpha - alpha.mean()) ** 2)
    if calibrate:
        strength = MEMBER_PRIOR_SAMPLES / weight.sum()
        expected += 0.5 * strength * np.sum(theta[layout.member_slice] ** 2)
    assert objective(theta)[0] == pytest.approx(expected, rel=1e-12)


def test_learn_noise_member_gets_about_zero_weight():
    rng = np.random.default_rng(0)
    n_samples, n_classes = 3000, 3
    y_index = rng.integers(0, n_classes, n_samples)
    informative = np.full((n_samples, n_classes), 0.1)
    informative[np.arange(n_samples), y_index] = 0.8
    noise = rng.dirichlet(np.ones(n_classes), size=n_samples)
    probas = np.stack([informative, noise, informative * 0.5 + 0.5 / n_classes])
    learned = learn_fusion(
        probas,
        y_index,
        None,
        pool="linear",
        temperature=1.0,
        prior=np.full(3, 1 / 3),
        learn_temperature=True,
        learn_weights=True,
        calibrate_members=False,
    )
    assert learned.prior[1] < 0.02
    assert learned.prior[0] > 0.9


def test_learn_identical_members_fuse_to_member():
    probas, y_index, _ = random_problem(n_members=1, seed=4)
    stacked = np.repeat(probas, 3, axis=0)
    for pool in ["linear", "log"]:
        learned = learn_fusion(
            stacked,
            y_index,
            None,
            pool=pool,
            temperature=1.0,
            prior=np.full(3, 1 / 3),
            learn_temperature=True,
            learn_weights=True,
            calibrate_members=False,
        )
        fused = softmax_fusion(
            stacked, temperature=learned.temperature, weights=learned.prior, pool=pool
        )
        expected = probas[0]
        if pool == "log":
            floored = np.maximum(expected, 1e-12)
            expected = floored / floored.sum(axis=1, keepdims=True)
        assert np.allclose(fused, expected, atol=1e-12)


def test_learn_member_temperature_recovers_overconfidence():
    rng = np.random.default_rng(5)
    n_samples, n_classes = 20_000, 4
    truth = rng.dirichlet(np.ones(n_classes), size=n_samples)
    y_index = np.array([rng.choice(n_classes, p=row) for row in truth])
    overconfident = truth**3
    overconfident /= overconfident.sum(axis=1, keepdims=True)
    learned = learn_fusion(
        overconfident[None],
        y_index,
        None,
        pool="linear",
        temperature=1.0,
        prior=np.ones(1),
        learn_temperature=False,
        learn_weights=False,
        calibrate_members=True,
    )
    assert learned.member_temperatures[0] == pytest.approx(3.0, rel=0.05)


def test_learn_temperature_within_bounds_and_deterministic():
    probas, y_index, weight = random_problem(n_samples=2000, seed=6)
    kwargs = {
        "pool": "linear",
        "temperature": 1.0,
        "prior": np.full(3, 1 / 3),
        "learn_temperature": True,
        "learn_weights": True,
        "calibrate_members": False,
    }
    first = learn_fusion(probas, y_index, weight, **kwargs)
    second = learn_fusion(probas, y_index, weight, **kwargs)
    low, high = TEMPERATURE_BOUNDS
    assert low <= first.temperature <= high
    assert first.temperature == second.temperature
    assert np.array_equal(first.prior, second.prior)


def test_learn_subsample_then_all_samples_reaches_optimum():
    # More than twice the subsample size, so both optimisation stages run.
    probas, y_index, _ = random_problem(n_samples=25_000, n_classes=3, seed=7)
    layout_kwargs = {
        "learn_temperature": True,
        "learn_weights": True,
        "calibrate_members": False,
    }
    learned = learn_fusion(
        probas,
        y_index,
        None,
        pool="log",
        temperature=1.0,
        prior=np.full(3, 1 / 3),
        **layout_kwargs,
    )
    layout = _Layout(
        n_members=3, temperature=1.0, prior=np.full(3, 1 / 3), **layout_kwargs
    )
    objective = _FusionObjective(probas, y_index, np.ones(len(y_index)), "log", layout)
    theta = np.concatenate(
        [
            [np.log(learned.temperature)],
            np.log(learned.prior) - np.log(learned.prior).mean(),
        ]
    )
    _, gradient = objective(theta)
    interior = TEMPERATURE_BOUNDS[0] < learned.temperature < TEMPERATURE_BOUNDS[1]
    assert np.all(np.abs(gradient[1:]) < 1e-5)
    if interior:
        assert abs(gradient[0]) < 1e-5


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :10], y


def cancer_members():
    return [
        ("lr", LogisticRegression(max_iter=5000)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=4, random_state=0)),
    ]


def test_classifier_cv_forms_agree(cancer):
    X, y = cancer
    params = {"temperature": "learn", "weights": "learn"}
    splitter = StratifiedKFold(3)
    forms = [3, splitter, list(splitter.split(X, y))]
    fitted = [
        SFTClassifier(cancer_members(), cv=cv, **params).fit(X, y) for cv in forms
    ]
    for model in fitted[1:]:
        assert model.temperature_ == fitted[0].temperature_
        assert np.array_equal(model.weights_, fitted[0].weights_)
    default = SFTClassifier(cancer_members(), **params).fit(X, y)
    five_folds = SFTClassifier(cancer_members(), cv=StratifiedKFold(5), **params)
    assert np.array_equal(default.weights_, five_folds.fit(X, y).weights_)


def test_classifier_learned_attributes(cancer):
    X, y = cancer
    model = SFTClassifier(
        cancer_members(), temperature="learn", weights="learn", pool="auto", cv=3
    ).fit(X, y)
    assert TEMPERATURE_BOUNDS[0] <= model.temperature_ <= TEMPERATURE_BOUNDS[1]
    assert model.weights_.shape == (3,)
    assert model.weights_.sum() == pytest.approx(1.0)
    assert model.pool_ in ("linear", "log")
    assert not hasattr(model, "member_temperatures_")
    names = model.cv_results_["name"].tolist()
    assert names == ["lr", "nb", "tree", "fused (linear)", "fused (log)"]
    chosen = names.index(f"fused ({model.pool_})")
    assert (
        model.cv_results_["log_loss"][chosen] == model.cv_results_["log_loss"][3:].min()
    )


def test_classifier_cv_results_match_cross_val_predict(cancer):
    X, y = cancer
    model = SFTClassifier(cancer_members(), temperature="learn", cv=3).fit(X, y)
    folds = StratifiedKFold(3)
    for row, (name, member) in enumerate(cancer_members()):
        proba = cross_val_predict(member, X, y, cv=folds, method="predict_proba")
        assert model.cv_results_["name"][row] == name
        assert model.cv_results_["log_loss"][row] == pytest.approx(log_loss(y, proba))
        accuracy = np.mean(proba.argmax(axis=1) == y)
        assert model.cv_results_["accuracy"][row] == pytest.approx(accuracy)


def test_classifier_learned_beats_worst_settings(cancer):
    X, y = cancer
    learned = SFTClassifier(
        cancer_members(), temperature="learn", weights="learn", cv=3
    )
    learned.fit(X, y)
    fused_loss = learned.cv_results_["log_loss"][-1]
    member_losses = learned.cv_results_["log_loss"][:3]
    assert fused_loss <= member_losses.min() + 1e-9


def test_classifier_predict_uses_learned_parameters(cancer):
    X, y = cancer
    model = SFTClassifier(
        cancer_members(),
        temperature="learn",
        weights="learn",
        pool="log",
        calibrate_members=True,
        cv=3,
    ).fit(X, y)
    probas = np.stack([member.predict_proba(X) for member in model.estimators_])
    expected = softmax_fusion(
        probas,
        temperature=model.temperature_,
        weights=model.weights_,
        pool="log",
        member_temperatures=model.member_temperatures_,
    )
    # softmax_fusion renormalises weights_, which can move it by an ulp.
    assert np.allclose(model.predict_proba(X), expected, atol=1e-12, rtol=0)
    assert model.member_temperatures_.shape == (3,)


def test_classifier_refit_drops_previous_learned_attributes(cancer):
    X, y = cancer
    frame = pd.DataFrame(X, columns=[f"f{index}" for index in range(X.shape[1])])
    model = SFTClassifier(cancer_members(), calibrate_members=True, cv=3)
    model.fit(frame, y)
    assert hasattr(model, "member_temperatures_")
    assert hasattr(model, "feature_names_in_")

    model.set_params(calibrate_members=False).fit(X, y)
    assert not hasattr(model, "member_temperatures_")
    assert not hasattr(model, "cv_results_")
    assert not hasattr(model, "feature_names_in_")
    fresh = SFTClassifier(cancer_members()).fit(X, y)
    assert np.array_equal(model.predict_proba(X), fresh.predict_proba(X))


def test_classifier_learned_dict_input(iris, torch_single_thread):
    X, y = iris
    X = split_columns(scaled_float32(X))
    torch.manual_seed(0)
    model = SFTClassifier([("net", two_input_net())], temperature="learn", cv=3)
    model.fit(X, y)
    assert len(model.cv_results_["name"]) == 2
    assert model.predict_proba(X).shape == (len(y), 3)


class CountingNB(GaussianNB):
    """GaussianNB that records every fit: its sample count and weight sum."""

    fits = []

    def fit(self, X, y, sample_weight=None):
        total = len(y) if sample_weight is None else float(np.sum(sample_weight))
        CountingNB.fits.append((len(y), total))
        return super().fit(X, y, sample_weight=sample_weight)


def test_classifier_refit_false_keeps_fold_models(cancer):
    X, y = cancer
    CountingNB.fits.clear()
    model = SFTClassifier(
        [("nb", CountingNB()), ("lr", LogisticRegression(max_iter=5000))],
        temperature="learn",
        refit=False,
        cv=4,
    ).fit(X, y)
    assert len(CountingNB.fits) == 4
    assert all(n_samples < len(y) for n_samples, _ in CountingNB.fits)
    member = model.named_estimators_["nb"]
    assert isinstance(member, FoldAveragedClassifier)
    assert len(member.estimators) == 4
    expected = np.mean([fold.predict_proba(X) for fold in member.estimators], axis=0)
    assert np.allclose(member.predict_proba(X), expected, atol=1e-15)
    assert model.n_features_in_ == X.shape[1]
    CountingNB.fits.clear()
    model.predict_proba(X)
    assert CountingNB.fits == []


def test_classifier_refit_true_fits_once_more(cancer):
    X, y = cancer
    CountingNB.fits.clear()
    SFTClassifier([("nb", CountingNB())], calibrate_members=True, cv=4).fit(X, y)
    assert len(CountingNB.fits) == 5
    assert CountingNB.fits[-1][0] == len(y)


def test_classifier_frozen_member_never_refitted(cancer):
    X, y = cancer
    CountingNB.fits.clear()
    prefit = CountingNB().fit(X[:200], y[:200])
    CountingNB.fits.clear()
    members = [
        ("frozen", FrozenEstimator(prefit)),
        ("lr", LogisticRegression(max_iter=5000)),
    ]
    model = SFTClassifier(members, weights="learn", cv=3).fit(X, y)
    assert CountingNB.fits == []
    assert model.named_estimators_["frozen"].estimator is prefit
    frozen_loss = log_loss(y, prefit.predict_proba(X))
    assert model.cv_results_["log_loss"][0] == pytest.approx(frozen_loss)


def test_classifier_sample_weight_reaches_fold_fits(cancer):
    X, y = cancer
    weight = np.random.default_rng(0).uniform(0.5, 1.5, len(y))
    CountingNB.fits.clear()
    SFTClassifier([("nb", CountingNB())], weights="learn", cv=3).fit(
        X, y, sample_weight=weight
    )
    folds = list(StratifiedKFold(3).split(X, y))
    expected = [weight[train].sum() for train, _ in folds] + [weight.sum()]
    assert [total for _, total in CountingNB.fits] == pytest.approx(expected)


def test_classifier_sample_weight_shifts_learned_weights(cancer):
    X, y = cancer
    members = [("lr", LogisticRegression(max_iter=5000)), ("nb", GaussianNB())]
    unweighted = SFTClassifier(members, weights="learn", cv=3).fit(X, y)
    folds = StratifiedKFold(3)
    lr_proba = cross_val_predict(members[0][1], X, y, cv=folds, method="predict_proba")
    nb_proba = cross_val_predict(members[1][1], X, y, cv=folds, method="predict_proba")
    nb_better = nb_proba[np.arange(len(y)), y] > lr_proba[np.arange(len(y)), y]
    weight = np.where(nb_better, 20.0, 1.0)
    weighted = SFTClassifier(members, weights="learn", cv=3).fit(
        X, y, sample_weight=weight
    )
    assert weighted.weights_[1] > unweighted.weights_[1] + 0.1


def test_classifier_verbose_prints_fold_lines(cancer, capsys):
    X, y = cancer
    SFTClassifier(cancer_members()[:2], weights="learn", cv=2, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    progress = r"\(1 of 6\) Processing lr, fold 1 of 2"
    pattern = rf"\[SFTClassifier\] \.+ {progress}, total=\s*\d+\.\ds"
    assert re.fullmatch(pattern, lines[0])
    assert "(3 of 6) Processing lr, all samples" in lines[2]
    assert "Learning the fusion parameters, pool='linear'" in lines[6]


def test_classifier_fixed_log_pool_without_learning(cancer):
    X, y = cancer
    model = SFTClassifier(cancer_members(), pool="log", temperature=0.5).fit(X, y)
    assert not hasattr(model, "cv_results_")
    probas = np.stack([member.predict_proba(X) for member in model.estimators_])
    expected = softmax_fusion(probas, temperature=0.5, pool="log")
    assert np.array_equal(model.predict_proba(X), expected)


def test_classifier_cv_must_partition_samples(cancer):
    X, y = cancer
    model = SFTClassifier(cancer_members(), weights="learn", cv=ShuffleSplit(3))
    with pytest.raises(
        ValueError, match=r"must put every sample in exactly one test fold"
    ):
        model.fit(X, y)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"temperature": "hot"}, "temperature"),
        ({"weights": "learned"}, "weights"),
        ({"pool": "max"}, "pool"),
        ({"calibrate_members": "yes"}, "calibrate_members"),
        ({"cv": "five"}, "cv"),
        ({"refit": None}, "refit"),
    ],
)
def test_classifier_invalid_learning_parameters(cancer, params, name):
    X, y = cancer
    with pytest.raises(
        ValueError, match=rf"'{name}' parameter of SFTClassifier must be"
    ):
        SFTClassifier(cancer_members(), **params).fit(X, y)


def test_softmax_fusion_invalid_pool_rejected():
    probas, _, _ = random_problem()
    with pytest.raises(
        ValueError, match=r"'pool' parameter must be 'linear' or 'log'; got 'max'"
    ):
        softmax_fusion(probas, pool="max")


@pytest.mark.parametrize(
    "values, match",
    [
        ([1.0, 2.0], r"one temperature per member \(3\); got \[1.0, 2.0\]"),
        ([1.0, 0.0, 2.0], r"positive, finite numbers; got \[1.0, 0.0, 2.0\]"),
        ([1.0, np.inf, 2.0], r"positive, finite numbers"),
        (["a", "b", "c"], r"must be an array of numbers; got \['a', 'b', 'c'\]"),
    ],
)
def test_softmax_fusion_invalid_member_temperatures(values, match):
    probas, _, _ = random_problem()
    with pytest.raises(ValueError, match=match):
        softmax_fusion(probas, member_temperatures=values)


@parametrize_with_checks(
    [
        SFTClassifier(
            [
                ("lr", LogisticRegression()),
                ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ],
            temperature="learn",
            weights="learn",
            pool="auto",
            cv=3,
        ),
        SFTClassifier(
            [
                ("lr", LogisticRegression()),
                ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ],
            calibrate_members=True,
            refit=False,
            cv=3,
        ),
    ]
)
def test_learned_classifier_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (
            np.ones(5),
            r"must have shape \(569,\), one weight per sample; got shape \(5,\)",
        ),
        (np.ones((569, 2)), r"got shape \(569, 2\)"),
        (["a"] * 569, r"sample_weight must contain numbers"),
        (np.full(569, np.nan), r"sample_weight must contain finite numbers"),
    ],
)
def test_classifier_invalid_sample_weight_rejected(cancer, sample_weight, match):
    X, y = cancer
    with pytest.raises(ValueError, match=match):
        SFTClassifier(cancer_members()).fit(X, y, sample_weight=sample_weight)


def test_classifier_scalar_sample_weight_applies_to_all(cancer):
    X, y = cancer
    CountingNB.fits.clear()
    SFTClassifier([("nb", CountingNB())]).fit(X, y, sample_weight=2.0)
    assert CountingNB.fits == [(len(y), 2.0 * len(y))]


@pytest.mark.parametrize("pool, learn_t, learn_w, calibrate", LAYOUTS)
def test_objective_torch_matches_numpy(pool, learn_t, learn_w, calibrate):
    torch = pytest.importorskip("torch")
    probas, y_index, weight = random_problem(seed=8)
    layout = _Layout(
        n_members=3,
        learn_temperature=learn_t,
        learn_weights=learn_w,
        calibrate_members=calibrate,
        temperature=0.7,
        prior=np.array([0.2, 0.3, 0.5]),
    )
    theta = np.random.default_rng(9).normal(scale=0.5, size=layout.size)
    loss, gradient = _FusionObjective(probas, y_index, weight, pool, layout)(theta)
    on_torch = _FusionObjective(
        probas, y_index, weight, pool, layout, device=torch.device("cpu")
    )
    torch_loss, torch_gradient = on_torch(theta)
    assert torch_loss == pytest.approx(loss, rel=1e-12)
    assert np.allclose(torch_gradient, gradient, atol=1e-12, rtol=1e-10)


def test_classifier_learns_on_torch_device(cancer):
    X, y = cancer
    params = {"temperature": "learn", "weights": "learn", "pool": "auto", "cv": 3}
    on_numpy = SFTClassifier(cancer_members(), **params).fit(X, y)
    on_torch = SFTClassifier(cancer_members(), device="cpu", **params).fit(X, y)
    assert on_torch.pool_ == on_numpy.pool_
    assert on_torch.temperature_ == pytest.approx(on_numpy.temperature_, rel=1e-6)
    assert np.allclose(on_torch.weights_, on_numpy.weights_, atol=1e-6)
    assert np.allclose(
        on_torch.cv_results_["log_loss"], on_numpy.cv_results_["log_loss"], atol=1e-10
    )
