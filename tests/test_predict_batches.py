"""Tests of SFTClassifier's predict path: row batches, torch devices and dtypes."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from nets import tiny_net
from scipy import sparse
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import sftfusion._classifier as classifier_module
from sftfusion import SFTClassifier, softmax_fusion
from sftfusion._fusion import fuse
from sftfusion._learning import fit_fusion

TEMPERATURES = [1e-8, 1e-3, 0.1, 1.0, 1e3, float("inf")]


def iris_members():
    """Members whose probabilities of a row do not depend on the other rows.

    LogisticRegression's do: a BLAS matrix product gives some rows a different
    last bit depending on how many rows it multiplies.
    """
    return [
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("deep", DecisionTreeClassifier(max_depth=6, random_state=1)),
    ]


def sparse_members():
    return [
        ("lr", LogisticRegression(max_iter=1000)),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


class RowCountingNB(GaussianNB):
    """GaussianNB that records how many rows each predict_proba call receives."""

    def predict_proba(self, X):
        self.rows_seen_ = [*getattr(self, "rows_seen_", []), len(X)]
        return super().predict_proba(X)


class DoubledRowNB(GaussianNB):
    """GaussianNB whose probabilities sum to 2 on rows whose first feature is 99."""

    def predict_proba(self, X):
        proba = super().predict_proba(X)
        proba[np.asarray(X)[:, 0] == 99.0] *= 2
        return proba


class Float32ForShortInputNB(GaussianNB):
    """GaussianNB that returns float32 probabilities for inputs of under 20 rows."""

    def predict_proba(self, X):
        proba = super().predict_proba(X)
        return proba.astype(np.float32) if len(X) < 20 else proba


def skorch_member(seed, device="cpu"):
    torch.manual_seed(seed)
    return tiny_net(module__hidden=16, device=device)


@pytest.fixture(scope="module")
def iris32(iris):
    X, y = iris
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted_nets(iris32):
    X, y = iris32
    return [skorch_member(seed).fit(X, y) for seed in (0, 1)]


@pytest.mark.parametrize("batch_size", [1, 7, 50, 149, 150, 10_000])
def test_batches_equal_unbatched_numpy(iris, batch_size):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=0.3).fit(X, y)
    expected_proba = model.predict_proba(X)
    expected_log = model.predict_log_proba(X)
    expected_labels = model.predict(X)
    model.set_params(batch_size=batch_size)
    assert np.array_equal(model.predict_proba(X), expected_proba)
    assert np.array_equal(model.predict_log_proba(X), expected_log)
    assert np.array_equal(model.predict(X), expected_labels)


def test_batches_close_to_unbatched_with_blas_member(iris):
    X, y = iris
    members = [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    model = SFTClassifier(members, temperature=0.3).fit(X, y)
    expected = model.predict_proba(X)
    proba = model.set_params(batch_size=1).predict_proba(X)
    assert np.allclose(proba, expected, atol=1e-14, rtol=0)


def test_batches_equal_unbatched_pandas_and_string_labels(iris_named):
    X, y = iris_named
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"], index=range(1000, 1150))
    model = SFTClassifier(iris_members(), temperature=0.1).fit(frame, y)
    expected_proba = model.predict_proba(frame)
    expected_labels = model.predict(frame)
    model.set_params(batch_size=32)
    assert np.array_equal(model.predict_proba(frame), expected_proba)
    labels = model.predict(frame)
    assert labels.dtype == expected_labels.dtype
    assert np.array_equal(labels, expected_labels)


@pytest.mark.parametrize("form", ["csr", "csc", "coo", "csr_array"])
def test_batches_equal_unbatched_sparse(iris, form):
    X, y = iris
    X_sparse = sparse.csr_array(X) if form == "csr_array" else sparse.csr_matrix(X)
    X_sparse = X_sparse.asformat(form.removesuffix("_array"))
    model = SFTClassifier(sparse_members()).fit(X_sparse, y)
    expected = model.predict_proba(X_sparse)
    model.set_params(batch_size=40)
    assert np.array_equal(model.predict_proba(X_sparse), expected)


def test_batches_equal_unbatched_raw_text():
    texts = [f"good film {index}" for index in range(30)] + [
        f"bad film {index}" for index in range(30)
    ]
    labels = ["pos"] * 30 + ["neg"] * 30
    members = [
        ("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression())),
        ("counts", make_pipeline(CountVectorizer(), MultinomialNB())),
    ]
    model = SFTClassifier(members, temperature=0.5).fit(texts, labels)
    expected_proba = model.predict_proba(texts)
    expected_labels = model.predict(texts)
    model.set_params(batch_size=8)
    assert np.array_equal(model.predict_proba(texts), expected_proba)
    assert np.array_equal(model.predict(texts), expected_labels)


def test_batches_reach_members_in_batch_sized_pieces(iris):
    X, y = iris
    model = SFTClassifier([("nb", RowCountingNB())], batch_size=64).fit(X, y)
    model.predict_proba(X)
    assert model.estimators_[0].rows_seen_ == [64, 64, 22]


def test_batches_error_reports_row_of_whole_input(iris):
    X, y = iris
    X = X.copy()
    X[7, 0] = 99.0
    members = [("lr", LogisticRegression(max_iter=1000)), ("bad", DoubledRowNB())]
    model = SFTClassifier(members, batch_size=5).fit(X, y)
    match = r"member 'bad' \(DoubledRowNB\) must sum to 1; row 7 sums to 2"
    with pytest.raises(ValueError, match=match):
        model.predict_proba(X)


def test_batches_later_wider_dtype_kept(iris):
    X, y = iris
    # The last batch of 10 rows comes back in float32, the others in float64.
    model = SFTClassifier([("nb", Float32ForShortInputNB())], batch_size=70).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.dtype == np.float64
    full = GaussianNB().fit(X, y).predict_proba(X)
    assert np.array_equal(proba[:140], full[:140])
    assert np.allclose(proba[140:], full[140:], atol=1e-6)


def test_batches_generator_input_rejected(iris):
    X, y = iris
    model = SFTClassifier(iris_members(), batch_size=10).fit(X, y)
    with pytest.raises(ValueError, match=r"'batch_size' parameter needs an X"):
        model.predict_proba(row for row in X)


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("weights", [None, [3, 0, 1]])
def test_device_cpu_matches_numpy_float64(iris, temperature, weights):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=temperature, weights=weights)
    expected = model.fit(X, y).predict_proba(X)
    proba = model.set_params(device="cpu", batch_size=64).predict_proba(X)
    assert isinstance(proba, np.ndarray)
    assert proba.dtype == np.float64
    assert np.allclose(proba, expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    "device, expected",
    [(None, np.ndarray), ("cpu", torch.Tensor), (torch.device("cpu"), torch.Tensor)],
)
def test_device_selects_fusion_array_type(iris, monkeypatch, device, expected):
    X, y = iris
    fused_types = []

    def recording_fuse(probas, **params):
        fused_types.append(type(probas))
        return fuse(probas, **params)

    monkeypatch.setattr(classifier_module, "fuse", recording_fuse)
    model = SFTClassifier(iris_members(), device=device).fit(X, y)
    model.predict_proba(X)
    assert len(fused_types) == 1
    assert issubclass(fused_types[0], expected)


@pytest.mark.parametrize("device", [None, "cpu"])
def test_device_reaches_learned_fusion(iris, monkeypatch, device):
    X, y = iris
    devices = []

    def recording_fit_fusion(*args, **params):
        devices.append(params["device"])
        return fit_fusion(*args, **params)

    monkeypatch.setattr(classifier_module, "fit_fusion", recording_fit_fusion)
    SFTClassifier(iris_members(), temperature="learn", device=device, cv=3).fit(X, y)
    expected = None if device is None else torch.device("cpu")
    assert devices == [expected]


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_float32_members_fused_in_float32(iris32, fitted_nets, temperature):
    X, y = iris32
    members = [
        (f"net{index}", FrozenEstimator(net)) for index, net in enumerate(fitted_nets)
    ]
    model = SFTClassifier(members, temperature=temperature).fit(X, y)
    outputs = np.stack([net.predict_proba(X) for net in fitted_nets])
    assert outputs.dtype == np.float32
    numpy_proba = model.predict_proba(X)
    assert numpy_proba.dtype == np.float32
    assert np.array_equal(numpy_proba, softmax_fusion(outputs, temperature=temperature))
    torch_proba = model.set_params(device="cpu").predict_proba(X)
    assert torch_proba.dtype == np.float32
    assert np.allclose(torch_proba, numpy_proba, atol=1e-5, rtol=0)


def test_mixed_float32_and_float64_members_fused_in_float64(iris32, fitted_nets):
    X, y = iris32
    # On float32 input GaussianNB and LogisticRegression return float32, but a
    # decision tree returns float64.
    members = [
        ("net", FrozenEstimator(fitted_nets[0])),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]
    model = SFTClassifier(members, temperature=0.2).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.dtype == np.float64
    outputs = np.stack(
        [member.predict_proba(X).astype(np.float64) for member in model.estimators_]
    )
    assert np.array_equal(proba, softmax_fusion(outputs, temperature=0.2))


def test_skorch_member_and_fusion_on_cpu_device(iris32):
    X, y = iris32
    members = [
        ("net", skorch_member(0, device="cpu")),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]
    model = SFTClassifier(members, device="cpu", batch_size=50).fit(X, y)
    assert model.named_estimators_["net"].device == "cpu"
    proba = model.predict_proba(X)
    # The same batches on the numpy path: the net's float32 output of a row can
    # change in the last bit with the rows around it, the fusion's cannot.
    expected = model.set_params(device=None).predict_proba(X)
    assert np.allclose(proba, expected, atol=1e-10, rtol=0)
    assert model.score(X, y) > 0.9


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "auto"])
def test_device_survives_clone_and_pickle(iris, device):
    X, y = iris
    model = SFTClassifier(iris_members(), device=device, batch_size=40).fit(X, y)
    assert clone(model).get_params()["device"] == device
    restored = pickle.loads(pickle.dumps(model))
    assert np.array_equal(restored.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "100"])
def test_invalid_batch_size_rejected_in_fit(iris, batch_size):
    X, y = iris
    match = r"'batch_size' parameter of SFTClassifier must be None or an int"
    with pytest.raises(ValueError, match=match):
        SFTClassifier(iris_members(), batch_size=batch_size).fit(X, y)


@pytest.mark.parametrize("method", ["predict_proba", "predict", "predict_log_proba"])
def test_invalid_batch_size_rejected_in_predict(iris, method):
    X, y = iris
    model = SFTClassifier(iris_members()).fit(X, y).set_params(batch_size=0)
    match = r"'batch_size' parameter must be None or an int >= 1; got 0"
    with pytest.raises(ValueError, match=match):
        getattr(model, method)(X)


@pytest.mark.parametrize("device", ["gpu", 0, "cuda:x"])
def test_invalid_device_rejected_in_fit_and_predict(iris, device):
    X, y = iris
    match = r"'device' parameter must be None, 'auto', 'cpu', 'cuda', 'cuda:N'"
    with pytest.raises(ValueError, match=match):
        SFTClassifier(iris_members(), device=device).fit(X, y)
    model = SFTClassifier(iris_members()).fit(X, y).set_params(device=device)
    with pytest.raises(ValueError, match=match):
        model.predict_proba(X)


def test_missing_cuda_device_rejected_in_fit_and_predict(iris):
    X, y = iris
    device = f"cuda:{torch.cuda.device_count()}"
    match = rf"'device' parameter is '{device}', but torch finds"
    with pytest.raises(ValueError, match=match):
        SFTClassifier(iris_members(), device=device).fit(X, y)
    model = SFTClassifier(iris_members()).fit(X, y).set_params(device=device)
    with pytest.raises(ValueError, match=match):
        model.predict(X)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the behaviour without CUDA"
)
def test_device_auto_without_cuda_uses_numpy(iris):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=0.4).fit(X, y)
    expected = model.predict_proba(X)
    proba = model.set_params(device="auto").predict_proba(X)
    assert np.array_equal(proba, expected)


@pytest.mark.parametrize("pool", ["linear", "log"])
def test_learned_fusion_batched_and_on_torch(iris, pool):
    X, y = iris
    model = SFTClassifier(
        iris_members(),
        temperature="learn",
        weights="learn",
        pool=pool,
        calibrate_members=True,
        cv=3,
    ).fit(X, y)
    expected = model.predict_proba(X)
    assert np.array_equal(model.set_params(batch_size=16).predict_proba(X), expected)
    proba = model.set_params(device="cpu").predict_proba(X)
    assert np.allclose(proba, expected, atol=1e-10, rtol=0)
