"""Private scikit-learn names that sftfusion relies on, imported in one place.

scikit-learn does not promise that these stay where they are. Keeping every such
import here means a scikit-learn release that moves one breaks a single module.
"""

from inspect import signature

from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.metaestimators import _BaseComposition

try:
    from sklearn.utils._repr_html.estimator import _VisualBlock
except ImportError:  # scikit-learn < 1.7 kept the HTML repr in another module
    from sklearn.utils._estimator_html_repr import _VisualBlock


def scorer_accepts_sample_weight(scorer) -> bool:
    """Tell whether a scorer from ``check_scoring`` takes ``sample_weight``.

    The scorers of scikit-learn 1.9 report it with their private
    ``_accept_sample_weight`` method. For a plain callable, its signature decides.
    """
    accepts = getattr(scorer, "_accept_sample_weight", None)
    if accepts is not None:
        return bool(accepts())
    return "sample_weight" in signature(scorer).parameters


__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_BaseComposition",
    "_VisualBlock",
    "_fit_context",
    "_openmp_effective_n_threads",
    "_safe_indexing",
    "scorer_accepts_sample_weight",
]
