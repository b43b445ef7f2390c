"""Ensemble members: validation of the member list, fitting, and their probabilities.

Members receive X exactly as the caller passed it and y with its original labels.
Their ``predict_proba`` columns follow their own ``classes_``; this module checks
each member's output and places its columns at the positions of the ensemble's
``classes_``.
"""

import os
import pickle
import sys
import time

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import is_classifier
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_memory, has_fit_parameter

from sftfusion._backend import is_torch_tensor
from sftfusion._hashing import fit_key
from sftfusion._validation import check_probabilities

DROP = "drop"


def describe(name: str, estimator: object) -> str:
    """Return how messages name a member: ``member 'lr' (LogisticRegression)``."""
    return f"member {name!r} ({type(estimator).__name__})"


def validate_members(estimators: object, reserved: set[str]) -> list[int]:
    """Check the ``(name, estimator)`` list and return the indices of active members.

    Active members are those not set to ``"drop"``. ``reserved`` contains the
    constructor parameter names, which a member name must not shadow because
    ``set_params`` addresses members by name.
    """
    if not isinstance(estimators, list) or not estimators:
        raise ValueError(
            "The 'estimators' parameter must be a non-empty list of (name, "
            f"estimator) tuples; got {estimators!r}."
        )
    for entry in estimators:
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise ValueError(
                "Each entry of 'estimators' must be a (name, estimator) tuple; got "
                f"{entry!r}."
            )
        if not isinstance(entry[0], str):
            raise ValueError(
                f"Member names must be strings; got {entry[0]!r} in entry {entry!r}."
            )

    names = [name for name, _ in estimators]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(
                f"Member names must be unique; {name!r} appears {names.count(name)} "
                f"times in {names!r}. Rename one of them."
            )
        if "__" in name:
            raise ValueError(
                f"Member name {name!r} must not contain '__', which scikit-learn "
                "uses to address nested parameters (member__param). Rename it."
            )
        if name in reserved:
            raise ValueError(
                f"Member name {name!r} is also a parameter of SFTClassifier, so "
                "set_params could not tell them apart. Rename the member."
            )

    active = [index for index, (_, est) in enumerate(estimators) if not _is_drop(est)]
    if not active:
        raise ValueError(
            f"All members are 'drop' in {names!r}; at least one member must be an "
            "estimator."
        )
    for index in active:
        name, estimator = estimators[index]
        if not is_classifier(estimator):
            raise ValueError(
                f"The {describe(name, estimator)} is not a classifier; every member "
                "must be a scikit-learn compatible classifier, or 'drop'."
            )
        if not hasattr(estimator, "predict_proba"):
            scores = (
                " Its decision_function returns scores, not probabilities."
                if hasattr(estimator, "decision_function")
                else ""
            )
            raise ValueError(
                f"The {describe(name, estimator)} has no predict_proba, which "
                f"softmax fusion needs.{scores} Wrap it in "
                "sklearn.calibration.CalibratedClassifierCV, or enable its "
                "probabilities (for example SVC(probability=True))."
            )
    return active


def _is_drop(estimator: object) -> bool:
    return isinstance(estimator, str) and estimator == DROP


def sample_weight_params(name: str, estimator: object, sample_weight) -> dict:
    """Return the fit keyword arguments that pass ``sample_weight`` to a member.

    A Pipeline takes it through its final step (``laststep__sample_weight``).
    A member that accepts neither form raises ValueError naming it.
    """
    if sample_weight is None:
        return {}
    if has_fit_parameter(estimator, "sample_weight"):
        return {"sample_weight": sample_weight}
    if isinstance(estimator, Pipeline):
        step_name, final = estimator.steps[-1]
        if final not in (None, "passthrough") and has_fit_parameter(
            final, "sample_weight"
        ):
            return {f"{step_name}__sample_weight": sample_weight}
    raise ValueError(
        f"The {describe(name, estimator)} does not accept sample_weight in fit, so "
        "the ensemble cannot be fitted with sample_weight. Drop that member, or "
        "call fit without sample_weight."
    )


def call_member(name: str, estimator: object, method: str, *args, **kwargs):
    """Call ``estimator.method(*args, **kwargs)``, naming the member if it raises.

    The new exception chains the original as its cause. It has the original's
    type, so callers that catch ValueError or TypeError still do. A type that
    cannot be built from a message alone, such as UnicodeDecodeError, is replaced
    by its nearest base class that can (UnicodeError, a ValueError). When the
    member runs in a joblib worker process, joblib replaces that cause with the
    worker's traceback as text.
    """
    try:
        return getattr(estimator, method)(*args, **kwargs)
    except Exception as exc:
        message = f"The {describe(name, estimator)} failed in {method}: {exc}"
        raise _rename_exception(exc, message) from exc


def _rename_exception(exc: Exception, message: str) -> Exception:
    """Return an exception carrying ``message``, of ``exc``'s type or a base of it."""
    for kind in type(exc).__mro__:
        if kind is Exception or not issubclass(kind, Exception):
            continue
        try:
            renamed = kind(message)
        except Exception:
            continue
        # A constructor that rewrites its argument would lose the message.
        if renamed.args == (message,):
            return renamed
    return Exception(message)


def fit_member(
    estimator, X, y, fit_params, name, position, total, verbose, memory=None
):
    """Fit one member and return it; with ``verbose``, print one timed line.

    With a ``memory`` from :func:`check_cache`, the fit goes through its cache
    (see :func:`fit_estimator`), so the returned member may be a copy loaded
    from the cache rather than ``estimator`` itself.
    """
    start = time.perf_counter()
    estimator = fit_estimator(name, estimator, X, y, fit_params, memory)
    if verbose:
        elapsed = time.perf_counter() - start
        message = f"({position} of {total}) Processing {name}"
        print(format_progress("SFTClassifier", message, elapsed), flush=True)
    return estimator


def check_cache(memory):
    """Return the joblib.Memory-like object that caches member fits, or None.

    ``memory`` is None, a folder path (str or :class:`os.PathLike`) or an object
    with joblib.Memory's ``cache(func, ignore=...)`` method. A joblib.Memory
    without a location caches nothing, so it also gives None.
    """
    if memory is None:
        return None
    if isinstance(memory, os.PathLike):
        memory = os.fspath(memory)
    memory = check_memory(memory)
    if isinstance(memory, joblib.Memory) and memory.location is None:
        return None
    return memory


def fit_estimator(name, estimator, X, y, fit_params, memory=None):
    """Fit ``estimator`` on X and y and return the fitted estimator.

    With a ``memory`` (see :func:`check_cache`), the fit is looked up in its
    cache first. The cache key (see :func:`~sftfusion._hashing.fit_key`) is the
    estimator's class and parameters (a hash of the unfitted estimator, nested
    estimators included) together with X, y and ``fit_params``, which hold the
    sample weights. The member's name is not part of it, and neither is whether
    X reaches a joblib worker as a memmap. A hit returns the fitted estimator
    loaded from the cache and leaves ``estimator`` unfitted. A FrozenEstimator
    is never fitted, so it is never cached.
    """
    if memory is None or isinstance(estimator, FrozenEstimator):
        call_member(name, estimator, "fit", X, y, **fit_params)
        return estimator
    try:
        key = fit_key(estimator, X, y, fit_params)
    except pickle.PicklingError as exc:
        raise ValueError(
            f"The {describe(name, estimator)} cannot be cached with 'memory', "
            f"because its parameters cannot be pickled: {exc}. Define the "
            "functions and classes it uses at module level, or set memory=None."
        ) from exc
    cached_fit = memory.cache(
        _fit_for_cache, ignore=["X", "y", "fit_params", "estimator", "name"]
    )
    fitted = cached_fit(key, X, y, fit_params, estimator, name)
    return pickle.loads(fitted) if isinstance(fitted, bytes) else fitted


def _fit_for_cache(key, X, y, fit_params, estimator, name):
    """Fit ``estimator`` and return it pickled; the function the member cache wraps.

    joblib keys its cache on the arguments it does not ignore, here only
    ``key``, the :func:`~sftfusion._hashing.fit_key` of the unfitted
    estimator, X, y and ``fit_params``. joblib.Memory and joblib's workers
    refer to this function by its module and name, so it must stay at module
    level.

    The fitted estimator is returned as ``pickle.dumps`` bytes because joblib
    reads its own format with the pure-Python unpickler. In a GridSearchCV over
    member subsets on the digits, loading 482 cached members took 34 s that way,
    70 ms each. C ``pickle.loads`` loads a 100-tree forest in about 9 ms.
    A fitted estimator that cannot be pickled is returned as it is, and joblib
    then warns that it cannot cache it.
    """
    call_member(name, estimator, "fit", X, y, **fit_params)
    try:
        return pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return estimator


def format_progress(source: str, message: str, seconds: float) -> str:
    """Return a progress line in scikit-learn's layout, dots padding it to 70 columns.

    For example ``[SFTClassifier] ....... (1 of 3) Processing lr, total=   0.1s``.
    The duration takes 7 characters, in seconds up to 60 s and in minutes above,
    as in the lines that scikit-learn's Pipeline and VotingClassifier print.
    """
    if seconds > 60:
        duration = f"{seconds / 60:4.1f}min"
    else:
        duration = f"{seconds:6.1f}s"
    head = f"[{source}] "
    tail = f" {message}, total={duration}"
    return head + "." * max(0, 70 - len(head) - len(tail)) + tail


def column_positions(name: str, estimator: object, classes: np.ndarray) -> np.ndarray:
    """Return, for each class of a fitted member, its column in ``classes``.

    Raises ValueError if the member has no ``classes_`` or predicts a class that
    is not in ``classes``.
    """
    member_classes = getattr(estimator, "classes_", None)
    if member_classes is None:
        raise ValueError(
            f"The {describe(name, estimator)} has no classes_ after fit, so its "
            "predict_proba columns cannot be matched to labels. Members must be "
            "classifiers that set classes_."
        )
    member_classes = np.asarray(member_classes)
    lookup = {label: column for column, label in enumerate(classes.tolist())}
    unknown = [label for label in member_classes.tolist() if label not in lookup]
    if unknown:
        raise ValueError(
            f"The {describe(name, estimator)} predicts classes {unknown!r} that are "
            f"not among the ensemble's classes_ {classes.tolist()!r}, the labels "
            "of the y passed to fit. Fit every member on labels from the same set; "
            "for a member wrapped in FrozenEstimator, pass a y that contains "
            "every class it was trained on."
        )
    return np.array([lookup[label] for label in member_classes.tolist()], dtype=np.intp)


def collect_probabilities(
    names, estimators, positions, X, n_classes, *, n_samples=None, first_row=0
):
    """Return the members' checked probabilities, stacked and aligned to ``classes_``.

    Parameters
    ----------
    names, estimators, positions : lists of the same length
        Each active member's name, fitted estimator and the column of each of its
        classes in ``classes_`` (see :func:`column_positions`).
    X : object
        Input rows, passed to every member's ``predict_proba`` unchanged.
    n_classes : int
        Number of classes of the ensemble.
    n_samples : int, default=None
        Number of rows every member must return. None takes the first member's.
    first_row : int, default=0
        Position of X's first row in the caller's input, which error messages
        add to the row numbers they report.

    Returns
    -------
    probas : ndarray of shape (n_members, n_samples, n_classes)
        Member ``i``'s probability of ``classes_[c]`` at ``probas[i, :, c]``;
        classes a member never saw get probability 0 from it. The dtype is
        float32 if every member returns float32 or a narrower float (as skorch
        nets do), and float64 otherwise, so float64 members keep their precision.
    """
    stacked = None
    for index, (name, estimator, columns) in enumerate(
        zip(names, estimators, positions, strict=True)
    ):
        aligned = member_probabilities(
            name, estimator, columns, X, n_classes, n_samples, first_row=first_row
        )
        if n_samples is None:
            n_samples = aligned.shape[0]

        dtype = np.float32 if aligned.dtype.itemsize <= 4 else np.float64
        if stacked is None:
            stacked = np.empty((len(names), n_samples, n_classes), dtype=dtype)
        elif np.dtype(dtype).itemsize > stacked.dtype.itemsize:
            # Only the members stored so far: the rest is uninitialised memory.
            wider = np.empty(stacked.shape, dtype=dtype)
            wider[:index] = stacked[:index]
            stacked = wider
        stacked[index] = aligned
    return stacked


def member_probabilities(
    name, estimator, columns, X, n_classes, n_samples=None, *, first_row=0
):
    """Return one member's checked probabilities of X, columns in ``classes_`` order.

    ``columns`` gives, for each of the member's classes, its column among the
    ``n_classes`` classes; the other columns are 0. ``n_samples``, if given, is
    the number of rows the output must have. ``first_row`` is the position of
    X's first row in the caller's input, which error messages add to the row
    numbers they report.
    """
    proba = call_member(name, estimator, "predict_proba", X)
    proba = _as_member_table(name, estimator, proba, len(columns))
    check_probabilities(
        proba,
        source=describe(name, estimator),
        n_samples=proba.shape[0] if n_samples is None else n_samples,
        n_columns=len(columns),
        first_row=first_row,
    )
    if len(columns) == n_classes and np.array_equal(columns, np.arange(n_classes)):
        return proba
    aligned = np.zeros((proba.shape[0], n_classes), dtype=proba.dtype)
    aligned[:, columns] = proba
    return aligned


def _as_member_table(name, estimator, proba, n_columns):
    """Convert one member's predict_proba output to a 2-D floating numpy array.

    Tensors and sparse matrices become dense arrays. A DataFrame's columns are
    taken by position if they are a RangeIndex, and by label if they are the
    member's classes_ in any order. A 1-D output of a binary member is read as
    the probability of its second class. Raises ValueError, naming the member,
    if the output is not numeric or has not one column per label of classes_.
    """
    if is_torch_tensor(proba):
        proba = proba.detach().cpu().numpy()
    elif sparse.issparse(proba):
        proba = proba.toarray()
    elif _is_dataframe(proba):
        proba = _dataframe_in_class_order(name, estimator, proba)
    try:
        proba = np.asarray(proba)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The {describe(name, estimator)} returned {type(proba).__name__} from "
            "predict_proba, which is not an array of numbers."
        ) from exc
    if proba.dtype.kind not in "fiub":
        raise ValueError(
            f"The {describe(name, estimator)} returned probabilities of dtype "
            f"{proba.dtype}; they must be numbers."
        )
    if proba.dtype.kind != "f":
        proba = proba.astype(np.float64)

    if proba.ndim == 1 and n_columns == 2:
        proba = np.column_stack([1 - proba, proba])
    if proba.ndim != 2 or proba.shape[1] != n_columns:
        labels = np.asarray(estimator.classes_).tolist()
        raise ValueError(
            f"The {describe(name, estimator)} returned predict_proba of shape "
            f"{proba.shape}, but its classes_ {labels!r} has {n_columns} labels. "
            "predict_proba must return one column per label of classes_, in that "
            "order (a 1-D array is read as the probability of classes_[1], for "
            "binary members only). Check the member's output size and classes_."
        )
    return proba


def _is_dataframe(table: object) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(table, pandas.DataFrame)


def _dataframe_in_class_order(name, estimator, frame):
    """Return a DataFrame's values with columns in the order of the member's classes_.

    Raises ValueError if the column labels are neither a RangeIndex, read by
    position, nor the labels of classes_.
    """
    pandas = sys.modules["pandas"]
    if isinstance(frame.columns, pandas.RangeIndex):
        return frame.to_numpy()

    labels = frame.columns.tolist()
    member_classes = np.asarray(estimator.classes_).tolist()
    same_labels = len(labels) == len(member_classes) and all(
        labels.count(label) == 1 for label in member_classes
    )
    if not same_labels:
        raise ValueError(
            f"The {describe(name, estimator)} returned a DataFrame with columns "
            f"{labels!r} from predict_proba, which are not the labels of its "
            f"classes_ {member_classes!r}. Name the columns after classes_, or "
            "return an array with the columns in classes_ order."
        )
    order = [labels.index(label) for label in member_classes]
    return frame.to_numpy()[:, order]


def active_estimators(estimators):
    """Return the estimators that are not ``"drop"``, or [] if the list is malformed."""
    try:
        return [
            estimator
            for _, estimator in estimators
            if not (isinstance(estimator, str) and estimator == DROP)
        ]
    except (TypeError, ValueError):
        return []
