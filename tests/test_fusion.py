"""Tests of softmax_fusion, the fusion function on stacked probabilities."""

import warnings

import numpy as np
import pytest
import torch

from sftfusion import _backend, softmax_fusion
from sftfusion._validation import check_probabilities

TEMPERATURES = [1e-8, 1e-6, 1e-3, 0.01, 0.1, 0.5, 1.0, 3.0, 1e3, 1e8, float("inf")]


def random_probas(n_members=3, n_samples=40, n_classes=4, seed=0, dtype=np.float64):
    """Draw member probability tables from a Dirichlet distribution."""
    rng = np.random.default_rng(seed)
    probas = rng.dirichlet(np.full(n_classes, 0.5), size=(n_members, n_samples))
    return probas.astype(dtype)


def reference_forward(probas):
    """The original forward pass: softmax over the member axis, times outputs, summed.

    Written with torch.softmax, independently of the package's kernel.
    """
    stacked = torch.as_tensor(probas)
    weights = torch.softmax(stacked, dim=0)
    fused = (stacked * weights).sum(dim=0)
    return (fused / fused.sum(dim=1, keepdim=True)).numpy()


def reference_formula(probas, temperature, weights=None):
    """The documented formula in float64 with a max-subtracted softmax."""
    n_members = probas.shape[0]
    prior = (
        np.full(n_members, 1 / n_members) if weights is None else np.asarray(weights)
    )
    prior = prior / prior.sum()
    with np.errstate(divide="ignore"):
        exponent = probas / temperature + np.log(prior)[:, None, None]
    exponent -= exponent.max(axis=0)
    member_weights = np.exp(exponent)
    member_weights /= member_weights.sum(axis=0)
    fused = (member_weights * probas).sum(axis=0)
    return fused / fused.sum(axis=1, keepdims=True)


def test_fusion_matches_reference_forward_pass():
    probas = random_probas()
    assert np.allclose(softmax_fusion(probas), reference_forward(probas), atol=1e-12)


def test_fusion_matches_reference_forward_pass_many_classes():
    probas = random_probas(n_members=5, n_samples=300, n_classes=37, seed=3)
    assert np.allclose(softmax_fusion(probas), reference_forward(probas), atol=1e-12)


def test_fusion_docstring_example_by_hand():
    probas = np.array([[[0.9, 0.1]], [[0.4, 0.6]]])
    weight_first = np.exp(0.9) / (np.exp(0.9) + np.exp(0.4))
    weight_second = np.exp(0.6) / (np.exp(0.1) + np.exp(0.6))
    score_first = 0.9 * weight_first + 0.4 * (1 - weight_first)
    score_second = 0.1 * (1 - weight_second) + 0.6 * weight_second
    expected = np.array([score_first, score_second]) / (score_first + score_second)
    assert np.allclose(softmax_fusion(probas)[0], expected, atol=1e-15)


@pytest.mark.parametrize("temperature", TEMPERATURES[:-1])
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 3.0], [0.0, 1.0, 5.0]])
def test_fusion_matches_formula(temperature, weights):
    probas = random_probas(seed=1)
    expected = reference_formula(probas, temperature, weights)
    fused = softmax_fusion(probas, temperature=temperature, weights=weights)
    assert np.allclose(fused, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("weights", [None, [1, 2, 3], (0.5, 0.0, 0.25)])
def test_fusion_infinite_temperature_is_weighted_mean(weights):
    probas = random_probas(seed=2)
    prior = np.ones(3) if weights is None else np.asarray(weights, dtype=float)
    expected = np.average(probas, axis=0, weights=prior)
    fused = softmax_fusion(probas, temperature=float("inf"), weights=weights)
    assert np.allclose(fused, expected, atol=1e-15, rtol=0)


def test_fusion_large_temperature_tends_to_weighted_mean():
    probas = random_probas(seed=4)
    expected = np.average(probas, axis=0, weights=[1, 2, 3])
    fused = softmax_fusion(probas, temperature=1e8, weights=[1, 2, 3])
    assert np.allclose(fused, expected, atol=1e-7)


def test_fusion_tiny_temperature_picks_most_confident_member():
    probas = random_probas(seed=5)
    maximum = probas.max(axis=0)
    expected = maximum / maximum.sum(axis=1, keepdims=True)
    fused = softmax_fusion(probas, temperature=1e-8)
    assert np.allclose(fused, expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_fusion_stable_without_warnings(temperature, dtype):
    probas = random_probas(n_samples=200, seed=6, dtype=dtype)
    # Exact zeros and ones are the hardest inputs for an unshifted softmax.
    probas[:, :10] = 0.0
    probas[:, :10, 0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fused = softmax_fusion(probas, temperature=temperature, weights=[1, 1e-300, 2])
    assert fused.dtype == dtype
    assert np.all(np.isfinite(fused))
    assert np.all(fused >= 0)
    assert np.allclose(fused.sum(axis=1), 1, atol=1e-6)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_fusion_float32_close_to_float64(temperature):
    probas = random_probas(seed=7)
    fused64 = softmax_fusion(probas, temperature=temperature)
    fused32 = softmax_fusion(probas.astype(np.float32), temperature=temperature)
    assert fused32.dtype == np.float32
    assert np.allclose(fused32, fused64, atol=1e-5)


@pytest.mark.parametrize("temperature", [1e-8, 0.01, 1.0, 1e8, float("inf")])
def test_fusion_torch_tensor_matches_numpy(temperature):
    probas = random_probas(seed=8)
    fused = softmax_fusion(torch.from_numpy(probas), temperature=temperature)
    assert isinstance(fused, torch.Tensor)
    expected = softmax_fusion(probas, temperature=temperature)
    assert np.allclose(fused.numpy(), expected, atol=1e-10, rtol=0)


def test_fusion_single_member_returned_unchanged():
    probas = random_probas(n_members=1, seed=9)
    fused = softmax_fusion(probas, temperature=0.3)
    assert np.array_equal(fused, probas[0])
    assert fused is not probas[0]


def test_fusion_single_positive_weight_returns_that_member():
    probas = random_probas(seed=10)
    fused = softmax_fusion(probas, weights=[0, 2, 0])
    assert np.array_equal(fused, probas[1])


def test_fusion_zero_weight_member_ignored():
    probas = random_probas(seed=11)
    fused = softmax_fusion(probas, temperature=0.2, weights=[1, 0, 1])
    expected = softmax_fusion(probas[[0, 2]], temperature=0.2)
    assert np.allclose(fused, expected, atol=1e-15)


def test_fusion_identical_members_return_member():
    member = random_probas(n_members=1, seed=12)[0]
    probas = np.stack([member, member, member])
    fused = softmax_fusion(probas, temperature=0.05, weights=[1, 2, 3])
    assert np.allclose(fused, member, atol=1e-12)


def test_fusion_member_order_irrelevant():
    probas = random_probas(n_members=4, seed=13)
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    order = [2, 0, 3, 1]
    fused = softmax_fusion(probas, temperature=0.3, weights=weights)
    permuted = softmax_fusion(probas[order], temperature=0.3, weights=weights[order])
    assert np.allclose(fused, permuted, atol=1e-14)


def test_fusion_integer_input_becomes_float64():
    probas = np.array([[[1, 0], [0, 1]], [[0, 1], [0, 1]]])
    fused = softmax_fusion(probas)
    assert fused.dtype == np.float64
    assert np.allclose(fused.sum(axis=1), 1)


def test_fusion_float16_input_computed_in_float32():
    fused = softmax_fusion(random_probas(seed=14).astype(np.float16))
    assert fused.dtype == np.float32


def test_fusion_blocks_match_single_block():
    # More samples than one kernel block holds, with a ragged last block.
    probas = random_probas(n_members=3, n_samples=20_011, n_classes=3, seed=15)
    expected = reference_formula(probas, 0.7)
    assert np.allclose(softmax_fusion(probas, temperature=0.7), expected, atol=1e-12)


def test_fusion_empty_sample_axis():
    fused = softmax_fusion(np.zeros((2, 0, 3)))
    assert fused.shape == (0, 3)


@pytest.mark.parametrize(
    "temperature", [0, -1.0, float("nan"), -float("inf"), "1", None, True]
)
def test_fusion_invalid_temperature_rejected(temperature):
    match = rf"'temperature' parameter must be a positive float.*got {temperature!r}"
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        softmax_fusion(random_probas(), temperature=temperature)


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1, 2], r"one weight per entry \(3 entries.*got \[1, 2\] with shape \(2,\)"),
        ([[1, 2, 3]], r"one weight per entry .*shape \(1, 3\)"),
        ([1, -1, 2], r"must be non-negative; got \[1, -1, 2\]"),
        ([0, 0, 0], r"at least one active member a positive weight; got \[0, 0, 0\]"),
        ([1, float("nan"), 1], r"must contain finite numbers; got \[1, nan, 1\]"),
        ([1, float("inf"), 1], r"must contain finite numbers; got \[1, inf, 1\]"),
        (["a", "b", "c"], r"must be an array of numbers; got \['a', 'b', 'c'\]"),
    ],
)
def test_fusion_invalid_weights_rejected(weights, match):
    with pytest.raises(ValueError, match=match):
        softmax_fusion(random_probas(), weights=weights)


@pytest.mark.parametrize(
    "probas, match",
    [
        (np.ones((3, 4)), r"3-D array .*got an array of shape \(3, 4\)"),
        (
            np.ones((0, 4, 2)),
            r"at least one member and one class; got shape \(0, 4, 2\)",
        ),
        (
            np.ones((2, 4, 0)),
            r"at least one member and one class; got shape \(2, 4, 0\)",
        ),
        (np.full((2, 3, 2), "x"), r"must contain numbers; got an array of dtype <U1"),
    ],
)
def test_fusion_invalid_probas_shape_rejected(probas, match):
    with pytest.raises(ValueError, match=match):
        softmax_fusion(probas)


def test_fusion_check_input_names_bad_member():
    probas = random_probas()
    probas[1, 5, 2] = np.nan
    with pytest.raises(ValueError, match=r"probabilities of probas\[1\] contain NaN"):
        softmax_fusion(probas)


def test_fusion_check_input_rejects_negative_values():
    probas = random_probas()
    probas[2, 0] = [1.5, -0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"probas\[2\] contain negative values"):
        softmax_fusion(probas)


def test_fusion_check_input_rejects_bad_row_sums():
    probas = random_probas()
    probas[0, 7] *= 2
    with pytest.raises(ValueError, match=r"probas\[0\] must sum to 1; row 7 sums to 2"):
        softmax_fusion(probas)


def test_fusion_check_input_false_skips_checks():
    probas = random_probas()
    probas[0, 7] *= 1.01
    fused = softmax_fusion(probas, check_input=False)
    assert np.allclose(fused.sum(axis=1), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 5, 10, 37])
@pytest.mark.parametrize("temperature", [1e-8, 0.3, 1.0, float("inf")])
def test_fusion_row_independent_of_other_rows(dtype, n_classes, temperature):
    # Fusing rows in slices of any size gives the same bits as fusing them at
    # once, so batched predictions equal unbatched ones.
    probas = random_probas(n_members=4, n_samples=1000, n_classes=n_classes, seed=16)
    probas = probas.astype(dtype)
    weights = [1, 2, 3, 4]
    fused = softmax_fusion(probas, temperature=temperature, weights=weights)
    for size in (1, 7, 333):
        parts = [
            softmax_fusion(
                probas[:, start : start + size],
                temperature=temperature,
                weights=weights,
            )
            for start in range(0, 1000, size)
        ]
        assert np.array_equal(np.concatenate(parts), fused)


def test_fusion_check_input_finds_problem_past_first_block():
    probas = random_probas(n_members=2, n_samples=50_000, n_classes=3, seed=17)
    probas[1, 45_678] = [0.5, 0.5, 0.5]
    match = r"probas\[1\] must sum to 1; row 45678 sums to 1.5"
    with pytest.raises(ValueError, match=match):
        softmax_fusion(probas)


def test_fusion_check_input_float16_judged_by_its_precision():
    probas = random_probas(seed=18)
    # Off by 1e-3, within float16's rounding but not within float32's.
    probas[0, 3] *= 1.001
    fused = softmax_fusion(probas.astype(np.float16))
    assert fused.dtype == np.float32
    with pytest.raises(ValueError, match=r"probas\[0\] must sum to 1; row 3"):
        softmax_fusion(probas.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("temperature", [1e-8, 0.7, float("inf")])
def test_fusion_threads_match_one_thread(monkeypatch, dtype, temperature):
    probas = random_probas(n_members=3, n_samples=30_001, n_classes=4, seed=19)
    probas = probas.astype(dtype)
    one_thread = softmax_fusion(probas, temperature=temperature, weights=[1, 2, 3])
    monkeypatch.setattr(_backend, "_openmp_effective_n_threads", lambda: 3)
    monkeypatch.setattr(_backend, "_VALUES_PER_THREAD", 1000)
    n_values = probas.size
    assert len(_backend.thread_row_ranges(np, 30_001, n_values, 2048)) == 3
    threaded = softmax_fusion(probas, temperature=temperature, weights=[1, 2, 3])
    assert np.array_equal(threaded, one_thread)


def test_check_probabilities_rejects_3d_table():
    table = np.full((2, 3, 4), 0.25)
    match = (
        r"The probabilities of member 'x' must be a 2-D array of shape "
        r"\(n_samples, n_classes\) = \(2, 3\); got an array of shape \(2, 3, 4\)"
    )
    with pytest.raises(ValueError, match=match):
        check_probabilities(table, source="member 'x'", n_samples=2, n_columns=3)
