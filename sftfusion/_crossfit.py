"""Out-of-fold member probabilities, and members averaged over their fold models.

Learned fusion needs each member's probabilities on samples it was not fitted on.
``cross_fit_members`` fits a clone of every member on each training fold, in one
joblib pool together with the final fits on all samples, and stacks the held-out
probabilities. Members wrapped in :class:`sklearn.frozen.FrozenEstimator` are
never fitted: their predictions on the given data stand in for held-out ones.
With a member cache, each fold fit is keyed by its own training rows.
"""

import time

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator

from sftfusion._compat import _safe_indexing
from sftfusion._members import (
    column_positions,
    fit_estimator,
    format_progress,
    member_probabilities,
    sample_weight_params,
)


def check_partition(
    splits,
    n_samples,
    reason="learned fusion needs one out-of-fold prediction per sample",
):
    """Raise ValueError unless the test folds of ``splits`` cover each sample once.

    ``reason`` completes the message: why the folds must be a partition.
    """
    counts = np.zeros(n_samples, dtype=np.intp)
    for _, test in splits:
        np.add.at(counts, np.asarray(test), 1)
    if not np.all(counts == 1):
        missing = int(np.sum(counts == 0))
        repeated = int(np.sum(counts > 1))
        raise ValueError(
            "The 'cv' parameter must put every sample in exactly one test fold, "
            f"because {reason}; got folds that leave out {missing} samples and "
            f"repeat {repeated}. "
            "Use an int, KFold or StratifiedKFold."
        )


def cross_fit_members(
    names,
    members,
    X,
    y,
    sample_weight,
    classes,
    splits,
    *,
    refit,
    n_jobs,
    verbose,
    memory=None,
    source="SFTClassifier",
):
    """Fit the members on every training fold and return their held-out probabilities.

    Parameters
    ----------
    names : list of str
        Member names, for messages and progress lines.
    members : list of estimators
        Unfitted members; FrozenEstimator members are used as they are.
    X, y, sample_weight
        Training data as given to ``SFTClassifier.fit``.
    classes : ndarray of shape (n_classes,)
        The ensemble's classes.
    splits : list of (train, test) index arrays
        A partition of the samples into test folds.
    refit : bool
        If True, also fit each member on all samples. If False, each member
        becomes a :class:`FoldAveragedClassifier` of its fold models.
    n_jobs : int or None
        Number of joblib jobs for all fits together.
    verbose : bool or int
        Print one timed line per fit.
    memory : object with joblib.Memory's interface or None, default=None
        Cache of the member fits, from :func:`~sftfusion._members.check_cache`.
    source : str, default="SFTClassifier"
        The estimator that progress lines name.

    Returns
    -------
    out_of_fold : ndarray of shape (n_members, n_samples, n_classes)
        Held-out probabilities aligned to ``classes``.
    fitted : list of estimators
        The members to predict with.
    """
    n_samples = sum(len(test) for _, test in splits)
    X_rows, y_rows, weight_rows = (indexable(data) for data in (X, y, sample_weight))
    jobs = []
    for index, member in enumerate(members):
        if isinstance(member, FrozenEstimator):
            continue
        for fold, (train, test) in enumerate(splits, start=1):
            jobs.append((index, fold, train, test))
        if refit:
            jobs.append((index, None, None, None))

    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_one)(
            clone(members[index]),
            names[index],
            (X, y, sample_weight) if fold is None else (X_rows, y_rows, weight_rows),
            classes,
            train,
            test,
            memory,
            progress=_progress(names[index], fold, len(splits), position, len(jobs))
            if verbose
            else None,
            source=source,
        )
        for position, (index, fold, train, test) in enumerate(jobs, start=1)
    )

    out_of_fold = np.zeros((len(members), n_samples, len(classes)))
    fold_models = [[] for _ in members]
    final = [None] * len(members)
    for (index, fold, _, test), (fitted, proba) in zip(jobs, results, strict=True):
        if fold is None:
            final[index] = fitted
        else:
            out_of_fold[index, test] = proba
            fold_models[index].append(fitted)

    for index, member in enumerate(members):
        if isinstance(member, FrozenEstimator):
            columns = column_positions(names[index], member, classes)
            out_of_fold[index] = member_probabilities(
                names[index], member, columns, X, len(classes), n_samples
            )
            final[index] = member
        elif not refit:
            final[index] = FoldAveragedClassifier(fold_models[index], classes)
    return out_of_fold, final


def _progress(name, fold, n_folds, position, total):
    where = "all samples" if fold is None else f"fold {fold} of {n_folds}"
    return f"({position} of {total}) Processing {name}, {where}"


def indexable(data):
    """Return ``data`` in a form whose rows ``_safe_indexing`` can take.

    Arrays, lists, pandas objects and CSR/CSC matrices are returned as they are.
    Other sparse formats become CSR. A dict of arrays, an input that skorch
    accepts, becomes a skorch ``SliceDict``, a dict whose rows can be indexed
    and that scikit-learn's splitters can count. Other array-likes become numpy
    arrays.
    """
    if data is None:
        return None
    if sparse.issparse(data):
        return data if data.format in ("csr", "csc") else data.tocsr()
    if isinstance(data, dict):
        # skorch imports torch, so only a dict input imports it.
        from skorch.helper import SliceDict

        return data if isinstance(data, SliceDict) else SliceDict(**data)
    if isinstance(data, list | tuple | np.ndarray) or hasattr(data, "iloc"):
        return data
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        return data
    return np.asarray(data)


def _fit_one(member, name, data, classes, train, test, memory, progress, source):
    """Fit one member on the ``train`` rows of ``data`` = (X, y, sample_weight).

    ``train`` None means all rows. Returns the fitted member and its aligned
    probabilities on the ``test`` rows (None for a fit on all rows).
    """
    X, y, sample_weight = data
    start = time.perf_counter()
    if train is None:
        fit_params = sample_weight_params(name, member, sample_weight)
        member = fit_estimator(name, member, X, y, fit_params, memory)
        proba = None
    else:
        weight = None if sample_weight is None else _safe_indexing(sample_weight, train)
        fit_params = sample_weight_params(name, member, weight)
        member = fit_estimator(
            name,
            member,
            _safe_indexing(X, train),
            _safe_indexing(y, train),
            fit_params,
            memory,
        )
        columns = column_positions(name, member, classes)
        proba = member_probabilities(
            name, member, columns, _safe_indexing(X, test), len(classes), len(test)
        )
    if progress is not None:
        seconds = time.perf_counter() - start
        print(format_progress(source, progress, seconds), flush=True)
    return member, proba


class FoldAveragedClassifier(ClassifierMixin, BaseEstimator):
    """A member's fold models, predicting the mean of their probabilities.

    SFTClassifier builds it with ``refit=False``, so that a member is not fitted
    once more on all samples. It has no ``fit`` method of its own.

    Parameters
    ----------
    estimators : list of fitted classifiers
        The member's models, one per training fold.
    classes : ndarray of shape (n_classes,)
        The ensemble's classes; a fold model may know only some of them.
    """

    def __init__(self, estimators, classes):
        self.estimators = estimators
        self.classes = classes

    @property
    def classes_(self):
        return self.classes

    @property
    def n_features_in_(self):
        """Number of features of the fold models; AttributeError if they lack it."""
        return self.estimators[0].n_features_in_

    @property
    def feature_names_in_(self):
        """Feature names of the fold models; AttributeError if they lack them."""
        return self.estimators[0].feature_names_in_

    def predict_proba(self, X):
        """Return the mean of the fold models' probabilities, in ``classes`` order."""
        total = None
        for position, estimator in enumerate(self.estimators, start=1):
            name = f"fold model {position}"
            columns = column_positions(name, estimator, self.classes)
            proba = member_probabilities(name, estimator, columns, X, len(self.classes))
            total = proba.astype(np.float64) if total is None else total + proba
        return total / len(self.estimators)

    def predict(self, X):
        """Return the class of highest mean probability for each sample."""
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]
