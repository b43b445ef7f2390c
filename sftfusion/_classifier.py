"""SFTClassifier: the scikit-learn meta-estimator around softmax fusion.

This module contains the estimator's parameters and the order of the steps in fit and
predict. Member handling lives in ``_members`` and the numbers in ``_fusion``.
"""

import os
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import ClassifierMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, get_tags
from sklearn.utils.validation import check_is_fitted

from sftfusion._backend import resolve_device, to_device, to_numpy
from sftfusion._batching import (
    check_batch_size,
    count_rows,
    iter_row_batches,
    prepare_for_slicing,
)
from sftfusion._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _BaseComposition,
    _fit_context,
)
from sftfusion._crossfit import check_partition, cross_fit_members, indexable
from sftfusion._fusion import fuse
from sftfusion._html_repr import members_visual_block
from sftfusion._learning import fit_fusion
from sftfusion._members import (
    DROP,
    active_estimators,
    check_cache,
    collect_probabilities,
    column_positions,
    fit_member,
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

# Fitted attributes that fit sets only for some parameters or members.
_CONDITIONAL_ATTRIBUTES = (
    "member_temperatures_",
    "cv_results_",
    "n_features_in_",
    "feature_names_in_",
)


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
    temperature : float or "learn", default=1.0
        Temperature ``T`` of the softmax over members, in (0, inf]. Low values
        give, per class, most weight to the most confident member;
        ``float("inf")`` gives weighted soft voting. ``"learn"`` fits it on
        out-of-fold predictions (see Notes), within [0.02, 1e4].
    weights : array-like of shape (n_estimators,) or "learn", default=None
        Non-negative prior weights ``pi``, one per entry of ``estimators``
        (entries set to ``"drop"`` included, their weights ignored). None means
        uniform weights. ``"learn"`` fits them on out-of-fold predictions.
    pool : {"linear", "log", "auto"}, default="linear"
        How the weighted members are combined. ``"linear"`` is the weighted
        mean of the probabilities (the formula in Notes). ``"log"`` is the
        log-linear pool ``log q_c = sum_i w_ic log p_ic`` renormalised with a
        softmax over classes, with the same softmax weights ``w``. ``"auto"``
        fits both on out-of-fold predictions and keeps the one of lower
        log-loss.
    calibrate_members : bool, default=False
        If True, also learn one temperature ``tau_i`` per member, which
        recalibrates its probabilities to ``softmax(log p_i / tau_i)`` before
        fusion, jointly with the other learned parameters.
    cv : int, cross-validation generator or iterable, default=5
        Splits that produce the out-of-fold member probabilities when anything
        is learned (``"learn"``, ``pool="auto"`` or ``calibrate_members``);
        unused otherwise. An int gives :class:`~sklearn.model_selection.StratifiedKFold`
        without shuffling. Every sample must be in exactly one test fold.
    refit : bool, default=True
        When anything is learned: if True, each member is fitted once more on
        all samples after the out-of-fold pass. If False, each member keeps its
        fold models and predicts the mean of their probabilities, which saves
        one full fit per member.
    memory : str, os.PathLike or joblib.Memory, default=None
        Cache of the member fits. A path is the folder of a
        :class:`joblib.Memory`. The key of each fit (on all samples, and each
        fold fit of learned fusion) is the member's class and parameters,
        nested ones included, with the exact X, y and sample weights it is
        fitted on. A member fitted again on the same data is then loaded from
        the cache, for example across the candidates of a
        :class:`~sklearn.model_selection.GridSearchCV` over member sets and
        temperatures. Neither the member's name nor ``verbose`` is part of the
        key. None caches nothing. Members wrapped in FrozenEstimator are never
        cached. A cached member with a random fit and no fixed seed keeps the
        result of its first fit.
    n_jobs : int, default=None
        Number of jobs that fit the members (and their fold models) in parallel
        with joblib. None means 1 unless in a :obj:`joblib.parallel_backend`
        context; -1 means all processors.
    verbose : bool or int, default=False
        If True, print one line with the elapsed time after each member fit
        (and each fold fit), and after learning the fusion parameters.
    batch_size : int, default=None
        Number of rows of X that ``predict_proba``, ``predict`` and
        ``predict_log_proba`` pass to the members and fuse at a time, writing
        each batch's result into the output. The memory they need beyond X and
        the output then grows with ``batch_size``, not with the number of
        samples, and the results are the same as without batches. None passes
        all rows at once. X must have a length and support row slicing: lists,
        numpy arrays, pandas objects, sparse matrices, tensors and dicts of
        those (as skorch accepts). Sparse matrices in COO, BSR or DIA format
        are converted to CSR first, because they cannot slice rows.
    device : {None, "auto", "cpu", "cuda", "cuda:N"} or torch.device, \
            default=None
        Where the fusion runs. None fuses with numpy. A torch device fuses with
        torch on that device: each batch of the members' outputs is copied
        there and the fused probabilities are copied back, so the predict
        methods return numpy arrays in every case. ``"auto"`` is CUDA when
        torch finds a CUDA device, and None otherwise. A CUDA device that torch
        does not find raises ValueError in ``fit`` and in the predict methods.
        Members keep their own device: see the Notes for running skorch
        members and the fusion on one GPU. Learning the fusion parameters in
        ``fit`` computes the loss and its gradient on the same device, in
        float64.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, without the entries set to ``"drop"``. With
        ``refit=False`` and learned fusion, each is a ``FoldAveragedClassifier``
        of the member's fold models.
    named_estimators_ : :class:`~sklearn.utils.Bunch`
        The fitted members by name; dropped entries are kept as ``"drop"``.
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    temperature_ : float
        The temperature used by predict, learned or as given.
    weights_ : ndarray of shape (n_active_members,)
        The prior weights of the fitted members, normalised to sum to 1,
        learned or as given.
    pool_ : {"linear", "log"}
        The pool used by predict.
    member_temperatures_ : ndarray of shape (n_active_members,)
        The learned member temperatures ``tau_i``. Only defined with
        ``calibrate_members=True``.
    cv_results_ : dict of ndarray
        Out-of-fold scores, one row per member and per fitted pool: keys
        ``"name"`` (member names, then ``"fused (linear)"`` and/or
        ``"fused (log)"``), ``"log_loss"`` and ``"accuracy"``, weighted by
        ``sample_weight``. Only defined when anything is learned.
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

    Learned fusion fits the members on the training folds of ``cv``, collects
    their probabilities on the held-out folds, and fits ``T``, ``pi`` (as
    ``softmax(alpha)``) and ``tau`` with L-BFGS-B by minimising the
    sample-weighted log-loss of the fused out-of-fold prediction plus
    ``0.5 * 1e-4 * sum_i (alpha_i - mean(alpha))^2`` and
    ``0.5 * (10 / n_samples) * sum_i log(tau_i)^2``, where ``n_samples`` is the
    sum of ``sample_weight`` when it is given. The first penalty keeps
    the problem well-posed, so that a useless member's weight goes to about 0
    rather than exactly 0. The second acts like 10 extra samples that favour
    ``tau = 1``, which keeps the member temperatures from overfitting small
    data. At ``T = 1`` the member weights differ by at most a factor e, so
    learning ``T`` and ``pi`` is what lets the fusion beat plain averaging.

    The fused probabilities are float32 when every member returns float32 (as
    skorch nets do), and float64 otherwise.

    To run skorch members and the fusion on one GPU, give each skorch member
    ``device="cuda"`` (for a member named ``net``, ``set_params(net__device=
    "cuda")`` also works) and this estimator ``device="cuda"``. skorch returns
    the probabilities as numpy arrays on the CPU, so each batch of member
    outputs makes one trip to the GPU for the fusion, and a ``batch_size`` of
    about 100,000 rows bounds the GPU memory that the fusion needs.

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
        "temperature": [Interval(Real, 0, None, closed="right"), StrOptions({"learn"})],
        "weights": ["array-like", None, StrOptions({"learn"})],
        "pool": [StrOptions({"linear", "log", "auto"})],
        "calibrate_members": ["boolean"],
        "cv": ["cv_object"],
        "refit": ["boolean"],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        # Checked by resolve_device, which also accepts a torch.device.
        "device": "no_validation",
    }

    def __init__(
        self,
        estimators,
        *,
        temperature=1.0,
        weights=None,
        pool="linear",
        calibrate_members=False,
        cv=5,
        refit=True,
        memory=None,
        n_jobs=None,
        verbose=False,
        batch_size=None,
        device=None,
    ):
        self.estimators = estimators
        self.temperature = temperature
        self.weights = weights
        self.pool = pool
        self.calibrate_members = calibrate_members
        self.cv = cv
        self.refit = refit
        self.memory = memory
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.batch_size = batch_size
        self.device = device

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
        # A previous fit's member_temperatures_ would otherwise stay in use,
        # because predict applies it whenever it exists.
        for attribute in _CONDITIONAL_ATTRIBUTES:
            self.__dict__.pop(attribute, None)

        active = validate_members(
            self.estimators, reserved=set(self._get_param_names())
        )
        y_labels, y_for_members = check_targets(y)
        sample_weight = check_sample_weight(sample_weight, len(y_labels))
        learn_temperature = is_learn(self.temperature)
        learn_weights = is_learn(self.weights)
        temperature = 1.0 if learn_temperature else check_temperature(self.temperature)
        prior = check_weights(
            None if learn_weights else self.weights, len(self.estimators), active
        )
        device = resolve_device(self.device)

        names = [self.estimators[index][0] for index in active]
        members = [self.estimators[index][1] for index in active]
        for name, member in zip(names, members, strict=True):
            # Raises before any fit if a member cannot take sample_weight.
            sample_weight_params(name, member, sample_weight)
        classes = np.unique(y_labels)

        if self._learns_fusion():
            fitted, learned = self._fit_learned(
                X,
                y_labels,
                y_for_members,
                sample_weight,
                names,
                members,
                classes,
                temperature,
                prior,
                device,
            )
            temperature, prior = learned.temperature, learned.prior
            pool = learned.pool
            if self.calibrate_members:
                self.member_temperatures_ = learned.member_temperatures
        else:
            fitted = self._fit_members(X, y_for_members, sample_weight, names, members)
            pool = "linear" if self.pool == "auto" else self.pool

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
        self.pool_ = pool
        self._copy_feature_attributes(fitted)
        return self

    def _learns_fusion(self):
        """Tell whether fit learns anything from out-of-fold predictions."""
        return (
            is_learn(self.temperature)
            or is_learn(self.weights)
            or self.pool == "auto"
            or self.calibrate_members
        )

    def _fit_members(self, X, y, sample_weight, names, members):
        """Fit a clone of every member on all samples, in parallel."""
        memory = check_cache(self.memory)
        return Parallel(n_jobs=self.n_jobs)(
            delayed(fit_member)(
                clone(member),
                X,
                y,
                sample_weight_params(name, member, sample_weight),
                name,
                position,
                len(members),
                self.verbose,
                memory,
            )
            for position, (name, member) in enumerate(
                zip(names, members, strict=True), start=1
            )
        )

    def _fit_learned(
        self,
        X,
        y_labels,
        y,
        sample_weight,
        names,
        members,
        classes,
        temperature,
        prior,
        device,
    ):
        """Cross-fit the members, learn the fusion parameters and fit the final members.

        Returns the members to predict with and the learned parameters, and sets
        ``cv_results_``.
        """
        cv = check_cv(self.cv, y_labels, classifier=True)
        splits = list(cv.split(indexable(X), y_labels))
        check_partition(splits, len(y_labels))
        out_of_fold, fitted = cross_fit_members(
            names,
            members,
            X,
            y,
            sample_weight,
            classes,
            splits,
            refit=self.refit,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            memory=check_cache(self.memory),
        )

        def log(pool, seconds):
            if self.verbose:
                message = f"Learning the fusion parameters, pool={pool!r}"
                print(format_progress("SFTClassifier", message, seconds), flush=True)

        learned, self.cv_results_ = fit_fusion(
            out_of_fold,
            np.searchsorted(classes, y_labels),
            sample_weight,
            pools=("linear", "log") if self.pool == "auto" else (self.pool,),
            temperature=temperature,
            prior=prior,
            learn_temperature=is_learn(self.temperature),
            learn_weights=is_learn(self.weights),
            calibrate_members=self.calibrate_members,
            names=names,
            log=log,
            device=device,
        )
        return fitted, learned

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

    def predict_proba(self, X):
        """Return the fused class probabilities of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged, in batches of
            ``batch_size`` rows if it is set.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Fused probabilities, columns in the order of ``classes_``, rows summing
            to 1.
        """
        return self._predict_in_batches(X, _identity)

    def predict_log_proba(self, X):
        """Return the log of the fused class probabilities of X.

        A probability of exactly 0 gives ``-inf`` without a warning.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged, in batches of
            ``batch_size`` rows if it is set.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        return self._predict_in_batches(X, _log)

    def predict(self, X):
        """Return the class of highest fused probability for each sample of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, list of str}
            Input, passed to every member unchanged, in batches of
            ``batch_size`` rows if it is set.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``classes_[argmax(predict_proba(X), axis=1)]``.
        """
        return self._predict_in_batches(X, self._labels_of)

    def _labels_of(self, proba):
        return self.classes_[np.argmax(proba, axis=1)]

    def _predict_in_batches(self, X, transform):
        """Fuse X in batches of ``batch_size`` rows and return ``transform`` of it.

        ``transform`` maps the fused probabilities of a batch to that batch's
        rows of the result, which are written into one preallocated array.
        """
        check_is_fitted(self)
        device = resolve_device(self.device)
        batch_size = check_batch_size(self.batch_size)
        if batch_size is None:
            return transform(self._fuse_rows(X, device))

        X = prepare_for_slicing(X)
        n_samples = count_rows(X)
        if n_samples <= batch_size:
            return transform(self._fuse_rows(X, device))

        result = None
        for start, stop, rows in iter_row_batches(X, batch_size):
            fused = self._fuse_rows(
                rows, device, n_samples=stop - start, first_row=start
            )
            part = transform(fused)
            if result is None:
                result = np.empty((n_samples, *part.shape[1:]), dtype=part.dtype)
            elif part.dtype != result.dtype:
                result = result.astype(np.result_type(result, part))
            result[start:stop] = part
        return result

    def _fuse_rows(self, X, device, *, n_samples=None, first_row=0):
        """Return the fused probabilities of the rows X, as a numpy array."""
        names = [
            name
            for name, member in self.named_estimators_.items()
            if not (isinstance(member, str) and member == DROP)
        ]
        probas = collect_probabilities(
            names,
            self.estimators_,
            self._member_columns,
            X,
            len(self.classes_),
            n_samples=n_samples,
            first_row=first_row,
        )
        fused = fuse(
            to_device(probas, device),
            temperature=self.temperature_,
            prior=self.weights_,
            pool=self.pool_,
            member_temperatures=getattr(self, "member_temperatures_", None),
        )
        return to_numpy(fused)

    def _sk_visual_block_(self):
        return members_visual_block(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        members = active_estimators(self.estimators)
        if members:
            member_tags = [get_tags(member) for member in members]
            tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in member_tags)
            tags.input_tags.sparse = all(t.input_tags.sparse for t in member_tags)
            tags.non_deterministic = any(t.non_deterministic for t in member_tags)
        return tags


def _identity(proba):
    return proba


def _log(proba):
    with np.errstate(divide="ignore"):
        return np.log(proba)
