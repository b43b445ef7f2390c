"""Private scikit-learn names that sftfusion relies on, imported in one place.

scikit-learn does not promise that these stay where they are. Keeping every such
import here means a scikit-learn release that moves one breaks a single module.
"""

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
]
