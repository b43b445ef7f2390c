"""Row batching of estimator inputs, so that prediction memory follows the batch size.

Members receive X in whatever form the caller passed it: a list of strings, a numpy
array, a pandas DataFrame or Series, a scipy sparse matrix, a torch tensor or a
dict of such arrays (skorch accepts dicts). These helpers count and slice rows of
all of them without copying more than one batch.
"""

from collections.abc import Iterator
from numbers import Integral

import numpy as np
from scipy import sparse

# Sparse formats that cannot slice rows. They are converted to CSR once, before
# batching, which copies the stored values.
_UNSLICEABLE_SPARSE_FORMATS = {"coo", "bsr", "dia"}


def check_batch_size(batch_size: object) -> int | None:
    """Return ``batch_size`` as an int, or None, raising ValueError if it is invalid."""
    if batch_size is None:
        return None
    if isinstance(batch_size, Integral) and not isinstance(batch_size, bool):
        if batch_size >= 1:
            return int(batch_size)
    raise ValueError(
        "The 'batch_size' parameter must be None or an int >= 1; got "
        f"{batch_size!r}. Use None to predict all rows at once."
    )


def count_rows(X: object) -> int:
    """Return the number of rows (samples) of ``X``.

    Raises ValueError if ``X`` has neither a shape nor a length, for example a
    generator, because such an input cannot be split into batches.
    """
    if _is_dict_of_arrays(X):
        if not X:
            raise ValueError("Cannot split an empty dict X into row batches.")
        return count_rows(next(iter(X.values())))
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(X)
    except TypeError as exc:
        raise ValueError(
            "The 'batch_size' parameter needs an X with a length and row slicing "
            f"(a list, array, DataFrame or sparse matrix); got {type(X).__name__}. "
            "Pass such an X, or set batch_size=None."
        ) from exc


def prepare_for_slicing(X: object) -> object:
    """Return ``X`` in a form whose rows :func:`slice_rows` can take.

    Sparse matrices in COO, BSR or DIA format are converted to CSR, and an
    object that has neither a shape nor a length but converts to a numpy array
    (it defines ``__array__``) is converted to one. Anything else is returned
    unchanged.
    """
    if sparse.issparse(X) and X.format in _UNSLICEABLE_SPARSE_FORMATS:
        return X.tocsr()
    if (
        not hasattr(X, "shape")
        and not hasattr(X, "__len__")
        and hasattr(X, "__array__")
    ):
        return np.asarray(X)
    return X


def slice_rows(X: object, start: int, stop: int) -> object:
    """Return rows ``start`` to ``stop`` (excluded) of ``X``, of the same type.

    numpy arrays, pandas objects, sparse matrices and tensors give views where
    their library allows; lists and tuples give a shallow copy of the slice.
    """
    if _is_dict_of_arrays(X):
        return {key: slice_rows(value, start, stop) for key, value in X.items()}
    if hasattr(X, "iloc"):
        return X.iloc[start:stop]
    return X[start:stop]


def _is_dict_of_arrays(X: object) -> bool:
    # scipy's DOK matrices are dicts too.
    return isinstance(X, dict) and not sparse.issparse(X)


def iter_row_batches(X: object, batch_size: int) -> Iterator[tuple[int, int, object]]:
    """Yield ``(start, stop, rows)`` for consecutive batches of ``batch_size`` rows.

    The last batch may be shorter. ``X`` must have been passed through
    :func:`prepare_for_slicing`.
    """
    n_samples = count_rows(X)
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        yield start, stop, slice_rows(X, start, stop)
