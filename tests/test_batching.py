"""Tests of the row batching helpers on every input type that members accept."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from sftfusion._batching import (
    check_batch_size,
    count_rows,
    iter_row_batches,
    prepare_for_slicing,
    slice_rows,
)

DENSE = np.arange(30.0).reshape(10, 3)


def input_forms():
    """The same 10 x 3 table in each form that members accept, keyed by a name."""
    return {
        "list of rows": DENSE.tolist(),
        "tuple of str": tuple(f"text {index}" for index in range(10)),
        "ndarray": DENSE,
        "DataFrame": pd.DataFrame(DENSE, columns=["a", "b", "c"], index=range(5, 15)),
        "Series": pd.Series(DENSE[:, 0], index=range(100, 110)),
        "csr": sparse.csr_matrix(DENSE),
        "csc_array": sparse.csc_array(DENSE),
        "coo": sparse.coo_matrix(DENSE),
        "dok": sparse.dok_matrix(DENSE),
        "tensor": torch.from_numpy(DENSE),
        "dict": {"x": DENSE, "mask": np.arange(10)},
    }


def as_rows(X):
    """Return the rows of any input form as a comparable nested list."""
    if sparse.issparse(X):
        return X.toarray().tolist()
    if isinstance(X, dict):
        return [as_rows(value) for value in X.values()]
    if isinstance(X, torch.Tensor):
        return X.tolist()
    return np.asarray(X).tolist()


@pytest.mark.parametrize("batch_size", [None, 1, 7, np.int64(100_000)])
def test_check_batch_size_valid(batch_size):
    checked = check_batch_size(batch_size)
    assert checked == batch_size
    assert checked is None or type(checked) is int


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, 10.0, "10", True, [5]])
def test_check_batch_size_invalid_rejected(batch_size):
    match = r"'batch_size' parameter must be None or an int >= 1; got "
    with pytest.raises(ValueError, match=match):
        check_batch_size(batch_size)


@pytest.mark.parametrize("name", sorted(input_forms()))
def test_count_rows_every_form(name):
    assert count_rows(input_forms()[name]) == 10


def test_count_rows_array_like_without_length():
    class ArrayOnly:
        def __array__(self, dtype=None, copy=None):
            return DENSE

    X = prepare_for_slicing(ArrayOnly())
    assert count_rows(X) == 10
    assert np.array_equal(slice_rows(X, 2, 4), DENSE[2:4])


def test_count_rows_generator_rejected():
    rows = (text for text in ["a", "b"])
    match = r"'batch_size' parameter needs an X with a length .*got generator"
    with pytest.raises(ValueError, match=match):
        count_rows(rows)


def test_count_rows_empty_dict_rejected():
    with pytest.raises(ValueError, match=r"Cannot split an empty dict X"):
        count_rows({})


@pytest.mark.parametrize("name", sorted(input_forms()))
def test_slice_rows_every_form(name):
    X = prepare_for_slicing(input_forms()[name])
    part = slice_rows(X, 3, 7)
    assert count_rows(part) == 4
    full = as_rows(X)
    if name == "dict":
        assert as_rows(part) == [rows[3:7] for rows in full]
    else:
        assert as_rows(part) == full[3:7]
    if name not in ("list of rows", "tuple of str", "dict"):
        assert type(part) is type(X)


def test_slice_rows_pandas_keeps_index_labels():
    frame = input_forms()["DataFrame"]
    part = slice_rows(frame, 2, 4)
    assert part.index.tolist() == [7, 8]
    assert part.columns.tolist() == ["a", "b", "c"]


@pytest.mark.parametrize("form", ["coo", "bsr", "dia"])
def test_prepare_for_slicing_converts_sparse_to_csr(form):
    X = sparse.csr_matrix(DENSE).asformat(form)
    prepared = prepare_for_slicing(X)
    assert prepared.format == "csr"
    assert np.array_equal(prepared.toarray(), DENSE)


@pytest.mark.parametrize("name", ["csr", "csc_array", "ndarray", "DataFrame"])
def test_prepare_for_slicing_keeps_sliceable_input(name):
    X = input_forms()[name]
    assert prepare_for_slicing(X) is X


@pytest.mark.parametrize("batch_size", [1, 3, 4, 10, 11])
def test_iter_row_batches_covers_rows_once(batch_size):
    batches = list(iter_row_batches(DENSE, batch_size))
    starts = [start for start, _, _ in batches]
    assert starts == list(range(0, 10, batch_size))
    for start, stop, rows in batches:
        assert stop - start == min(batch_size, 10 - start)
        assert np.array_equal(rows, DENSE[start:stop])
    assert batches[-1][1] == 10
