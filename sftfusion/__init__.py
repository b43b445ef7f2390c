"""Softmax fusion of heterogeneous classifiers, as a scikit-learn meta-estimator."""

from sftfusion._classifier import SFTClassifier
from sftfusion._fusion import softmax_fusion
from sftfusion._search import MemberSearchCV

__version__ = "0.1.0.dev0"

__all__ = ["MemberSearchCV", "SFTClassifier", "__version__", "softmax_fusion"]
