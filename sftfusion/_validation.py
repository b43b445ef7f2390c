"""Checks of the inputs, the fusion parameters and the member probabilities.

``softmax_fusion``, ``SFTClassifier`` and ``MemberSearchCV`` share these checks,
so that a bad temperature, weight vector, target or probability array gets the
same message from each of them.
"""

import math
from numbers import Real
from types import ModuleType

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import assert_all_finite, column_or_1d

from sftfusion import _backend
from sftfusion._backend import finfo, get_namespace


def check_temperature(temperature: object) -> float:
    """Return ``temperature`` as a float, raising ValueError unless it is in (0, inf].

    ``float("inf")`` is valid: it turns softmax fusion into weighted soft voting.
    """
    valid = (
        isinstance(temperature, Real)
        and not isinstance(temperature, bool)
        and not math.isnan(temperature)
        and temperature > 0
    )
    if not valid:
        raise ValueError(
            "The 'temperature' parameter must be a positive float or "
            f"float('inf'); got {temperature!r}. Use 1.0 for the plain softmax "
            "fusion, or float('inf') for weighted soft voting."
        )
    return float(temperature)


def check_pool(pool: object) -> str:
    """Return ``pool`` unchanged, raising ValueError unless it is "linear" or "log"."""
    if pool not in ("linear", "log"):
        raise ValueError(
            f"The 'pool' parameter must be 'linear' or 'log'; got {pool!r}."
        )
    return pool


def check_member_temperatures(values: object, n_members: int) -> np.ndarray:
    """Return per-member temperatures as floats, raising ValueError if invalid.

    There must be one per member, each positive and finite.
    """
    try:
        temperatures = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "The 'member_temperatures' parameter must be an array of numbers; "
            f"got {values!r}."
        ) from exc
    if temperatures.shape != (n_members,):
        raise ValueError(
            "The 'member_temperatures' parameter must contain one temperature per "
            f"member ({n_members}); got {values!r} with shape {temperatures.shape}."
        )
    if not np.all(np.isfinite(temperatures) & (temperatures > 0)):
        raise ValueError(
            "The 'member_temperatures' parameter must contain positive, finite "
            f"numbers; got {values!r}."
        )
    return temperatures


def check_weights(weights: object, n_entries: int, active: list[int]) -> np.ndarray:
    """Return the prior weights of the ``active`` entries, normalised to sum to 1.

    Parameters
    ----------
    weights : array-like of shape (n_entries,) or None
        One non-negative weight per entry, dropped entries included. None means
        uniform weights.
    n_entries : int
        Number of entries that ``weights`` must cover.
    active : list of int
        Indices of the entries that take part in the fusion.

    Returns
    -------
    prior : ndarray of shape (len(active),)
        The weights of the active entries divided by their sum.
    """
    if weights is None:
        return np.full(len(active), 1.0 / len(active))

    try:
        values = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The 'weights' parameter must be an array of numbers; got {weights!r}."
        ) from exc
    if values.ndim != 1 or values.shape[0] != n_entries:
        raise ValueError(
            f"The 'weights' parameter must contain one weight per entry "
            f"({n_entries} entries, dropped ones included); got {weights!r} "
            f"with shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"The 'weights' parameter must contain finite numbers; got {weights!r}."
        )
    if np.any(values < 0):
        raise ValueError(
            f"The 'weights' parameter must be non-negative; got {weights!r}."
        )

    selected = values[active]
    total = selected.sum()
    if total <= 0:
        raise ValueError(
            "The 'weights' parameter must give at least one active member a "
            f"positive weight; got {weights!r}, whose active entries are "
            f"{selected.tolist()!r}."
        )
    return selected / total


def check_sortable_labels(labels: np.ndarray) -> None:
    """Raise ValueError if the labels cannot be sorted into ``classes_``.

    An object array that mixes strings and numbers (or None) has no order, and
    numpy's sort fails on it with a bare TypeError.
    """
    if labels.dtype.kind != "O":
        return
    try:
        np.unique(labels)
    except TypeError as exc:
        kinds = sorted({type(label).__name__ for label in labels.tolist()})
        raise ValueError(
            "The labels in y must be of one kind that can be sorted, all strings "
            f"or all numbers; got a mix of the types {kinds!r}. Convert y first, "
            "for example with numpy.asarray(y).astype(str)."
        ) from exc


def row_sum_tolerance(eps: float) -> float:
    """Return how far a row of probabilities may sum from 1, given the dtype's eps.

    It is 1e-4 for float32 and float64, and wider for float16, whose rounding
    alone moves a sum by more than that.
    """
    return max(1e-4, 50.0 * eps)


def check_probabilities(
    proba,
    *,
    source: str,
    n_samples: int,
    n_columns: int,
    first_row: int = 0,
    tolerance: float | None = None,
):
    """Raise ValueError unless ``proba`` is an (n_samples, n_columns) probability table.

    The table must be finite and non-negative, and each row must sum to 1 within
    ``tolerance``, by default :func:`row_sum_tolerance` of the table's dtype.
    ``source`` names the producer in the message, for example ``"member 'lr'
    (LogisticRegression)"``, and ``first_row`` is added to the row numbers in
    messages, for a table that is one batch of a larger input. numpy arrays and
    torch tensors are both accepted.

    The values are read once, in cache-sized row blocks (see
    :func:`block_is_valid`). Only a table that fails is read again, to find the
    first problem for the message.
    """
    check_table_shape(proba, source=source, n_samples=n_samples, n_columns=n_columns)
    if n_samples == 0:
        return

    xp = get_namespace(proba)
    if tolerance is None:
        tolerance = row_sum_tolerance(float(finfo(xp, proba.dtype).eps))
    ones = _backend.ones(xp, (n_columns,), like=proba)
    rows = _backend.block_rows(xp, proba, n_columns)
    for start in range(0, n_samples, rows):
        if not block_is_valid(xp, proba[start : start + rows], ones, tolerance):
            raise_first_problem(
                proba, source=source, first_row=first_row, tolerance=tolerance
            )


def check_table_shape(proba, *, source: str, n_samples: int, n_columns: int):
    """Raise ValueError unless ``proba`` has shape (n_samples, n_columns)."""
    shape = tuple(proba.shape)
    if len(shape) != 2:
        raise ValueError(
            f"The probabilities of {source} must be a 2-D array of shape "
            f"(n_samples, n_classes) = ({n_samples}, {n_columns}); got an array "
            f"of shape {shape}."
        )
    if shape != (n_samples, n_columns):
        raise ValueError(
            f"The probabilities of {source} must have shape ({n_samples}, "
            f"{n_columns}), one column per class the member knows; got {shape}."
        )


def block_is_valid(xp: ModuleType, block, ones, tolerance: float) -> bool:
    """Tell whether a 2-D block is finite, non-negative, with rows summing to 1.

    It takes two passes over the block, which stays in the cache between them:
    the row sums as a product with ``ones`` and the minimum. A NaN or infinity
    anywhere in a row makes the row's sum non-finite, so the sums catch them.
    """
    if block.shape[0] == 0:
        return True
    deviation = xp.abs(block @ ones - 1)
    # Written so that a NaN in either reduction makes the result False.
    return bool((deviation.max() <= tolerance) & (block.min() >= 0))


def raise_first_problem(
    proba, *, source: str, first_row: int = 0, tolerance: float | None = None
) -> None:
    """Raise ValueError describing the first problem of a 2-D probability table.

    The arguments are those of :func:`check_probabilities`. A table whose only
    fault is a row sum just past the tolerance, where the block check and this
    one round differently, passes without an error.
    """
    xp = get_namespace(proba)
    if not bool(xp.all(xp.isfinite(proba))):
        raise ValueError(
            f"The probabilities of {source} contain NaN or infinite values. Check "
            "the member's input and training, or drop the member."
        )
    smallest = float(proba.min())
    if smallest < 0:
        raise ValueError(
            f"The probabilities of {source} contain negative values (minimum "
            f"{smallest!r}). The member may return scores or logits: wrap it in "
            "sklearn.calibration.CalibratedClassifierCV, or apply a softmax."
        )
    deviation = xp.abs(proba.sum(-1) - 1)
    worst = int(deviation.argmax())
    if tolerance is None:
        tolerance = row_sum_tolerance(float(finfo(xp, proba.dtype).eps))
    if float(deviation[worst]) > tolerance:
        raise ValueError(
            f"The rows of the probabilities of {source} must sum to 1; row "
            f"{first_row + worst} sums to {float(proba[worst].sum())!r}. The member "
            "may return scores or logits: wrap it in "
            "sklearn.calibration.CalibratedClassifierCV, or apply a softmax."
        )


def is_learn(value):
    """Tell whether a parameter value is the string ``"learn"``."""
    return isinstance(value, str) and value == "learn"


def check_sample_weight(sample_weight, n_samples):
    """Return ``sample_weight`` as a float array of shape (n_samples,), or None.

    A scalar weight applies to every sample.
    """
    if sample_weight is None:
        return None
    try:
        weight = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"sample_weight must contain numbers; got {sample_weight!r}."
        ) from exc
    if weight.ndim == 0:
        weight = np.full(n_samples, float(weight))
    if weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample; "
            f"got shape {weight.shape}."
        )
    if not np.all(np.isfinite(weight)):
        raise ValueError("sample_weight must contain finite numbers; got NaN or inf.")
    return weight


def check_targets(y, estimator_name="SFTClassifier"):
    """Check y and return its labels as a 1-D array and the y to give the members.

    Members get y as passed, unless it is a column vector, which they get raveled
    (with scikit-learn's DataConversionWarning). ``estimator_name`` names the
    estimator in the message for a missing y.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    labels = column_or_1d(y, warn=True)
    assert_all_finite(labels, input_name="y")
    check_sortable_labels(labels)
    check_classification_targets(labels)
    y_for_members = y if np.asarray(y).ndim == 1 else labels
    return labels, y_for_members
