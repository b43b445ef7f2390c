"""Cache keys of member fits that are the same in every process.

A member fit may run in the main process or in a joblib worker (loky, dask),
and its cache key must not depend on which. joblib's hash differs in two ways
between them. Arrays larger than joblib's ``max_nbytes`` reach loky workers as
``numpy.memmap``, which joblib hashes apart from the equal ``ndarray``. Classes
and functions defined in the script that the user runs (module ``__main__``)
reach workers pickled by value, so that pickling them by name, as the hash
does, fails there. ``fit_key`` hashes memmaps as arrays and makes such objects
findable by name in the worker's ``__main__``. It also hashes torch tensors by
their values, which joblib's hash does not.
"""

import pickle
import sys
import types

# joblib.hashing is importable but not documented. joblib.hash is built on it.
from joblib.hashing import NumpyHasher

from sftfusion._backend import is_torch_tensor

# The objects that register_main_global added to this process's ``__main__``.
_REGISTERED_IN_MAIN: dict[str, object] = {}


def fit_key(estimator, X, y, fit_params) -> str:
    """Return the cache key of fitting the unfitted ``estimator`` on X and y.

    The key hashes the estimator (its class by name and its parameters, nested
    ones included) with X, y and ``fit_params``. It raises pickle.PicklingError
    if one of them cannot be pickled, for example a lambda among the
    estimator's parameters.
    """
    hasher = _KeyHasher(hash_name="md5", coerce_mmap=True)
    return hasher.hash((estimator, X, y, fit_params))


def register_main_global(obj, name=None) -> bool:
    """Make a class or function of ``__main__`` findable by name in this process.

    In a joblib worker, a class that the user's script defines arrives pickled
    by value and is missing from the worker's own ``__main__``, so neither the
    hash nor pickle can refer to it by name. Setting it there lets both write
    the same reference as in the main process. An attribute that the process
    defined itself is never replaced. Returns True if ``obj`` is now findable
    as ``__main__.<name>``.
    """
    if name is None:
        name = getattr(obj, "__qualname__", None)
    # Lambdas and local or nested definitions ("f.<locals>.g") have no name
    # that would identify them, so they stay unpicklable.
    if getattr(obj, "__module__", None) != "__main__" or not (
        isinstance(name, str) and name.isidentifier()
    ):
        return False
    main = sys.modules["__main__"]
    current = getattr(main, name, None)
    if current is not None and current is not _REGISTERED_IN_MAIN.get(name):
        return False
    setattr(main, name, obj)
    _REGISTERED_IN_MAIN[name] = obj
    return True


class _KeyHasher(NumpyHasher):
    """joblib's hasher, able to name the classes and functions of ``__main__``.

    It also hashes a torch tensor by its values. torch pickles a tensor's
    storage together with its memory address, so joblib's hash of two equal
    tensors differs, and a member fitted on a tensor, or with a tensor among its
    parameters, would never be found in the cache again.
    """

    def save(self, obj):
        if is_torch_tensor(obj) and obj.layout is sys.modules["torch"].strided:
            torch = sys.modules["torch"]
            flat = obj.detach().cpu().contiguous().reshape(-1)
            values = flat.view(torch.uint8).numpy()
            obj = (type(obj), str(obj.dtype), tuple(obj.shape), obj.device.type, values)
        super().save(obj)

    def save_global(self, obj, name=None, pack=None):
        try:
            pickle._Pickler.save_global(self, obj, name=name)
        except pickle.PicklingError:
            if not register_main_global(obj, name):
                raise
            pickle._Pickler.save_global(self, obj, name=name)

    # The pickler calls these entries directly, not through the method.
    dispatch = NumpyHasher.dispatch.copy()
    dispatch[types.BuiltinFunctionType] = save_global
    dispatch[type] = save_global
    dispatch[types.FunctionType] = save_global
