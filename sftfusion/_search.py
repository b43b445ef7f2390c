"""Scoring member subsets from one set of out-of-fold predictions.

A grid search over which members an SFTClassifier includes refits every member of
every candidate on every fold. ``MemberSearchCV`` fits each member once per fold
instead, keeps its held-out probabilities, and scores every non-empty subset of
members, at every temperature and pool, by fusing those probabilities.
"""

import copy
import itertools
import time
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from sftfusion._candidates import results_table, score_subset
from sftfusion._classifier import SFTClassifier
from sftfusion._compat import (
    StrOptions,
    _fit_context,
    _safe_indexing,
    scorer_accepts_sample_weight,
)
from sftfusion._crossfit import check_partition, cross_fit_members, indexable
from sftfusion._members import (
    check_cache,
    format_progress,
    sample_weight_params,
    validate_members,
)
from sftfusion._validation import (
    check_sample_weight,
    check_targets,
    check_temperature,
    check_weights,
    is_learn,
)

_POOLS = ("linear", "log", "auto")


class MemberSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Search over member subsets, temperatures and pools of an SFTClassifier.

    Every active member of ``estimator`` is fitted once on each training fold of
    ``cv`` and predicts its test fold. Each candidate, a non-empty subset of the
    members with one temperature and one pool, is then scored on every test fold
    by fusing the stored probabilities, without fitting anything again. The
    result is a ``cv_results_`` table in the layout of
    :class:`~sklearn.model_selection.GridSearchCV` and, with ``refit``, the best
    candidate fitted on all samples as an :class:`SFTClassifier`.

    Parameters
    ----------
    estimator : SFTClassifier
        The ensemble whose members are searched. Members set to ``"drop"`` stay
        out of every subset. Its ``weights`` (restricted to each subset) and
        ``calibrate_members`` apply to every candidate, and its ``memory`` to
        every member fit. Its ``cv``, ``n_jobs``, ``device`` and ``batch_size``
        apply when the best candidate is refitted. The scoring itself fuses,
        and learns where a candidate learns, with numpy on the CPU.
    temperatures : list of (float or "learn"), default=None
        Temperatures to try, each in (0, inf] or ``"learn"``. None means the
        estimator's ``temperature`` only.
    pools : list of {"linear", "log", "auto"}, default=None
        Pools to try. None means the estimator's ``pool`` only.
    scoring : str or callable, default=None
        A scikit-learn scorer name or a callable ``scorer(estimator, X, y)``, as
        in GridSearchCV. None uses the classifier's ``score``, the accuracy.
        The scorer receives the test fold's X and y and a stand-in estimator
        whose predict methods return the candidate's fused prediction of that
        X. A callable may read the features of X, but must pass X itself, not
        a copy or part of it, to the predict methods.
    cv : int, cross-validation generator or iterable, default=5
        The folds. An int gives :class:`~sklearn.model_selection.StratifiedKFold`
        without shuffling, as in GridSearchCV. Every sample must be in exactly
        one test fold.
    refit : bool, default=True
        If True, fit the best candidate on all samples as ``best_estimator_``.
    n_jobs : int, default=None
        Number of joblib jobs for the fold fits, and then for scoring the
        subsets. None means 1 unless in a :obj:`joblib.parallel_backend`
        context; -1 means all processors.
    verbose : bool or int, default=False
        If True, print one timed line per fold fit and one for the scoring.
    error_score : "raise" or float, default=np.nan
        Score of a candidate on a test fold where learning its fusion or
        scoring it raises, for example ``"neg_log_loss"`` on a test fold that
        contains one class only. ``"raise"`` raises the error instead. A
        numeric value is recorded, and one warning after the scoring lists the
        failures. A member whose fit raises on a fold still stops the search,
        where GridSearchCV would record ``error_score`` for the candidates
        that contain it.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        One entry per candidate, in the order subsets (by size, then in the
        order of ``estimator.estimators``) x temperatures x pools. Keys:
        ``"param_members"`` (tuple of member names), ``"param_temperature"``,
        ``"param_pool"``, ``"params"`` (the arguments of ``set_params`` that turn
        ``estimator`` into the candidate), ``"split<k>_test_score"``,
        ``"mean_test_score"``, ``"std_test_score"`` and ``"rank_test_score"``.
        Loads into a DataFrame with ``pandas.DataFrame(cv_results_)``.
    best_index_ : int
        Index of the candidate of highest mean score; ties go to the first.
    best_params_ : dict
        ``params`` of the best candidate.
    best_score_ : float
        Mean test score of the best candidate.
    best_estimator_ : SFTClassifier
        ``clone(estimator).set_params(**best_params_)`` fitted on all samples.
        Only with ``refit=True``.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_splits_ : int
        Number of folds.
    scorer_ : callable
        The scorer used.
    fit_time_ : float
        Seconds spent fitting the members on the folds.
    score_time_ : float
        Seconds spent fusing and scoring every candidate.
    refit_time_ : float
        Seconds spent fitting ``best_estimator_``. Only with ``refit=True``.
    n_features_in_ : int
        Number of features seen by ``best_estimator_``. Only with
        ``refit=True``, and if a member defines it.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen by ``best_estimator_``. Only with ``refit=True``,
        and if a member defines them.

    See Also
    --------
    SFTClassifier : The ensemble whose members are searched.
    sklearn.model_selection.GridSearchCV : The search that refits every member
        for every candidate.

    Notes
    -----
    For candidates with a fixed temperature, fixed or uniform weights and a
    ``"linear"`` or ``"log"`` pool, every split score is the one that
    GridSearchCV computes with the same ``cv`` and ``scoring``: there, too, each
    member of the candidate is fitted on the training fold and the fusion of
    their predictions is scored on the test fold. The two differ only where a
    member's fit is random without a fixed seed.

    A candidate that learns anything (``"learn"`` among the temperatures, or an
    estimator with ``weights="learn"``, ``calibrate_members=True`` or pool
    ``"auto"``) learns it, for each test fold, on the stored predictions of the
    other folds. GridSearchCV would learn it on out-of-fold predictions of
    members refitted inside each training fold, so those scores are close to
    GridSearchCV's but not equal.

    There are ``2 ** n_members - 1`` subsets, so the number of candidates
    doubles with each member. Subsets whose members all have prior weight 0
    are left out.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from sftfusion import MemberSearchCV, SFTClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> ensemble = SFTClassifier([
    ...     ("lr", LogisticRegression(max_iter=1000)),
    ...     ("nb", GaussianNB()),
    ...     ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ... ])
    >>> search = MemberSearchCV(
    ...     ensemble,
    ...     temperatures=[0.1, 1.0],
    ...     pools=["linear", "log"],
    ...     scoring="neg_log_loss",
    ... ).fit(X, y)
    >>> len(search.cv_results_["params"])
    28
    >>> search.cv_results_["param_members"][search.best_index_]
    ('lr', 'nb', 'tree')
    >>> search.best_params_
    {'temperature': 0.1, 'pool': 'log'}
    >>> search.best_estimator_.predict(X[:3])
    array([0, 0, 0])
    """

    _parameter_constraints: dict = {
        "estimator": [SFTClassifier],
        "temperatures": ["array-like", None],
        "pools": ["array-like", None],
        "scoring": [str, callable, None],
        "cv": ["cv_object"],
        "refit": ["boolean"],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
        "error_score": [StrOptions({"raise"}), Real],
    }

    def __init__(
        self,
        estimator,
        *,
        temperatures=None,
        pools=None,
        scoring=None,
        cv=5,
        refit=True,
        n_jobs=None,
        verbose=False,
        error_score=np.nan,
    ):
        self.estimator = estimator
        self.temperatures = temperatures
        self.pools = pools
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.error_score = error_score

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Fit the members on every fold, score every candidate and refit the best.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Training input, passed to every member unchanged.
        y : array-like of shape (n_samples,)
            Target labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights for the members' fits and for learned fusion. They
            also weight the scores if the scorer takes ``sample_weight``, as
            GridSearchCV does in scikit-learn 1.9 without metadata routing.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` such as
            :class:`~sklearn.model_selection.GroupKFold`.

        Returns
        -------
        self : MemberSearchCV
            The fitted search.
        """
        # A previous fit with refit=True must not leave its best_estimator_.
        for attribute in ("best_estimator_", "refit_time_"):
            self.__dict__.pop(attribute, None)

        estimator = self.estimator
        estimator._validate_params()
        active = validate_members(
            estimator.estimators, reserved=set(estimator._get_param_names())
        )
        temperatures = _check_temperatures(self.temperatures, estimator.temperature)
        pools = _check_pools(self.pools, estimator.pool)
        y_labels, y_for_members = check_targets(y, "MemberSearchCV")
        sample_weight = check_sample_weight(sample_weight, len(y_labels))
        learn_weights = is_learn(estimator.weights)
        all_weights = None if learn_weights else estimator.weights
        prior = check_weights(all_weights, len(estimator.estimators), active)

        names = [estimator.estimators[index][0] for index in active]
        members = [estimator.estimators[index][1] for index in active]
        for name, member in zip(names, members, strict=True):
            # Raises before any fit if a member cannot take sample_weight.
            sample_weight_params(name, member, sample_weight)
        classes = np.unique(y_labels)
        self.scorer_ = check_scoring(estimator, self.scoring)
        weighted_scores = sample_weight is not None and scorer_accepts_sample_weight(
            self.scorer_
        )
        if sample_weight is not None and not weighted_scores:
            warnings.warn(
                f"The scorer {self.scorer_!r} does not take sample_weight, so the "
                "test scores of MemberSearchCV are unweighted, while the member "
                "fits and learned fusion use sample_weight. Pass a scorer that "
                "takes sample_weight to weight the scores as well.",
                UserWarning,
                stacklevel=3,
            )

        X_rows = indexable(X)
        cv = check_cv(self.cv, y_labels, classifier=True)
        splits = list(cv.split(X_rows, y_labels, groups))
        check_partition(
            splits,
            len(y_labels),
            reason="MemberSearchCV scores every candidate on one out-of-fold "
            "prediction per sample",
        )
        start = time.perf_counter()
        out_of_fold, _ = cross_fit_members(
            names,
            members,
            X,
            y_for_members,
            sample_weight,
            classes,
            splits,
            refit=False,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            memory=check_cache(estimator.memory),
            source="MemberSearchCV",
        )
        self.fit_time_ = time.perf_counter() - start

        start = time.perf_counter()
        subsets = [
            subset
            for size in range(1, len(active) + 1)
            for subset in itertools.combinations(range(len(active)), size)
            if prior[list(subset)].sum() > 0
        ]
        settings = {
            "X_tests": [_safe_indexing(X_rows, test) for _, test in splits],
            "y_labels": y_labels,
            "y_index": np.searchsorted(classes, y_labels),
            "sample_weight": sample_weight,
            "splits": splits,
            "classes": classes,
            "scorer": self.scorer_,
            "weighted_scores": weighted_scores,
            "error_score": self.error_score,
            "temperatures": temperatures,
            "pools": pools,
            "learn_weights": learn_weights,
            "calibrate_members": estimator.calibrate_members,
        }
        priors = [
            _subset_prior(all_weights, estimator.estimators, active, subset)
            for subset in subsets
        ]
        scores = self._score_subsets(out_of_fold, names, subsets, priors, settings)
        self.score_time_ = time.perf_counter() - start

        self.cv_results_ = results_table(
            [[names[index] for index in subset] for subset in subsets],
            names,
            temperatures,
            pools,
            scores,
        )
        self.n_splits_ = len(splits)
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        self.best_params_ = self.cv_results_["params"][self.best_index_]
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        self.classes_ = classes

        if self.refit:
            start = time.perf_counter()
            best = clone(estimator).set_params(**self.best_params_)
            self.best_estimator_ = best.fit(X, y, sample_weight=sample_weight)
            self.refit_time_ = time.perf_counter() - start
        return self

    def _score_subsets(self, out_of_fold, names, subsets, priors, settings):
        """Score every subset at every temperature and pool, subsets in parallel.

        Returns an array with one row per candidate and one column per split.
        """
        start = time.perf_counter()
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(score_subset)(
                out_of_fold[list(subset)],
                [names[index] for index in subset],
                prior,
                settings,
            )
            for subset, prior in zip(subsets, priors, strict=True)
        )
        scores = np.concatenate([subset_scores for subset_scores, _ in results])
        failures = [failure for _, found in results for failure in found]
        if failures:
            warnings.warn(
                f"{len(failures)} of {scores.size} test scores failed and were set "
                f"to error_score={settings['error_score']!r}. Set "
                "error_score='raise' to raise the error instead. The first "
                f"failure: {failures[0]}",
                UserWarning,
                stacklevel=4,
            )
        if self.verbose:
            message = (
                f"Scored {len(scores)} candidates on {len(settings['splits'])} folds"
            )
            seconds = time.perf_counter() - start
            print(format_progress("MemberSearchCV", message, seconds), flush=True)
        return scores

    @property
    def n_features_in_(self):
        """Number of features seen by ``best_estimator_``.

        Only defined with ``refit=True``, and if a member defines it.
        """
        return self.best_estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Feature names seen by ``best_estimator_``.

        Only defined with ``refit=True``, and if a member defines them.
        """
        return self.best_estimator_.feature_names_in_

    def _check_refitted(self):
        """Raise unless fitted with ``refit=True``; used by ``available_if``."""
        if not self.refit:
            raise AttributeError(
                "This MemberSearchCV was created with refit=False, so it has no "
                "best_estimator_ to predict with. Set refit=True, or fit "
                "estimator.set_params(**best_params_) yourself."
            )
        return True

    @available_if(_check_refitted)
    def predict(self, X):
        """Return the predictions of ``best_estimator_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_check_refitted)
    def predict_proba(self, X):
        """Return the fused probabilities of ``best_estimator_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    @available_if(_check_refitted)
    def predict_log_proba(self, X):
        """Return the log of the fused probabilities of ``best_estimator_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_log_proba(X)

    @available_if(_check_refitted)
    def score(self, X, y):
        """Return the score of ``best_estimator_`` on X and y, with ``scorer_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged.
        y : array-like of shape (n_samples,)
            True labels.

        Returns
        -------
        score : float
            The score, higher is better.
        """
        check_is_fitted(self)
        return self.scorer_(self.best_estimator_, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator_tags = get_tags(self.estimator)
        tags.estimator_type = "classifier"
        tags.classifier_tags = copy.deepcopy(estimator_tags.classifier_tags)
        tags.input_tags = copy.deepcopy(estimator_tags.input_tags)
        tags.non_deterministic = estimator_tags.non_deterministic
        return tags


def _check_temperatures(temperatures, default):
    """Return the temperatures to try as a list of floats and ``"learn"``."""
    values = [default] if temperatures is None else list(temperatures)
    if not values:
        raise ValueError(
            "The 'temperatures' parameter must contain at least one temperature; "
            "got an empty list. Pass None to use the estimator's temperature."
        )
    return [value if is_learn(value) else check_temperature(value) for value in values]


def _check_pools(pools, default):
    """Return the pools to try as a list of names from ``_POOLS``."""
    values = [default] if pools is None else list(pools)
    if not values:
        raise ValueError(
            "The 'pools' parameter must contain at least one pool; got an empty "
            "list. Pass None to use the estimator's pool."
        )
    for value in values:
        if not (isinstance(value, str) and value in _POOLS):
            raise ValueError(
                f"Each entry of the 'pools' parameter must be one of {_POOLS!r}; "
                f"got {value!r}."
            )
    return values


def _subset_prior(weights, estimators, active, subset):
    """Return the prior weights of a subset of the active members, summing to 1."""
    entries = [active[position] for position in subset]
    return check_weights(weights, len(estimators), entries)
