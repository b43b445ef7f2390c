"""scikit-learn classifiers built on torch and skorch, usable as fusion members.

``SequenceTransformerClassifier`` reads each row of a numeric table as a
sequence of feature tokens and classifies it with a Transformer encoder.
``TextTransformerClassifier`` fine-tunes a pretrained Hugging Face encoder on
raw strings, and ``FrozenEncoderClassifier`` fits a light head on the frozen
encoder's sentence embeddings (``SentenceEncoder``). The text members need the
``text`` extra, ``pip install "sftfusion[text]"``, which is imported only when
they are fitted.
"""

from sftfusion.models._encoder import (
    FrozenEncoderClassifier,
    SentenceEncoder,
    clear_encoder_cache,
)
from sftfusion.models._sequence import SequenceTransformerClassifier
from sftfusion.models._text import TextTransformerClassifier

__all__ = [
    "FrozenEncoderClassifier",
    "SentenceEncoder",
    "SequenceTransformerClassifier",
    "TextTransformerClassifier",
    "clear_encoder_cache",
]
