"""scikit-learn classifiers built on torch and skorch, usable as fusion members.

``SequenceTransformerClassifier`` reads each row of a numeric table as a
sequence of feature tokens and classifies it with a Transformer encoder.
"""

from sftfusion.models._sequence import SequenceTransformerClassifier

__all__ = ["SequenceTransformerClassifier"]
