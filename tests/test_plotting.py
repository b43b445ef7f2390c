"""Tests of the Display objects in sftfusion.plotting.

They draw with matplotlib's Agg backend. Where matplotlib is not installed they
are skipped with the reason shown, but the error for a missing matplotlib is
tested either way.
"""

import doctest
import sys

import numpy as np
import pytest
from sklearn.calibration import CalibrationDisplay, calibration_curve
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier, plotting
from sftfusion.plotting import MemberWeightsDisplay, ReliabilityDiagramDisplay

NEEDS_MATPLOTLIB = "the plotting tests need matplotlib: pip install 'sftfusion[plot]'"


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib", reason=NEEDS_MATPLOTLIB)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def iris_members():
    return [
        ("lr", LogisticRegression(max_iter=1000)),
        ("off", "drop"),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
    ]


@pytest.fixture(scope="module")
def iris_model(iris):
    X, y = iris
    return SFTClassifier(iris_members(), temperature=0.5, weights=[2, 9, 1, 1]).fit(
        X, y
    )


@pytest.fixture(scope="module")
def cancer_split():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def cancer_model(cancer_split):
    X_train, _, y_train, _ = cancer_split
    members = [
        ("lr", make_pipeline(StandardScaler(), LogisticRegression())),
        ("nb", GaussianNB()),
    ]
    return SFTClassifier(members, temperature=0.2).fit(X_train, y_train)


def test_weights_display_bars_match_weights(pyplot, iris_model):
    display = MemberWeightsDisplay.from_estimator(iris_model)
    widths = [bar.get_width() for bar in display.bars_]
    np.testing.assert_allclose(widths, iris_model.weights_)
    np.testing.assert_allclose(widths, [0.5, 0.25, 0.25])
    assert [tick.get_text() for tick in display.ax_.get_yticklabels()] == [
        "lr",
        "nb",
        "tree",
    ]


def test_weights_display_title_and_uniform_line(pyplot, iris_model):
    display = MemberWeightsDisplay.from_estimator(iris_model)
    assert display.ax_.get_title() == "Prior weights (T = 0.5, linear pool)"
    lines = display.ax_.get_lines()
    uniform = [line for line in lines if line.get_label() == "uniform"]
    assert len(uniform) == 1
    np.testing.assert_allclose(uniform[0].get_xdata(), [1 / 3, 1 / 3])


def test_weights_display_soft_voting_title(pyplot, iris):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=float("inf")).fit(X, y)
    display = MemberWeightsDisplay.from_estimator(model)
    assert (
        display.ax_.get_title() == "Prior weights (T = inf, soft voting, linear pool)"
    )


def test_weights_display_one_panel_without_member_temperatures(pyplot, iris_model):
    display = MemberWeightsDisplay.from_estimator(iris_model)
    assert len(display.axes_) == 1
    assert display.temperature_bars_ is None
    assert display.figure_ is display.ax_.figure


def test_weights_display_member_temperatures_panel(pyplot, iris):
    X, y = iris
    model = SFTClassifier(iris_members()).fit(X, y)
    # A fitted attribute that learned fusion sets; the display reads it if present.
    model.member_temperatures_ = np.array([0.5, 2.0, 1.0])
    display = MemberWeightsDisplay.from_estimator(model)
    assert len(display.axes_) == 2
    widths = [bar.get_width() for bar in display.temperature_bars_]
    np.testing.assert_allclose(widths, [0.5, 2.0, 1.0])
    assert display.axes_[1].get_title() == "Member temperatures"
    lines = display.axes_[1].get_lines()
    np.testing.assert_allclose(lines[0].get_xdata(), [1.0, 1.0])


def test_weights_display_draws_on_given_ax(pyplot, iris_model):
    figure, ax = pyplot.subplots()
    display = MemberWeightsDisplay.from_estimator(
        iris_model, ax=ax, bar_kwargs={"color": "red"}
    )
    assert display.ax_ is ax
    assert display.figure_ is figure
    assert display.bars_[0].get_facecolor()[:3] == (1.0, 0.0, 0.0)


def test_weights_display_wrong_number_of_axes(pyplot, iris_model):
    _, axes = pyplot.subplots(1, 2)
    with pytest.raises(ValueError, match=r"contain 1 Axes, for the weights; got 2"):
        MemberWeightsDisplay.from_estimator(iris_model, ax=axes)


def test_weights_display_temperatures_need_two_axes(pyplot):
    _, ax = pyplot.subplots()
    display = MemberWeightsDisplay(
        weights=[0.5, 0.5], names=["a", "b"], member_temperatures=[1.0, 2.0]
    )
    with pytest.raises(ValueError, match=r"2 Axes, for the weights and the member"):
        display.plot(ax=ax)


@pytest.mark.parametrize(
    ("weights", "member_temperatures", "message"),
    [
        ([0.5, 0.25, 0.25, 0.0], None, r"'weights' .* got 4 values for 3 names"),
        ([0.5, -0.25, 0.75], None, r"'weights' .* non-negative values"),
        ([0.5, 0.25, 0.25], [1.0, np.nan, 1.0], r"'member_temperatures' .* finite"),
        ([0.5, 0.25, 0.25], [1.0, 2.0], r"'member_temperatures' .* got 2 values"),
    ],
)
def test_weights_display_invalid_values(pyplot, weights, member_temperatures, message):
    display = MemberWeightsDisplay(
        weights=weights, names=["a", "b", "c"], member_temperatures=member_temperatures
    )
    with pytest.raises(ValueError, match=message):
        display.plot()


def test_weights_display_rejects_other_estimators(iris):
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), SFTClassifier(iris_members())).fit(X, y)
    with pytest.raises(TypeError, match=r"needs a fitted SFTClassifier; got Pipeline"):
        MemberWeightsDisplay.from_estimator(pipeline)


def test_weights_display_requires_fitted_estimator():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MemberWeightsDisplay.from_estimator(SFTClassifier(iris_members()))


def test_reliability_binary_curves_match_calibration_curve(
    pyplot, cancer_model, cancer_split
):
    _, X_test, _, y_test = cancer_split
    display = ReliabilityDiagramDisplay.from_estimator(cancer_model, X_test, y_test)
    assert list(display.lines_) == ["SFTClassifier", "lr", "nb"]
    models = {
        "SFTClassifier": cancer_model,
        "lr": cancer_model.named_estimators_["lr"],
        "nb": cancer_model.named_estimators_["nb"],
    }
    for name, model in models.items():
        prob_true, prob_pred = calibration_curve(
            y_test, model.predict_proba(X_test)[:, 1], n_bins=10
        )
        line = display.lines_[name]
        np.testing.assert_allclose(line.get_xdata(), prob_pred)
        np.testing.assert_allclose(line.get_ydata(), prob_true)
        assert isinstance(display.calibration_displays[name], CalibrationDisplay)
    assert display.ax_.get_xlabel() == "Mean predicted probability (Positive class: 1)"


def test_reliability_fused_curve_highlighted(pyplot, cancer_model, cancer_split):
    _, X_test, _, y_test = cancer_split
    display = ReliabilityDiagramDisplay.from_estimator(
        cancer_model, X_test, y_test, name="fused"
    )
    assert display.lines_["fused"].get_color() == "black"
    fused_width = display.lines_["fused"].get_linewidth()
    assert fused_width > display.lines_["lr"].get_linewidth()
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["Perfectly calibrated", "fused", "lr", "nb"]


def test_reliability_without_members(pyplot, cancer_model, cancer_split):
    _, X_test, _, y_test = cancer_split
    display = ReliabilityDiagramDisplay.from_estimator(
        cancer_model, X_test, y_test, members=False
    )
    assert list(display.lines_) == ["SFTClassifier"]


def test_reliability_multiclass_top_label(pyplot, iris_model, iris):
    X, y = iris
    display = ReliabilityDiagramDisplay.from_estimator(
        iris_model, X, y, n_bins=5, strategy="quantile"
    )
    proba = iris_model.predict_proba(X)
    correct = (iris_model.classes_[proba.argmax(axis=1)] == y).astype(int)
    prob_true, prob_pred = calibration_curve(
        correct, proba.max(axis=1), n_bins=5, strategy="quantile"
    )
    np.testing.assert_allclose(display.lines_["SFTClassifier"].get_xdata(), prob_pred)
    np.testing.assert_allclose(display.lines_["SFTClassifier"].get_ydata(), prob_true)
    assert display.top_label
    assert display.ax_.get_ylabel().startswith("Accuracy")
    assert display.ax_.get_title() == "Reliability diagram (top-label)"


def test_reliability_member_columns_follow_member_classes(pyplot, iris):
    X, y = iris
    # The second member is fitted without class 0, so its table has two columns
    # that the display must place at classes 1 and 2.
    keep = y > 0
    partial = LogisticRegression(max_iter=1000).fit(X[keep], y[keep])
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("partial", FrozenEstimator(partial)),
    ]
    model = SFTClassifier(members).fit(X, y)
    display = ReliabilityDiagramDisplay.from_estimator(model, X, y, pos_label=2)
    prob_true, prob_pred = calibration_curve(
        (y == 2).astype(int), partial.predict_proba(X)[:, 1], n_bins=10
    )
    np.testing.assert_allclose(display.lines_["partial"].get_xdata(), prob_pred)
    np.testing.assert_allclose(display.lines_["partial"].get_ydata(), prob_true)


def test_reliability_pos_label_one_vs_rest(pyplot, iris_model, iris):
    X, y = iris
    display = ReliabilityDiagramDisplay.from_estimator(iris_model, X, y, pos_label=1)
    prob_true, prob_pred = calibration_curve(
        (y == 1).astype(int), iris_model.predict_proba(X)[:, 1], n_bins=10
    )
    np.testing.assert_allclose(display.lines_["SFTClassifier"].get_xdata(), prob_pred)
    np.testing.assert_allclose(display.lines_["SFTClassifier"].get_ydata(), prob_true)
    assert not display.top_label
    assert "Positive class: 1" in display.ax_.get_xlabel()


def test_reliability_string_labels(pyplot, iris_named):
    X, y = iris_named
    model = SFTClassifier(iris_members()).fit(X, y)
    display = ReliabilityDiagramDisplay.from_estimator(
        model, X, y, pos_label="virginica"
    )
    assert "Positive class: virginica" in display.ax_.get_xlabel()


def test_reliability_plot_again_on_new_axes(pyplot, cancer_model, cancer_split):
    _, X_test, _, y_test = cancer_split
    display = ReliabilityDiagramDisplay.from_estimator(cancer_model, X_test, y_test)
    figure, ax = pyplot.subplots()
    display.plot(ax=ax)
    assert display.ax_ is ax
    assert display.figure_ is figure
    assert len(ax.get_lines()) == 4


def test_reliability_unknown_pos_label(pyplot, iris_model, iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"'pos_label' parameter 7 is not one of"):
        ReliabilityDiagramDisplay.from_estimator(iris_model, X, y, pos_label=7)


def test_reliability_name_clashes_with_member(pyplot, iris_model, iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"curve name 'lr' of the fused model"):
        ReliabilityDiagramDisplay.from_estimator(iris_model, X, y, name="lr")


def test_reliability_rejects_other_estimators(iris):
    X, y = iris
    with pytest.raises(TypeError, match=r"needs a fitted SFTClassifier; got Logistic"):
        ReliabilityDiagramDisplay.from_estimator(
            LogisticRegression(max_iter=1000).fit(X, y), X, y
        )


@pytest.mark.parametrize(
    ("probas", "kwargs", "message"),
    [
        ({}, {}, r"non-empty dict mapping curve names"),
        ([[0.5, 0.5]], {}, r"non-empty dict .* got list"),
        ({"a": np.full((3, 3), 0.5)}, {}, r"'a' must have .* got \(3, 3\)"),
        ({"a": np.full((4, 2), 0.5)}, {"highlight": "b"}, r"'highlight' .* 'b'"),
    ],
)
def test_reliability_from_predictions_invalid(pyplot, probas, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReliabilityDiagramDisplay.from_predictions(
            [0, 1, 1, 0], probas, classes=[0, 1], **kwargs
        )


def test_reliability_from_predictions_unknown_labels(pyplot):
    with pytest.raises(ValueError, match=r"labels \[2\] that are not in classes"):
        ReliabilityDiagramDisplay.from_predictions(
            [0, 1, 2], {"a": np.full((3, 2), 0.5)}, classes=[0, 1]
        )


@pytest.mark.parametrize(
    "draw",
    [
        lambda: MemberWeightsDisplay(weights=[1.0], names=["a"]).plot(),
        lambda: ReliabilityDiagramDisplay.from_predictions(
            [0, 1], {"a": np.eye(2)}, classes=[0, 1]
        ),
    ],
    ids=["weights", "reliability"],
)
def test_plotting_without_matplotlib(monkeypatch, draw):
    # A None entry in sys.modules makes "import matplotlib" raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'requires matplotlib.*"sftfusion\[plot\]"'):
        draw()


def test_plotting_docstring_examples_run(pyplot):
    result = doctest.testmod(plotting, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_weights_display_title_without_temperature_or_pool(pyplot):
    display = MemberWeightsDisplay(weights=[0.5, 0.5], names=["a", "b"]).plot()
    assert display.ax_.get_title() == "Prior weights"


def test_weights_display_learned_fusion(pyplot, iris):
    X, y = iris
    members = [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    model = SFTClassifier(
        members,
        temperature="learn",
        weights="learn",
        pool="log",
        calibrate_members=True,
        cv=3,
    ).fit(X, y)
    display = MemberWeightsDisplay.from_estimator(model)
    np.testing.assert_allclose(
        [bar.get_width() for bar in display.bars_], model.weights_
    )
    np.testing.assert_allclose(
        [bar.get_width() for bar in display.temperature_bars_],
        model.member_temperatures_,
    )
    assert display.ax_.get_title() == (
        f"Prior weights (T = {model.temperature_:g}, log pool)"
    )
