"""Tests of softmax_fusion on torch tensors on the CPU, against the numpy path."""

import numpy as np
import pytest
import torch

from sftfusion import softmax_fusion

TEMPERATURES = [1e-12, 1e-8, 1e-6, 1e-3, 0.01, 0.1, 0.5, 1.0, 3.0, 1e3, 1e8]
TEMPERATURES += [float("inf")]
TOLERANCES = {np.float64: 1e-10, np.float32: 1e-5}


def random_probas(n_members=4, n_samples=500, n_classes=6, seed=0, dtype=np.float64):
    """Draw member probability tables from a Dirichlet distribution.

    The first rows hold exact zeros and ones, the hardest inputs for the softmax.
    """
    rng = np.random.default_rng(seed)
    probas = rng.dirichlet(np.full(n_classes, 0.5), size=(n_members, n_samples))
    probas[:, :5] = 0.0
    probas[:, :5, 0] = 1.0
    if n_members > 1:
        probas[1, 5:10] = 0.0
        probas[1, 5:10, 1] = 1.0
    return probas.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.0, 5.0], [1, 1e-300, 1, 2]])
def test_torch_cpu_matches_numpy(dtype, temperature, weights):
    probas = random_probas(seed=1, dtype=dtype)
    expected = softmax_fusion(probas, temperature=temperature, weights=weights)
    fused = softmax_fusion(
        torch.from_numpy(probas), temperature=temperature, weights=weights
    )
    assert isinstance(fused, torch.Tensor)
    assert fused.dtype == torch.from_numpy(probas).dtype
    assert torch.isfinite(fused).all()
    assert np.allclose(fused.numpy(), expected, atol=TOLERANCES[dtype], rtol=0)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_torch_cpu_float32_close_to_numpy_float64(temperature):
    probas = random_probas(seed=2)
    expected = softmax_fusion(probas, temperature=temperature)
    fused = softmax_fusion(
        torch.from_numpy(probas.astype(np.float32)), temperature=temperature
    )
    assert np.allclose(fused.numpy(), expected, atol=1e-5, rtol=0)


def test_torch_cpu_many_blocks_match_numpy():
    probas = random_probas(n_members=3, n_samples=70_001, n_classes=3, seed=3)
    expected = softmax_fusion(probas, temperature=0.05)
    fused = softmax_fusion(torch.from_numpy(probas), temperature=0.05)
    assert np.allclose(fused.numpy(), expected, atol=1e-10, rtol=0)


def test_torch_cpu_check_input_names_member_and_row():
    probas = random_probas(seed=4)
    probas[2, 321, 0] = np.nan
    with pytest.raises(ValueError, match=r"probabilities of probas\[2\] contain NaN"):
        softmax_fusion(torch.from_numpy(probas))
    probas = random_probas(seed=4)
    probas[0, 123] *= 3
    match = r"probas\[0\] must sum to 1; row 123 sums to 3"
    with pytest.raises(ValueError, match=match):
        softmax_fusion(torch.from_numpy(probas))


def test_torch_cpu_single_member_returned_as_copy():
    probas = torch.from_numpy(random_probas(n_members=1, seed=5))
    fused = softmax_fusion(probas, temperature=0.2)
    assert torch.equal(fused, probas[0])
    assert fused.data_ptr() != probas[0].data_ptr()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", [1e-8, 0.1, 1.0, float("inf")])
@pytest.mark.parametrize("member_temperatures", [None, [0.5, 1.0, 2.0, 8.0]])
def test_torch_cpu_pools_and_calibration_match_numpy(
    dtype, temperature, member_temperatures
):
    probas = random_probas(seed=6, dtype=dtype)
    for pool in ("linear", "log"):
        options = {
            "temperature": temperature,
            "weights": [1, 2, 3, 4],
            "pool": pool,
            "member_temperatures": member_temperatures,
        }
        expected = softmax_fusion(probas, **options)
        fused = softmax_fusion(torch.from_numpy(probas), **options)
        assert torch.isfinite(fused).all()
        assert np.allclose(fused.numpy(), expected, atol=TOLERANCES[dtype], rtol=0)
