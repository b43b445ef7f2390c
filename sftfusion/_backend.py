"""Array-namespace helpers that let one kernel run on numpy arrays and torch tensors.

The fusion kernels only use operations whose spelling is the same in numpy and torch
(arithmetic operators, slicing, ``@``, and ``exp``, ``multiply``, ``maximum`` and
``divide`` with ``out=``). The few calls that differ live here, with the
resolution of a ``device`` parameter and the moves between numpy and torch.
torch is imported only by :func:`resolve_device`; the other helpers meet a
tensor only if the caller imported torch.
"""

import math
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np

from sftfusion._compat import _openmp_effective_n_threads

# Minimum number of values (members x samples x classes) per thread.
# One thread fuses 2**21 float64 values in about 3 ms on an AMD EPYC core.
# NOTE: the threshold is an estimate. On the 2-core machine where the threads
# were written, other jobs kept both cores busy, so no speed-up could be timed.
_VALUES_PER_THREAD = 2**21

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


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


def row_sums(xp: ModuleType, array: object):
    """Return the sum of each row of a 2-D array, shape (n_rows,).

    A row's sum does not depend on the other rows of the call, so batched and
    unbatched predictions agree to the bit. A BLAS product with a vector of ones
    was faster but not so: with OpenBLAS 0.3.31 the last bit of some rows
    changed with the number of rows. numpy adds a few columns one by one, since
    ``einsum`` took ten times longer than that on two columns.
    """
    if xp is not np:
        return array.sum(dim=1)
    n_columns = array.shape[1]
    if n_columns > 4:
        return np.einsum("ij->i", array)
    totals = array[:, 0].copy()
    for column in range(1, n_columns):
        totals += array[:, column]
    return totals


def row_max(xp: ModuleType, array: object):
    """Return the maximum of each row of a 2-D array, shape (n_rows, 1)."""
    if xp is np:
        return array.max(axis=1, keepdims=True)
    return array.amax(dim=1, keepdim=True)


def floor(xp: ModuleType, array: object, minimum: float, out: object) -> None:
    """Write ``array`` with every element below ``minimum`` raised to it into ``out``.

    NaN stays NaN. torch's ``maximum`` takes no Python float, hence ``clamp``.
    """
    if xp is np:
        np.maximum(array, minimum, out=out)
    else:
        xp.clamp(array, min=minimum, out=out)


def fill(xp: ModuleType, array: object, value: float) -> None:
    """Set every element of ``array`` to ``value`` in place."""
    if xp is np:
        array.fill(value)
    else:
        array.fill_(value)


def block_rows(xp: ModuleType, array: object, n_columns: int) -> int:
    """Return how many rows one kernel block should hold.

    On the CPU a block of about 32,768 values per member keeps the temporaries in
    the L2 cache, which measured fastest for numpy on a 2-core AMD EPYC, and for
    torch on the CPU too (larger blocks were slower). A CUDA device needs large
    blocks to amortise kernel launches.

    NOTE: on CUDA each elementwise step is its own kernel that streams the
    block through device memory, about 15 reads and writes per input value
    for 5 members. That estimate puts the throughput near a tenth of the memory
    bandwidth, and only a fused kernel (torch.compile or Triton) would come near
    the bandwidth. No GPU run has measured it yet.
    """
    if xp is not np and array.device.type != "cpu":
        return max(1, 2**24 // n_columns)
    return max(1, 2**15 // n_columns)


def thread_row_ranges(
    xp: ModuleType, n_samples: int, n_values: int, rows: int
) -> list[tuple[int, int]]:
    """Split the rows into one contiguous ``(start, stop)`` range per thread.

    Ranges start at multiples of ``rows``, so the threads fuse the same blocks
    as one thread would. numpy gets as many threads as OpenMP code in
    scikit-learn would use (the CPUs available, or ``OMP_NUM_THREADS``) but
    none for fewer than ``_VALUES_PER_THREAD`` values each. torch gets one
    range, because it has its own threads.
    """
    n_blocks = math.ceil(n_samples / rows)
    n_threads = 1
    if xp is np:
        n_threads = min(
            _openmp_effective_n_threads(), n_values // _VALUES_PER_THREAD, n_blocks
        )
    if n_threads <= 1:
        return [(0, n_samples)]
    bounds = [
        min(n_samples, n_blocks * index // n_threads * rows)
        for index in range(n_threads + 1)
    ]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def run_row_ranges(function: Callable[[int, int], None], ranges) -> None:
    """Call ``function(start, stop)`` for each range, in threads if there are several.

    numpy releases the GIL inside its ufuncs, so the threads run in parallel.
    An exception in any call is raised here after all calls have finished.
    """
    if len(ranges) == 1:
        function(*ranges[0])
        return
    futures = [_thread_pool().submit(function, *bounds) for bounds in ranges]
    for future in futures:
        future.exception()
    for future in futures:
        future.result()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(thread_name_prefix="sftfusion")
        return _pool


def resolve_device(device: object):
    """Turn a ``device`` parameter into None (the numpy path) or a torch.device.

    ``device`` is None, ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
    ``torch.device`` of type cpu or cuda. ``"auto"`` gives the current CUDA
    device when torch finds one, and None otherwise. A CUDA device that torch
    does not find raises ValueError, so a model never moves to the CPU silently.
    torch is imported only when ``device`` is not None.
    """
    if device is None:
        return None
    import torch

    if isinstance(device, str) and device == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else None

    if isinstance(device, torch.device):
        resolved = device
    elif isinstance(device, str):
        try:
            resolved = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(_device_message(device)) from exc
    else:
        raise ValueError(_device_message(device))

    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(_device_message(device))
    _check_cuda_present(device, resolved, torch)
    return resolved


def _device_message(device: object) -> str:
    return (
        "The 'device' parameter must be None, 'auto', 'cpu', 'cuda', 'cuda:N' or "
        f"a torch.device of type cpu or cuda; got {device!r}."
    )


def _check_cuda_present(device: object, resolved, torch: ModuleType) -> None:
    """Raise ValueError if torch does not find the CUDA device ``resolved``."""
    if not torch.cuda.is_available():
        raise ValueError(
            f"The 'device' parameter is {device!r}, but torch finds no CUDA device "
            "(torch.cuda.is_available() is False). Use device=None for numpy, "
            "'cpu' for torch on the CPU, or 'auto' to use CUDA only when present."
        )
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(
            f"The 'device' parameter is {device!r}, but torch finds {count} CUDA "
            f"device(s), numbered 0 to {count - 1}. Pick one of those."
        )


def to_device(array, device):
    """Return ``array`` as a torch tensor on ``device``, or unchanged if it is None.

    A numpy array moved to the CPU shares its memory with the tensor.
    """
    if device is None:
        return array
    torch = sys.modules["torch"]
    return torch.as_tensor(array, device=device)


def to_numpy(array) -> np.ndarray:
    """Return ``array`` as a numpy array, copying a tensor to the CPU if needed."""
    if is_torch_tensor(array):
        return array.detach().cpu().numpy()
    return np.asarray(array)
