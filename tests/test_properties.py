"""Property tests of softmax fusion on random member probabilities (hypothesis)."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from sftfusion import SFTClassifier, softmax_fusion

# 300 examples per property. Each property took 0.5 to 2 s on a two-core
# machine at a load average near 6.
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}

temperatures = st.one_of(
    st.floats(min_value=1e-8, max_value=1e8),
    st.floats(min_value=-8, max_value=8).map(lambda exponent: 10.0**exponent),
    st.just(math.inf),
)


@st.composite
def member_probas(draw, n_members=None, dtype=None):
    """Draw an (n_members, n_samples, n_classes) array whose rows sum to 1.

    Rows come from raw values in [0, 1], zeros, ones and subnormal numbers
    included, divided by their sums. An all-zero row becomes uniform.
    """
    if n_members is None:
        n_members = draw(st.integers(min_value=1, max_value=5))
    if dtype is None:
        dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_samples = draw(st.integers(min_value=1, max_value=6))
    n_classes = draw(st.integers(min_value=1, max_value=6))
    raw = draw(
        arrays(
            np.float64,
            (n_members, n_samples, n_classes),
            elements=st.floats(min_value=0, max_value=1),
        )
    )
    raw[raw.sum(axis=-1) == 0] = 1.0
    return (raw / raw.sum(axis=-1, keepdims=True)).astype(dtype)


@st.composite
def probas_and_weights(draw, min_weight=0.0, dtype=None):
    """Draw member probabilities and one prior weight per member.

    With ``min_weight`` 0 some weights may be 0, but never all of them.
    """
    probas = draw(member_probas(dtype=dtype))
    weights = draw(
        arrays(
            np.float64,
            probas.shape[0],
            elements=st.floats(min_value=min_weight, max_value=10.0),
        )
    )
    if not np.any(weights > 0):
        weights[0] = 1.0
    return probas, weights


@PROPERTY_SETTINGS
@given(probas_and_weights(), temperatures)
def test_property_rows_are_distributions(drawn, temperature):
    probas, weights = drawn
    fused = softmax_fusion(probas, temperature=temperature, weights=weights)
    assert fused.shape == probas.shape[1:]
    assert fused.dtype == probas.dtype
    assert np.all(fused >= 0)
    assert np.all(fused <= 1)
    row_sums = fused.sum(axis=1, dtype=np.float64)
    assert np.allclose(row_sums, 1, atol=TOLERANCE[probas.dtype.type], rtol=0)


@PROPERTY_SETTINGS
@given(
    member_probas(n_members=1),
    st.integers(min_value=2, max_value=5),
    st.data(),
    temperatures,
)
def test_property_identical_members_return_member(member, n_copies, data, temperature):
    probas = np.repeat(member, n_copies, axis=0)
    weights = data.draw(
        arrays(np.float64, n_copies, elements=st.floats(min_value=0.01, max_value=10))
    )
    fused = softmax_fusion(probas, temperature=temperature, weights=weights)
    tolerance = TOLERANCE[member.dtype.type]
    assert np.allclose(fused, member[0], atol=tolerance, rtol=0)


@PROPERTY_SETTINGS
@given(member_probas(n_members=1), temperatures)
def test_property_single_member_unchanged(member, temperature):
    fused = softmax_fusion(member, temperature=temperature)
    assert fused.dtype == member.dtype
    assert np.array_equal(fused, member[0])


@PROPERTY_SETTINGS
@given(probas_and_weights(), temperatures, st.randoms(use_true_random=False))
def test_property_member_order_irrelevant(drawn, temperature, random):
    probas, weights = drawn
    order = list(range(len(weights)))
    random.shuffle(order)
    fused = softmax_fusion(probas, temperature=temperature, weights=weights)
    permuted = softmax_fusion(
        probas[order], temperature=temperature, weights=weights[order]
    )
    tolerance = TOLERANCE[probas.dtype.type]
    assert np.allclose(permuted, fused, atol=tolerance, rtol=0)


@PROPERTY_SETTINGS
@given(probas_and_weights(dtype=np.float64))
def test_property_infinite_temperature_is_weighted_mean(drawn):
    probas, weights = drawn
    fused = softmax_fusion(probas, temperature=math.inf, weights=weights)
    # Normalised first, so that subnormal weights do not underflow to 0.
    expected = np.average(probas, axis=0, weights=weights / weights.sum())
    assert np.allclose(fused, expected, atol=1e-12, rtol=0)


@PROPERTY_SETTINGS
@given(
    probas_and_weights(min_weight=0.5, dtype=np.float64),
    st.floats(min_value=-10, max_value=-3),
)
def test_property_small_temperature_tends_to_max(drawn, log_temperature):
    # With normalised priors pi, the unnormalised score q_c of a class is at
    # most its maximum m_c over members and at least m_c - T / (e * min(pi)),
    # because d * exp(-d / T) <= T / e for every gap d to the maximum. The
    # bound carries over to the normalised rows, so the fused output reaches
    # the normalised maximum as T tends to 0.
    probas, weights = drawn
    temperature = 10.0**log_temperature
    prior = weights / weights.sum()
    gap = temperature / (math.e * prior.min())
    n_classes = probas.shape[2]

    fused = softmax_fusion(probas, temperature=temperature, weights=weights)
    maximum = probas.max(axis=0)
    expected = maximum / maximum.sum(axis=1, keepdims=True)
    bound = (n_classes + 1) * gap / (1 - n_classes * gap) + 1e-12
    assert np.all(np.abs(fused - expected) <= bound)


labels = st.sampled_from([np.array(["b", "a", "d"]), np.array([3, -1, 0, 8])])


@st.composite
def classification_data(draw):
    """Draw a small X and y with labels from a fixed set, in any order."""
    label_set = draw(labels)
    n_samples = draw(st.integers(min_value=1, max_value=25))
    X = draw(
        arrays(
            np.float64,
            (n_samples, 2),
            elements=st.floats(min_value=-10, max_value=10),
        )
    )
    codes = draw(
        arrays(
            np.int64,
            n_samples,
            elements=st.integers(min_value=0, max_value=len(label_set) - 1),
        )
    )
    return X, label_set[codes]


@PROPERTY_SETTINGS
@given(classification_data(), temperatures)
def test_property_predict_is_argmax(data, temperature):
    X, y = data
    # Shallow trees give fractional probabilities, and ties between classes.
    members = [
        ("stump", DecisionTreeClassifier(max_depth=1, random_state=0)),
        ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
        ("extra", ExtraTreeClassifier(max_depth=2, random_state=0)),
    ]
    model = SFTClassifier(members, temperature=temperature).fit(X, y)
    proba = model.predict_proba(X)
    assert model.classes_.tolist() == sorted(set(y.tolist()))
    assert np.array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
