"""Tests of saving and loading fitted ensembles with pickle, joblib and skops."""

import pickle

import joblib
import numpy as np
import pytest
import skops.io as sio
import torch
from nets import scaled_float32, tiny_net
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sftfusion import SFTClassifier
from sftfusion.models import SequenceTransformerClassifier
from sftfusion.persistence import trusted_types

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# The member types that a user reviews and adds to trusted_types() before
# loading. skops does not trust tree models by default because their node
# indices are used without bounds checks.
REVIEWED_TREE_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]
REVIEWED_SKORCH_NET_TYPES = ["nets.TinyMLP", "torch.optim.adam.Adam"]


def small_transformer():
    return SequenceTransformerClassifier(
        d_model=8,
        nhead=2,
        num_layers=1,
        dim_feedforward=8,
        max_epochs=2,
        random_state=0,
    )


def sklearn_ensemble():
    return SFTClassifier(
        [
            ("lr", make_pipeline(StandardScaler(), LogisticRegression())),
            ("off", "drop"),
            ("forest", RandomForestClassifier(n_estimators=5, random_state=0)),
            ("hgb", HistGradientBoostingClassifier(max_iter=5)),
        ],
        temperature=0.3,
        weights=[1, 1, 2, 1],
    )


def skorch_ensemble():
    return SFTClassifier([("net", tiny_net(max_epochs=3)), ("nb", GaussianNB())])


def transformer_ensemble():
    return SFTClassifier([("transformer", small_transformer()), ("nb", GaussianNB())])


# Model, whether its members take string labels, and the reviewed types.
MODELS = {
    "sklearn": (sklearn_ensemble, True, REVIEWED_TREE_TYPES),
    # skorch's NeuralNetClassifier needs labels 0 to n_classes - 1.
    "skorch": (skorch_ensemble, False, REVIEWED_SKORCH_NET_TYPES),
    "transformer": (transformer_ensemble, True, []),
}


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, iris, iris_named):
    build, string_labels, reviewed = MODELS[request.param]
    X, y = iris_named if string_labels else iris
    X = scaled_float32(X)
    torch.manual_seed(0)
    return build().fit(X, y), X, reviewed


def skops_round_trip(model, path, reviewed):
    sio.dump(model, path)
    return sio.load(path, trusted=trusted_types() + reviewed)


ROUND_TRIPS = {
    "pickle": lambda model, path, reviewed: pickle.loads(pickle.dumps(model)),
    "joblib": lambda model, path, reviewed: (
        joblib.dump(model, path),
        joblib.load(path),
    )[1],
    "skops": skops_round_trip,
}


@pytest.mark.parametrize("method", list(ROUND_TRIPS))
def test_persistence_round_trip_bit_identical(fitted, method, tmp_path):
    model, X, reviewed = fitted
    restored = ROUND_TRIPS[method](model, tmp_path / "model", reviewed)
    assert restored is not model
    assert np.array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(restored.predict(X), model.predict(X))
    assert restored.classes_.tolist() == model.classes_.tolist()
    assert list(restored.named_estimators_) == list(model.named_estimators_)


def test_persistence_skops_untrusted_types_listed(fitted):
    model, _, reviewed = fitted
    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    assert sorted(set(untrusted) - set(trusted_types())) == sorted(reviewed)


def test_persistence_skops_requires_trust(iris):
    X, y = iris
    data = sio.dumps(SFTClassifier([("nb", GaussianNB())]).fit(X, y))
    with pytest.raises(
        sio.exceptions.UntrustedTypesFoundException,
        match=r"sftfusion\._classifier\.SFTClassifier",
    ):
        sio.loads(data)


def test_persistence_trusted_types_all_needed(iris):
    # Every listed type appears in the file of a fitted ensemble, of one that
    # keeps its fold models, or of a fitted SequenceTransformerClassifier, so
    # the list trusts nothing extra.
    X, y = iris
    X = X.astype(np.float32)
    ensemble = SFTClassifier([("nb", GaussianNB())]).fit(X, y)
    folds = SFTClassifier([("nb", GaussianNB())], weights="learn", refit=False)
    folds.fit(X, y)
    transformer = small_transformer().fit(X, y)
    needed = set()
    for model in (ensemble, folds, transformer):
        needed.update(sio.get_untrusted_types(data=sio.dumps(model)))
    assert sorted(needed) == sorted(trusted_types())
