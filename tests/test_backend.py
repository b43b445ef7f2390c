"""Tests of device resolution and of the moves between numpy and torch."""

import re

import numpy as np
import pytest
import torch

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
    match = r"'device' parameter is .*cuda.*torch sees no CUDA device"
    with pytest.raises(ValueError, match=match):
        resolve_device(device)


def test_resolve_device_cuda_index_past_count_rejected():
    # One past the last device never exists, with or without CUDA.
    device = f"cuda:{torch.cuda.device_count()}"
    match = rf"'device' parameter is '{device}', but torch sees"
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
