"""SFTClassifier: the scikit-learn meta-estimator around softmax fusion.

This module contains the estimator's parameters and the order of the steps in fit and
predict. Member handling lives in ``_members`` and the numbers in ``_fusion``.
"""

from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import ClassifierMixin, clone
from sklearn.utils import Bunch, get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import assert_all_finite, check_is_fitted, column_or_1d

from sftfusion._compat import Interval, _BaseComposition, _fit_context
from sftfusion._fusion import fuse
from sftfusion._html_repr import members_visual_block
from sftfusion._members import (
    DROP,
    collect_probabilities,
    column_positions,
    fit_member,
    sample_weight_params,
    validate_members,
)
from sftfusion._validation import check_temperature, check_weights


class SFTClassifier(ClassifierMixin, _BaseComposition):
    """Softmax fusion of heterogeneous classifiers.

    Each member is a clone of an estimator, fitted on X and y as given. At predict
    time every member's ``predict_proba`` is aligned to ``classes_`` and the
    members are combined with per-sample, per-class softmax weights: a member
    that is confident about a class gets more weight for that class.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The members. Each estimator must be a classifier with ``predict_proba``,
        or the string ``"drop"`` to leave that entry out. Names must be unique,
        must not contain ``"__"`` and must not equal a parameter name of this
        class. Members are cloned in ``fit``; a member wrapped in
        :class:`sklearn.frozen.FrozenEstimator` is used as it is.
    temperature : float, default=1.0
        Temperature ``T`` of the softmax over members, in (0, inf]. Low values
        give, per class, most weight to the most confident member;
        ``float("inf")`` gives weighted soft voting.
    weights : array-like of shape (n_estimators,), default=None
        Non-negative prior weights ``pi``, one per entry of ``estimators``
        (entries set to ``"drop"`` included, their weights ignored). None means
        uniform weights.
    n_jobs : int, default=None
        Number of jobs that fit the members in parallel with joblib. None means 1
        unless in a :obj:`joblib.parallel_backend` context; -1 means all
        processors.
    verbose : bool or int, default=False
        If True, print one line with the elapsed time after each member is
        fitted.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, without the entries set to ``"drop"``.
    named_estimators_ : :class:`~sklearn.utils.Bunch`
        The fitted members by name; dropped entries are kept as ``"drop"``.
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    temperature_ : float
        The temperature used by predict.
    weights_ : ndarray of shape (n_active_members,)
        The prior weights of the fitted members, normalised to sum to 1.
    n_features_in_ : int
        Number of features seen by the first member that records it. Only
        defined if a member defines it.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen by the first member that records them. Only defined
        if a member defines it.

    See Also
    --------
    softmax_fusion : The fusion function on stacked probabilities.
    sklearn.ensemble.VotingClassifier : Soft voting, the limit ``T = inf``.

    Notes
    -----
    For member probabilities ``p_ic(x)`` of class ``c``, temperature ``T`` and
    prior weights ``pi_i``::

        w_ic(x) = softmax over members i of (p_ic(x) / T + log pi_i)
        q_c(x)  = sum_i w_ic(x) * p_ic(x)
        p_c(x)  = q_c(x) / sum_c' q_c'(x)

    A member's columns are placed by its own ``classes_``, so a member fitted on
    a subset of the labels gives probability 0 to the labels it never saw.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sftfusion import SFTClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SFTClassifier(
    ...     [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())],
    ...     temperature=0.5,
    ... ).fit(X, y)
    >>> model.predict(X[:3])
    array([0, 0, 0])
    >>> model.predict_proba(X[:1]).round(3)
    array([[0.991, 0.009, 0.   ]])
    """

    _parameter_constraints: dict = {
        "estimators": [list],
        "temperature": [Interval(Real, 0, None, closed="right")],
        "weights": ["array-like", None],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }

    def __init__(
        self, estimators, *, temperature=1.0, weights=None, n_jobs=None, verbose=False
    ):
        self.estimators = estimators
        self.temperature = temperature
        self.weights = weights
        self.n_jobs = n_jobs
        self.verbose = verbose

    def get_params(self, deep=True):
        """Get the parameters of this estimator and, with ``deep``, of its members.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return each member under its name and the members'
            parameters as ``<name>__<parameter>``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set the parameters of this estimator or of its members.

        A member is replaced with ``set_params(<name>=estimator)`` or dropped with
        ``set_params(<name>="drop")``; its parameters are set with
        ``<name>__<parameter>``.

        Parameters
        ----------
        **params : dict
            Parameter names mapped to new values.

        Returns
        -------
        self : SFTClassifier
            This estimator.
        """
        self._set_params("estimators", **params)
        return self

    @property
    def named_estimators(self):
        """The unfitted members by name, as a :class:`~sklearn.utils.Bunch`."""
        return Bunch(**dict(self.estimators))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit a clone of every member on X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Training input, passed to every member unchanged.
        y : array-like of shape (n_samples,)
            Target labels of any type that scikit-learn classifiers accept.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights passed to every member's fit (to a Pipeline's final
            step). A member that does not accept them raises ValueError.

        Returns
        -------
        self : SFTClassifier
            The fitted estimator.
        """
        active = validate_members(
            self.estimators, reserved=set(self._get_param_names())
        )
        y_labels, y_for_members = _validate_targets(y)
        temperature = check_temperature(self.temperature)
        prior = check_weights(self.weights, len(self.estimators), active)

        names = [self.estimators[index][0] for index in active]
        members = [self.estimators[index][1] for index in active]
        fit_params = [
            sample_weight_params(name, member, sample_weight)
            for name, member in zip(names, members, strict=True)
        ]

        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(fit_member)(
                clone(member),
                X,
                y_for_members,
                params,
                name,
                position,
                len(members),
                self.verbose,
            )
            for position, (name, member, params) in enumerate(
                zip(names, members, fit_params, strict=True), start=1
            )
        )

        classes = np.unique(y_labels)
        self._member_columns = [
            column_positions(name, member, classes)
            for name, member in zip(names, fitted, strict=True)
        ]
        self.classes_ = classes
        self.estimators_ = fitted
        self.named_estimators_ = Bunch()
        fitted_by_name = dict(zip(names, fitted, strict=True))
        for name, _ in self.estimators:
            self.named_estimators_[name] = fitted_by_name.get(name, DROP)
        self.temperature_ = temperature
        self.weights_ = prior
        self._copy_feature_attributes(fitted)
        return self

    def _copy_feature_attributes(self, fitted):
        """Copy ``n_features_in_`` and ``feature_names_in_`` from the first member."""
        for attribute in ("n_features_in_", "feature_names_in_"):
            for member in fitted:
                try:
                    value = getattr(member, attribute)
                except AttributeError:
                    continue
                setattr(self, attribute, value)
                break

    def _member_probabilities(self, X):
        """Return the aligned member probabilities, one (n_samples, n_classes) each."""
        check_is_fitted(self)
        names = [
            name
            for name, member in self.named_estimators_.items()
            if not (isinstance(member, str) and member == DROP)
        ]
        return collect_probabilities(
            names, self.estimators_, self._member_columns, X, len(self.classes_)
        )

    def predict_proba(self, X):
        """Return the fused class probabilities of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Fused probabilities, columns in the order of ``classes_``, rows summing
            to 1.
        """
        probas = self._member_probabilities(X)
        return fuse(probas, temperature=self.temperature_, prior=self.weights_)

    def predict_log_proba(self, X):
        """Return the log of the fused class probabilities of X.

        A probability of exactly 0 gives ``-inf`` without a warning.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba)

    def predict(self, X):
        """Return the class of highest fused probability for each sample of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``classes_[argmax(predict_proba(X), axis=1)]``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def _sk_visual_block_(self):
        return members_visual_block(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        members = _active_estimators(self.estimators)
        if members:
            member_tags = [get_tags(member) for member in members]
            tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in member_tags)
            tags.input_tags.sparse = all(t.input_tags.sparse for t in member_tags)
            tags.non_deterministic = any(t.non_deterministic for t in member_tags)
        return tags


def _active_estimators(estimators):
    """Return the estimators that are not ``"drop"``, or [] if the list is malformed."""
    try:
        return [
            estimator
            for _, estimator in estimators
            if not (isinstance(estimator, str) and estimator == DROP)
        ]
    except (TypeError, ValueError):
        return []


def _validate_targets(y):
    """Check y and return its labels as a 1-D array and the y to give the members.

    Members get y as passed, unless it is a column vector, which they get raveled
    (with scikit-learn's DataConversionWarning).
    """
    if y is None:
        raise ValueError(
            "SFTClassifier requires y to be passed, but the target y is None."
        )
    labels = column_or_1d(y, warn=True)
    assert_all_finite(labels, input_name="y")
    check_classification_targets(labels)
    y_for_members = y if np.asarray(y).ndim == 1 else labels
    return labels, y_for_members
