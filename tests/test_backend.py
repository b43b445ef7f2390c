"""Tests of device resolution, the moves between numpy and torch, and threads."""

import re

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from sftfusion import _backend
from sftfusion._backend import resolve_device, to_device, to_numpy

CUDA = torch.cuda.is_available()


def test_resolve_device_none_is_numpy_path():
    assert resolve_device(None) is None


@pytest.mark.parametrize("device", ["cpu", "cpu:0", torch.device("cpu")])
def test_resolve_device_cpu(device):
    assert resolve_device(device).type == "cpu"


@pytest.mark.skipif(CUDA, reason="checks the behaviour without CUDA")
def test_resolve_device_auto_without_cuda_is_numpy_path():
    assert resolve_device("auto") is None


@pytest.mark.skipif(CUDA, reason="checks the behaviour without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_resolve_device_cuda_missing_rejected(device):
    match = r"'device' parameter is .*cuda.*torch finds no CUDA device"
    with pytest.raises(ValueError, match=match):
        resolve_device(device)


def test_resolve_device_cuda_index_past_count_rejected():
    # One past the last device never exists, with or without CUDA.
    device = f"cuda:{torch.cuda.device_count()}"
    match = rf"'device' parameter is '{device}', but torch finds"
    with pytest.raises(ValueError, match=match):
        resolve_device(device)


@pytest.mark.parametrize(
    "device",
    ["gpu", "CUDA", "cuda:x", "cuda:-1", "", 0, 1.5, True, torch.device("meta")],
)
def test_resolve_device_invalid_rejected(device):
    match = r"'device' parameter must be None, 'auto', 'cpu', 'cuda', 'cuda:N'.*got "
    with pytest.raises(ValueError, match=match + re.escape(repr(device))):
        resolve_device(device)


def test_to_device_none_returns_array_itself():
    array = np.ones((2, 3))
    assert to_device(array, None) is array


def test_to_device_cpu_shares_memory():
    array = np.arange(6.0).reshape(2, 3)
    tensor = to_device(array, torch.device("cpu"))
    assert isinstance(tensor, torch.Tensor)
    assert tensor.dtype == torch.float64
    array[0, 0] = 42.0
    assert tensor[0, 0].item() == 42.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_numpy_round_trip(dtype):
    array = np.random.default_rng(0).random((4, 3)).astype(dtype)
    back = to_numpy(to_device(array, torch.device("cpu")))
    assert isinstance(back, np.ndarray)
    assert back.dtype == dtype
    assert np.array_equal(back, array)


def test_to_numpy_detaches_tensor_with_grad():
    tensor = torch.ones(2, 2, requires_grad=True) * 3
    assert np.array_equal(to_numpy(tensor), np.full((2, 2), 3.0, dtype=np.float32))


@pytest.mark.parametrize("n_threads", [2, 3, 4, 16])
@pytest.mark.parametrize("n_samples", [1, 999, 10_000, 10_001])
def test_thread_row_ranges_cover_rows_in_whole_blocks(
    monkeypatch, n_threads, n_samples
):
    monkeypatch.setattr(_backend, "_openmp_effective_n_threads", lambda: n_threads)
    monkeypatch.setattr(_backend, "_VALUES_PER_THREAD", 1)
    ranges = _backend.thread_row_ranges(np, n_samples, n_samples * 30, rows=1000)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == n_samples
    assert len(ranges) == min(n_threads, -(-n_samples // 1000))
    for (_, stop), (start, _) in zip(ranges[:-1], ranges[1:], strict=True):
        assert stop == start
        assert start % 1000 == 0
    for start, stop in ranges:
        assert stop > start


def test_thread_row_ranges_limited_by_input_size(monkeypatch):
    monkeypatch.setattr(_backend, "_openmp_effective_n_threads", lambda: 8)
    per_thread = _backend._VALUES_PER_THREAD
    assert len(_backend.thread_row_ranges(np, 10**6, 3 * per_thread - 1, 1000)) == 2
    assert len(_backend.thread_row_ranges(np, 10**6, per_thread - 1, 1000)) == 1


def test_thread_row_ranges_torch_one_range(monkeypatch):
    monkeypatch.setattr(_backend, "_openmp_effective_n_threads", lambda: 8)
    ranges = _backend.thread_row_ranges(torch, 10**7, 10**9, rows=1000)
    assert ranges == [(0, 10**7)]


def test_thread_row_ranges_follow_openmp_limit():
    n_values = 100 * _backend._VALUES_PER_THREAD
    with threadpool_limits(1, user_api="openmp"):
        assert _backend.thread_row_ranges(np, 10**6, n_values, 1000) == [(0, 10**6)]


def test_run_row_ranges_raises_after_all_calls():
    calls = []

    def record(start, stop):
        calls.append(start)
        if start == 10:
            raise ValueError(f"rows {start} to {stop} failed")

    ranges = [(0, 10), (10, 20), (20, 30)]
    with pytest.raises(ValueError, match="rows 10 to 20 failed"):
        _backend.run_row_ranges(record, ranges)
    assert sorted(calls) == [0, 10, 20]


@pytest.mark.parametrize("xp", [np, torch])
def test_floor_raises_small_values_keeps_nan(xp):
    values = np.array([0.0, 1e-20, 0.5, np.nan])
    array = values if xp is np else torch.from_numpy(values)
    out = _backend.empty(xp, (4,), like=array)
    _backend.floor(xp, array, 1e-12, out)
    result = to_numpy(out)
    assert result[:3].tolist() == [1e-12, 1e-12, 0.5]
    assert np.isnan(result[3])
