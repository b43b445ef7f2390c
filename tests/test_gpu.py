"""Tests of the fusion on a CUDA device. They need CUDA and are skipped without it.

``make test`` deselects them with the ``gpu`` marker; ``benchmarks/gpu_check.sh``
runs them with ``pytest -m gpu``.
"""

import numpy as np
import pytest
import torch
from nets import tiny_net
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier, softmax_fusion
from sftfusion._backend import resolve_device, to_device, to_numpy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TEMPERATURES = [1e-12, 1e-8, 1e-3, 0.1, 1.0, 3.0, 1e8, float("inf")]
TOLERANCES = {np.float64: 1e-10, np.float32: 1e-5}


def random_probas(n_members=4, n_samples=2000, n_classes=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    probas = rng.dirichlet(np.full(n_classes, 0.5), size=(n_members, n_samples))
    probas[:, :5] = 0.0
    probas[:, :5, 0] = 1.0
    return probas.astype(dtype)


def iris_members():
    return [
        ("lr", LogisticRegression(max_iter=1000)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.0, 5.0]])
def test_gpu_fusion_matches_numpy(dtype, temperature, weights):
    probas = random_probas(seed=1, dtype=dtype)
    expected = softmax_fusion(probas, temperature=temperature, weights=weights)
    tensor = torch.from_numpy(probas).to("cuda")
    fused = softmax_fusion(tensor, temperature=temperature, weights=weights)
    assert fused.device.type == "cuda"
    assert np.allclose(fused.cpu().numpy(), expected, atol=TOLERANCES[dtype], rtol=0)


def test_gpu_fusion_many_blocks_match_numpy():
    # Three columns of 6 million rows is more than one CUDA block of 2**24 values.
    probas = random_probas(n_members=3, n_samples=6_000_000, n_classes=3, seed=2)
    probas = probas.astype(np.float32)
    expected = softmax_fusion(probas, temperature=0.2, check_input=False)
    fused = softmax_fusion(torch.from_numpy(probas).to("cuda"), temperature=0.2)
    assert np.allclose(fused.cpu().numpy(), expected, atol=1e-5, rtol=0)


def test_gpu_fusion_check_input_names_member():
    probas = random_probas(seed=3)
    probas[2, 17, 1] = np.inf
    tensor = torch.from_numpy(probas).to("cuda")
    with pytest.raises(ValueError, match=r"probas\[2\] contain NaN or infinite"):
        softmax_fusion(tensor)


def test_gpu_resolve_device_auto_and_index():
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    array = np.arange(6.0).reshape(2, 3)
    tensor = to_device(array, torch.device("cuda"))
    assert tensor.device.type == "cuda"
    assert np.array_equal(to_numpy(tensor), array)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto"])
@pytest.mark.parametrize("batch_size", [None, 40])
def test_gpu_classifier_matches_numpy(iris, device, batch_size):
    X, y = iris
    model = SFTClassifier(iris_members(), temperature=0.1, batch_size=batch_size)
    expected = model.fit(X, y).predict_proba(X)
    model.set_params(device=device)
    proba = model.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    assert np.allclose(proba, expected, atol=1e-10, rtol=0)
    assert np.array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


def test_gpu_skorch_member_and_fusion_on_one_gpu(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X).astype(np.float32)
    torch.manual_seed(0)
    # 128 rows per batch, skorch's default.
    net = tiny_net(module__hidden=16, batch_size=128, device="cuda")
    members = [("net", net), ("tree", DecisionTreeClassifier(max_depth=3))]
    model = SFTClassifier(members, device="cuda", batch_size=64).fit(X, y)
    assert model.named_estimators_["net"].device == "cuda"
    proba = model.predict_proba(X)
    expected = model.set_params(device=None).predict_proba(X)
    assert np.allclose(proba, expected, atol=1e-10, rtol=0)
    assert model.score(X, y) > 0.9


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("member_temperatures", [None, [0.5, 1.0, 2.0, 8.0]])
def test_gpu_pools_and_calibration_match_numpy(dtype, member_temperatures):
    probas = random_probas(seed=4, dtype=dtype)
    for pool in ("linear", "log"):
        options = {"temperature": 0.3, "pool": pool}
        options["member_temperatures"] = member_temperatures
        expected = softmax_fusion(probas, **options)
        fused = softmax_fusion(torch.from_numpy(probas).to("cuda"), **options)
        assert np.allclose(fused.cpu().numpy(), expected, atol=TOLERANCES[dtype])


def test_gpu_learned_fusion_matches_numpy(iris):
    X, y = iris
    params = {
        "temperature": "learn",
        "weights": "learn",
        "pool": "auto",
        "calibrate_members": True,
        "cv": 3,
    }
    on_numpy = SFTClassifier(iris_members(), **params).fit(X, y)
    on_gpu = SFTClassifier(iris_members(), device="cuda", **params).fit(X, y)
    assert on_gpu.pool_ == on_numpy.pool_
    assert on_gpu.temperature_ == pytest.approx(on_numpy.temperature_, rel=1e-5)
    assert np.allclose(on_gpu.weights_, on_numpy.weights_, atol=1e-5)
    assert np.allclose(on_gpu.predict_proba(X), on_numpy.predict_proba(X), atol=1e-6)
