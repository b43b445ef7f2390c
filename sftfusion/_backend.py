"""Array-namespace helpers that let one kernel run on numpy arrays and torch tensors.

The fusion kernels only use operations whose spelling is the same in numpy and torch
(arithmetic operators, slicing, ``@``, and ``exp``, ``multiply``, ``maximum`` and
``divide`` with ``out=``). The few calls that differ live here. torch is never
imported by this module: a tensor can only exist if the caller imported torch.
"""

import sys
from types import ModuleType

import numpy as np


def is_torch_tensor(array: object) -> bool:
    """Tell whether ``array`` is a torch tensor, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(array, torch.Tensor)


def get_namespace(array: object) -> ModuleType:
    """Return the ``torch`` module for a tensor and ``numpy`` for anything else."""
    if is_torch_tensor(array):
        return sys.modules["torch"]
    return np


def empty(xp: ModuleType, shape: tuple[int, ...], like: object):
    """Allocate an uninitialised array with the dtype and device of ``like``."""
    if xp is np:
        return np.empty(shape, dtype=like.dtype)
    return xp.empty(shape, dtype=like.dtype, device=like.device)


def zeros(xp: ModuleType, shape: tuple[int, ...], like: object):
    """Allocate a zero-filled array with the dtype and device of ``like``."""
    if xp is np:
        return np.zeros(shape, dtype=like.dtype)
    return xp.zeros(shape, dtype=like.dtype, device=like.device)


def ones(xp: ModuleType, shape: tuple[int, ...], like: object):
    """Allocate an array of ones with the dtype and device of ``like``."""
    if xp is np:
        return np.ones(shape, dtype=like.dtype)
    return xp.ones(shape, dtype=like.dtype, device=like.device)


def copy(xp: ModuleType, array: object):
    """Return a copy of ``array`` on its own device."""
    if xp is np:
        return array.copy()
    return array.clone()


def finfo(xp: ModuleType, dtype) -> object:
    """Return the floating-point limits of ``dtype`` (``eps``, ``max``)."""
    return xp.finfo(dtype)


def row_max(xp: ModuleType, array: object):
    """Return the maximum of each row of a 2-D array, shape (n_rows, 1)."""
    if xp is np:
        return array.max(axis=1, keepdims=True)
    return array.amax(dim=1, keepdim=True)


def fill(xp: ModuleType, array: object, value: float) -> None:
    """Set every element of ``array`` to ``value`` in place."""
    if xp is np:
        array.fill(value)
    else:
        array.fill_(value)


def block_rows(xp: ModuleType, array: object, n_columns: int) -> int:
    """Return how many rows one kernel block should hold.

    On the CPU a block of about 32,768 values per member keeps the temporaries in
    the L2 cache, which measured fastest for numpy on a 2-core AMD EPYC. A CUDA
    device needs large blocks to amortise kernel launches.
    """
    if xp is not np and array.device.type != "cpu":
        return max(1, 2**24 // n_columns)
    return max(1, 2**15 // n_columns)
