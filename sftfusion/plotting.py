"""Figures of a fitted SFTClassifier, as scikit-learn style Display objects.

``MemberWeightsDisplay`` draws the members' prior weights, and their temperatures
when the estimator has per-member temperatures. ``ReliabilityDiagramDisplay``
draws the reliability diagram of the fused model next to those of its members,
one :class:`sklearn.calibration.CalibrationDisplay` per curve.

matplotlib is an optional dependency, installed with the ``plot`` extra. This
module imports it only when a figure is drawn.
"""

import math
from collections.abc import Mapping

import numpy as np
from sklearn.calibration import CalibrationDisplay, calibration_curve
from sklearn.utils.validation import check_is_fitted, column_or_1d

from sftfusion._classifier import SFTClassifier
from sftfusion._members import DROP, column_positions

TOP_LABEL_XLABEL = "Mean confidence (probability of the predicted class)"
TOP_LABEL_YLABEL = "Accuracy (fraction of correct predictions)"


def _import_pyplot(caller):
    """Return ``matplotlib.pyplot``, or raise ImportError naming the extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib, which is not installed. Install it "
            'with pip install "sftfusion[plot]" or pip install matplotlib.'
        ) from exc
    return plt


def _check_sft_estimator(estimator, caller):
    """Raise TypeError for a non-SFTClassifier and NotFittedError if unfitted."""
    if not isinstance(estimator, SFTClassifier):
        raise TypeError(
            f"{caller} needs a fitted SFTClassifier; got "
            f"{type(estimator).__name__}. For a Pipeline pass its last step "
            "(pipeline[-1]), and for a search pass search.best_estimator_."
        )
    check_is_fitted(estimator)


def _active_members(estimator):
    """Return the (name, fitted member) pairs of the members not set to "drop"."""
    return [
        (name, member)
        for name, member in estimator.named_estimators_.items()
        if not (isinstance(member, str) and member == DROP)
    ]


class MemberWeightsDisplay:
    """Bar chart of the members' prior weights and, if fitted, their temperatures.

    Build it with :meth:`from_estimator`. Each member not set to ``"drop"`` gets
    one horizontal bar of length ``pi_i``, and a dotted line marks the uniform
    weight ``1 / n_members``. When ``member_temperatures`` is given, a second
    panel shows one temperature per member.

    Parameters
    ----------
    weights : array-like of shape (n_members,)
        Prior weights ``pi`` of the members, such as ``weights_`` of a fitted
        :class:`~sftfusion.SFTClassifier`.
    names : list of str
        Member names, in the order of ``weights``.
    temperature : float, default=None
        The temperature ``T`` of the fusion, shown in the title. None leaves it
        out.
    member_temperatures : array-like of shape (n_members,), default=None
        One temperature per member, drawn in a second panel. None draws the
        weights alone.
    pool : str, default=None
        The pool of the fusion, such as ``"linear"`` or ``"log"``, shown in the
        title. None leaves it out.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The panel of the weights.
    axes_ : ndarray of matplotlib Axes
        All panels: the weights, then the member temperatures if drawn.
    figure_ : matplotlib Figure
        The figure that contains the panels.
    bars_ : matplotlib BarContainer
        The bars of the weights.
    temperature_bars_ : matplotlib BarContainer or None
        The bars of the member temperatures, or None if there are none.

    See Also
    --------
    ReliabilityDiagramDisplay : Reliability diagrams of the fused model and its
        members.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sftfusion import SFTClassifier
    >>> from sftfusion.plotting import MemberWeightsDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SFTClassifier(
    ...     [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())],
    ...     weights=[3, 1],
    ... ).fit(X, y)
    >>> display = MemberWeightsDisplay.from_estimator(model)
    >>> [float(bar.get_width()) for bar in display.bars_]
    [0.75, 0.25]
    """

    def __init__(
        self,
        *,
        weights,
        names,
        temperature=None,
        member_temperatures=None,
        pool=None,
    ):
        self.weights = weights
        self.names = names
        self.temperature = temperature
        self.member_temperatures = member_temperatures
        self.pool = pool

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, bar_kwargs=None):
        """Draw the prior weights, and member temperatures, of a fitted model.

        The weights are read from ``weights_``, the temperature from
        ``temperature_`` and the pool from ``pool_``, if the estimator has it.
        If the estimator has a ``member_temperatures_`` attribute, as with
        ``calibrate_members=True``, it is drawn as a second panel.

        Parameters
        ----------
        estimator : SFTClassifier
            A fitted :class:`~sftfusion.SFTClassifier`.
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw: one Axes for the weights, or two (weights, then
            member temperatures) when the estimator has member temperatures.
            None creates a new figure.
        bar_kwargs : dict, default=None
            Keyword arguments passed to :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : MemberWeightsDisplay
            The display, with the drawn figure in its attributes.
        """
        _check_sft_estimator(estimator, f"{cls.__name__}.from_estimator")
        names = [name for name, _ in _active_members(estimator)]
        member_temperatures = getattr(estimator, "member_temperatures_", None)
        display = cls(
            weights=estimator.weights_,
            names=names,
            temperature=estimator.temperature_,
            member_temperatures=member_temperatures,
            pool=getattr(estimator, "pool_", None),
        )
        return display.plot(ax=ax, bar_kwargs=bar_kwargs)

    def plot(self, ax=None, *, bar_kwargs=None):
        """Draw the bars.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw: one Axes for the weights, or two (weights, then
            member temperatures) when ``member_temperatures`` is set. None
            creates a new figure.
        bar_kwargs : dict, default=None
            Keyword arguments passed to :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : MemberWeightsDisplay
            This display, with the drawn figure in its attributes.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        weights = self._check_values(self.weights, "weights")
        temperatures = None
        if self.member_temperatures is not None:
            temperatures = self._check_values(
                self.member_temperatures, "member_temperatures"
            )
        n_panels = 1 if temperatures is None else 2

        if ax is None:
            height = 1.2 + 0.45 * len(self.names)
            figure, axes = plt.subplots(
                1,
                n_panels,
                figsize=(4.8 * n_panels, height),
                squeeze=False,
                layout="constrained",
            )
            axes = axes[0]
        else:
            axes = np.empty(len(np.atleast_1d(ax)), dtype=object)
            axes[:] = list(np.atleast_1d(ax))
            if len(axes) != n_panels:
                expected = (
                    "1 Axes, for the weights"
                    if temperatures is None
                    else "2 Axes, for the weights and the member temperatures"
                )
                raise ValueError(
                    f"The 'ax' parameter must contain {expected}; got {len(axes)}."
                )
            figure = axes[0].figure

        bar_kwargs = {} if bar_kwargs is None else dict(bar_kwargs)
        positions = np.arange(len(self.names))

        weights_ax = axes[0]
        self.bars_ = weights_ax.barh(positions, weights, **bar_kwargs)
        weights_ax.bar_label(self.bars_, fmt="%.3g", padding=2)
        weights_ax.axvline(
            1 / len(weights), color="0.4", linestyle=":", label="uniform"
        )
        weights_ax.set_yticks(positions, labels=self.names)
        weights_ax.invert_yaxis()
        weights_ax.set_xlim(0, max(weights.max(), 1 / len(weights)) * 1.25)
        # The x label explains the dotted line, so no legend covers the bars.
        weights_ax.set_xlabel("prior weight π (dotted: uniform weight)")
        weights_ax.set_title(self._weights_title())

        self.temperature_bars_ = None
        if temperatures is not None:
            temperature_ax = axes[1]
            self.temperature_bars_ = temperature_ax.barh(
                positions, temperatures, **bar_kwargs
            )
            temperature_ax.bar_label(self.temperature_bars_, fmt="%.3g", padding=2)
            temperature_ax.axvline(1.0, color="0.4", linestyle=":", label="1")
            temperature_ax.set_yticks(positions, labels=self.names)
            temperature_ax.invert_yaxis()
            temperature_ax.set_xlim(0, max(temperatures.max(), 1.0) * 1.25)
            temperature_ax.set_xlabel("member temperature (dotted: 1, unchanged)")
            temperature_ax.set_title("Member temperatures")

        self.ax_ = weights_ax
        self.axes_ = axes
        self.figure_ = figure
        return self

    def _check_values(self, values, parameter):
        """Return one finite, non-negative value per member, or raise ValueError."""
        values = column_or_1d(np.asarray(values, dtype=np.float64))
        if len(values) != len(self.names):
            raise ValueError(
                f"The '{parameter}' parameter must contain one value per member "
                f"name; got {len(values)} values for {len(self.names)} names "
                f"{list(self.names)!r}."
            )
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(
                f"The '{parameter}' parameter must contain finite, non-negative "
                f"values; got {values.tolist()!r}."
            )
        return values

    def _weights_title(self):
        """Return the weights panel title, with the temperature and pool if set."""
        details = []
        if self.temperature is not None and math.isinf(self.temperature):
            details.append("T = inf, soft voting")
        elif self.temperature is not None:
            details.append(f"T = {self.temperature:g}")
        if self.pool is not None:
            details.append(f"{self.pool} pool")
        if not details:
            return "Prior weights"
        return f"Prior weights ({', '.join(details)})"


class ReliabilityDiagramDisplay:
    """Reliability diagrams of several probabilistic models on one Axes.

    Build it with :meth:`from_estimator`, which draws a fitted
    :class:`~sftfusion.SFTClassifier` and each of its members, or with
    :meth:`from_predictions`. Every curve is a
    :class:`sklearn.calibration.CalibrationDisplay`. Which probability a curve
    bins depends on ``pos_label``:

    - a class label: the probability of that class against the rest;
    - None with two classes: the probability of the second class of
      ``classes``;
    - None with more classes: the top-label confidence, that is the highest
      probability of each sample, against whether its class is the true one.

    Parameters
    ----------
    calibration_displays : dict of str to CalibrationDisplay
        One display per curve, keyed by the curve's name.
    highlight : str, default=None
        Name of a curve to draw thick and black, such as the fused model.
    top_label : bool, default=False
        Whether the curves bin top-label confidences. It sets the axis labels.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The Axes of the diagram.
    figure_ : matplotlib Figure
        The figure that contains the Axes.
    lines_ : dict of str to matplotlib Line2D
        The line of each curve, keyed by name.

    See Also
    --------
    sklearn.calibration.CalibrationDisplay : One reliability curve.
    MemberWeightsDisplay : The members' prior weights.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sftfusion import SFTClassifier
    >>> from sftfusion.plotting import ReliabilityDiagramDisplay
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> lr = make_pipeline(StandardScaler(), LogisticRegression())
    >>> model = SFTClassifier([("lr", lr), ("nb", GaussianNB())]).fit(X, y)
    >>> display = ReliabilityDiagramDisplay.from_estimator(model, X, y)
    >>> list(display.lines_)
    ['SFTClassifier', 'lr', 'nb']
    """

    def __init__(self, calibration_displays, *, highlight=None, top_label=False):
        self.calibration_displays = calibration_displays
        self.highlight = highlight
        self.top_label = top_label

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        pos_label=None,
        n_bins=10,
        strategy="uniform",
        name=None,
        members=True,
        ax=None,
    ):
        """Draw the reliability diagrams of a fitted model and of its members.

        Parameters
        ----------
        estimator : SFTClassifier
            A fitted :class:`~sftfusion.SFTClassifier`.
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to the estimator and to every member unchanged.
            Use data that the members were not fitted on.
        y : array-like of shape (n_samples,)
            True labels of ``X``.
        pos_label : int, float, bool or str, default=None
            The class whose probability is binned, against the rest. None
            means the second class with two classes and the top-label
            confidence with more.
        n_bins : int, default=10
            Number of bins, passed to
            :func:`sklearn.calibration.calibration_curve`.
        strategy : {'uniform', 'quantile'}, default='uniform'
            How the bins are placed, passed to
            :func:`sklearn.calibration.calibration_curve`.
        name : str, default=None
            Name of the fused model's curve. None uses the estimator's class
            name.
        members : bool, default=True
            Whether to draw a curve for each member not set to ``"drop"``. The
            members' probabilities are their own ``predict_proba``, with
            columns placed by ``classes_``.
        ax : matplotlib Axes, default=None
            Where to draw. None creates a new figure.

        Returns
        -------
        display : ReliabilityDiagramDisplay
            The display, with the drawn figure in its attributes.
        """
        _check_sft_estimator(estimator, f"{cls.__name__}.from_estimator")
        name = type(estimator).__name__ if name is None else name
        classes = estimator.classes_
        probas = {name: estimator.predict_proba(X)}
        if members:
            for member_name, member in _active_members(estimator):
                if member_name == name:
                    raise ValueError(
                        f"The curve name {name!r} of the fused model is also a "
                        "member name. Pass another name."
                    )
                probas[member_name] = _member_probabilities(
                    member_name, member, X, classes
                )
        return cls.from_predictions(
            y,
            probas,
            classes=classes,
            pos_label=pos_label,
            n_bins=n_bins,
            strategy=strategy,
            highlight=name,
            ax=ax,
        )

    @classmethod
    def from_predictions(
        cls,
        y_true,
        probas,
        *,
        classes,
        pos_label=None,
        n_bins=10,
        strategy="uniform",
        highlight=None,
        ax=None,
    ):
        """Draw the reliability diagrams of precomputed class probabilities.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.
        probas : dict of str to array-like of shape (n_samples, n_classes)
            The probabilities of each model, keyed by the curve's name, with
            columns in the order of ``classes``.
        classes : array-like of shape (n_classes,)
            The class labels of the columns of ``probas``.
        pos_label : int, float, bool or str, default=None
            The class whose probability is binned, against the rest. None
            means the second class with two classes and the top-label
            confidence with more.
        n_bins : int, default=10
            Number of bins, passed to
            :func:`sklearn.calibration.calibration_curve`.
        strategy : {'uniform', 'quantile'}, default='uniform'
            How the bins are placed, passed to
            :func:`sklearn.calibration.calibration_curve`.
        highlight : str, default=None
            Name of a curve to draw thick and black.
        ax : matplotlib Axes, default=None
            Where to draw. None creates a new figure.

        Returns
        -------
        display : ReliabilityDiagramDisplay
            The display, with the drawn figure in its attributes.
        """
        _import_pyplot(f"{cls.__name__}.from_predictions")
        y_true = column_or_1d(y_true)
        classes = column_or_1d(classes)
        if not isinstance(probas, Mapping) or not probas:
            raise ValueError(
                "The 'probas' parameter must be a non-empty dict mapping curve "
                f"names to probability arrays; got {type(probas).__name__}."
            )
        if highlight is not None and highlight not in probas:
            raise ValueError(
                f"The 'highlight' parameter {highlight!r} is not a key of "
                f"'probas' {list(probas)!r}."
            )
        unknown = sorted(set(np.unique(y_true).tolist()) - set(classes.tolist()))
        if unknown:
            raise ValueError(
                f"y_true contains labels {unknown!r} that are not in classes "
                f"{classes.tolist()!r}."
            )

        top_label = pos_label is None and len(classes) > 2
        if top_label:
            target = None
        elif pos_label is None:
            target = 1
        else:
            matches = np.flatnonzero(classes == pos_label)
            if len(matches) == 0:
                raise ValueError(
                    f"The 'pos_label' parameter {pos_label!r} is not one of the "
                    f"classes {classes.tolist()!r}. Pass one of them, or None."
                )
            target = int(matches[0])

        displays = {}
        for curve_name, proba in probas.items():
            proba = _check_proba_table(curve_name, proba, len(y_true), len(classes))
            if top_label:
                predicted = classes[np.argmax(proba, axis=1)]
                y_binary = (predicted == y_true).astype(int)
                y_prob = proba.max(axis=1)
                label = None
            else:
                y_binary = (y_true == classes[target]).astype(int)
                y_prob = proba[:, target]
                label = classes[target]
            displays[curve_name] = _calibration_display(
                y_binary, y_prob, n_bins, strategy, curve_name, label
            )

        display = cls(displays, highlight=highlight, top_label=top_label)
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the curves, with the highlighted one on top.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw. None creates a new figure.

        Returns
        -------
        display : ReliabilityDiagramDisplay
            This display, with the drawn figure in its attributes.
        """
        plt = _import_pyplot(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 5.5), layout="constrained")

        self.lines_ = {}
        for curve_name, display in self.calibration_displays.items():
            if curve_name == self.highlight:
                style = {"color": "black", "linewidth": 2.5, "marker": "o"}
                style["zorder"] = 3
            else:
                style = {"linewidth": 1.2, "alpha": 0.8}
            display.plot(ax=ax, name=curve_name, ref_line=True, **style)
            self.lines_[curve_name] = display.line_

        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        if self.top_label:
            ax.set(xlabel=TOP_LABEL_XLABEL, ylabel=TOP_LABEL_YLABEL)
            ax.set_title("Reliability diagram (top-label)")
        else:
            ax.set_title("Reliability diagram")
        # Inside the Axes, where matplotlib finds the least overlap with curves.
        ax.legend(loc="best", framealpha=0.85, fontsize="small")

        self.ax_ = ax
        self.figure_ = ax.figure
        return self


def _member_probabilities(name, member, X, classes):
    """Return a member's predict_proba with columns placed by its classes_."""
    columns = column_positions(name, member, classes)
    proba = np.asarray(member.predict_proba(X), dtype=np.float64)
    aligned = np.zeros((proba.shape[0], len(classes)))
    aligned[:, columns] = proba
    return aligned


def _check_proba_table(name, proba, n_samples, n_classes):
    """Return one curve's probabilities as a float array, or raise ValueError."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (n_samples, n_classes):
        raise ValueError(
            f"The probabilities of {name!r} must have shape (n_samples, n_classes) "
            f"= ({n_samples}, {n_classes}); got {proba.shape}."
        )
    return proba


def _calibration_display(y_binary, y_prob, n_bins, strategy, name, pos_label):
    """Return an undrawn CalibrationDisplay for 0/1 targets and probabilities."""
    prob_true, prob_pred = calibration_curve(
        y_binary, y_prob, n_bins=n_bins, strategy=strategy, pos_label=1
    )
    return CalibrationDisplay(
        prob_true, prob_pred, y_prob, estimator_name=name, pos_label=pos_label
    )
