"""Tests of the parts that the member classifiers of sftfusion.models share."""

import pytest
from sklearn.exceptions import NotFittedError

from sftfusion.models import (
    FrozenEncoderClassifier,
    SentenceEncoder,
    SequenceTransformerClassifier,
    TextTransformerClassifier,
)

TEXT_ESTIMATORS = [TextTransformerClassifier, FrozenEncoderClassifier, SentenceEncoder]


@pytest.mark.parametrize("estimator_class", TEXT_ESTIMATORS)
def test_text_estimator_tags(estimator_class):
    tags = estimator_class().__sklearn_tags__()

    assert tags.input_tags.string
    assert not tags.input_tags.two_d_array


def test_sentence_encoder_tags_require_fit():
    assert SentenceEncoder().__sklearn_tags__().requires_fit


@pytest.mark.parametrize(
    ("estimator", "X"),
    [
        (SequenceTransformerClassifier(), [[0.0, 1.0], [1.0, 0.0]]),
        (TextTransformerClassifier(), ["good phone", "bad phone"]),
        (FrozenEncoderClassifier(), ["good phone", "bad phone"]),
    ],
)
def test_predict_unfitted_raises_not_fitted(estimator, X):
    with pytest.raises(NotFittedError, match=r"is not fitted yet"):
        estimator.predict(X)
