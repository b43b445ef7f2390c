"""Tests of member handling: label alignment, odd member outputs and member errors."""

import numpy as np
import pandas as pd
import pytest
import torch
from nets import scaled_float32, tiny_net
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier, softmax_fusion

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SPECIES = np.array(["setosa", "versicolor", "virginica"], dtype=object)


@pytest.fixture(scope="module")
def iris_scaled(iris):
    X, y = iris
    return scaled_float32(X), y


def aligned_table(member, X, classes):
    """Place a member's columns under the ensemble's labels, zeros elsewhere.

    Written with a plain label lookup, independently of the package.
    """
    proba = member.predict_proba(X)
    table = np.zeros((len(X), len(classes)), dtype=proba.dtype)
    for column, label in enumerate(member.classes_):
        table[:, list(classes).index(label)] = proba[:, column]
    return table


def test_members_frozen_with_own_label_order_aligned(iris_scaled):
    X, y = iris_scaled
    names = SPECIES[y]
    lr = LogisticRegression(max_iter=1000).fit(X, names)
    two_species = names != "versicolor"
    nb = GaussianNB().fit(X[two_species], names[two_species])
    # skorch takes class indices as y and reports `classes` as classes_, so
    # column k of this net is the probability of order[k].
    order = ["virginica", "setosa", "versicolor"]
    torch.manual_seed(0)
    net = tiny_net(classes=order).fit(X, np.array([order.index(n) for n in names]))
    members = [lr, nb, net]
    model = SFTClassifier(
        [(name, FrozenEstimator(m)) for name, m in zip("abc", members, strict=True)],
        temperature=0.3,
    ).fit(X, names)

    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    expected = softmax_fusion(
        np.stack([aligned_table(m, X, model.classes_) for m in members]),
        temperature=0.3,
    )
    assert np.array_equal(model.predict_proba(X), expected)
    only_nb = model.set_params(weights=[0, 1, 0]).fit(X, names)
    assert np.all(only_nb.predict_proba(X)[:, 1] == 0)


def test_members_unseen_class_gets_zero(iris):
    X, y = iris
    labels = np.array([-3, 0, 7])[y]
    seen = labels != 0
    partial = DecisionTreeClassifier(max_depth=2, random_state=0)
    partial.fit(X[seen], labels[seen])
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("partial", FrozenEstimator(partial)),
    ]
    model = SFTClassifier(members, weights=[0, 1]).fit(X, labels)
    proba = model.predict_proba(X)
    assert model.classes_.tolist() == [-3, 0, 7]
    assert np.all(proba[:, 1] == 0)
    assert np.array_equal(proba[:, [0, 2]], partial.predict_proba(X))


def test_members_skorch_classes_in_other_order(iris_scaled):
    X, y = iris_scaled
    order = [2, 0, 1]
    torch.manual_seed(0)
    net = tiny_net(classes=order).fit(X, np.array([order.index(label) for label in y]))
    model = SFTClassifier([("net", FrozenEstimator(net))]).fit(X, y)
    net_proba = net.predict_proba(X)
    assert np.array_equal(model.predict_proba(X)[:, order], net_proba)
    # skorch's own predict returns column indices, the ensemble returns labels.
    assert np.array_equal(model.predict(X), np.array(order)[net_proba.argmax(axis=1)])


def test_members_string_digits_versus_integers_rejected(iris):
    X, y = iris
    as_text = GaussianNB().fit(X, y.astype(str))
    members = [("nb", GaussianNB()), ("text", FrozenEstimator(as_text))]
    match = (
        r"member 'text' \(FrozenEstimator\) predicts classes \['0', '1', '2'\] that "
        r"are not among the ensemble's classes_ \[0, 1, 2\].*FrozenEstimator, pass a y"
    )
    with pytest.raises(ValueError, match=match):
        SFTClassifier(members).fit(X, y)


def test_members_skorch_without_classes_rejected(iris_scaled):
    X, y = iris_scaled
    # An empty `classes` list makes skorch raise AttributeError for classes_.
    members = [("nb", GaussianNB()), ("net", tiny_net(classes=[]))]
    with pytest.raises(
        ValueError, match=r"member 'net' \(NeuralNetClassifier\) has no classes_"
    ):
        SFTClassifier(members).fit(X, y)


class OutputLR(LogisticRegression):
    """LogisticRegression whose predict_proba output goes through ``convert``.

    The tests set ``convert`` on a fitted instance and freeze it, so clone never
    copies the attribute.
    """

    def predict_proba(self, X):
        return self.convert(super().predict_proba(X))


def frozen_output(X, y, convert):
    model = OutputLR(max_iter=1000).fit(X, y)
    model.convert = convert
    return FrozenEstimator(model)


BINARY = np.array(["no", "yes"], dtype=object)


@pytest.mark.parametrize(
    "convert, tolerance, dtype",
    [
        (lambda p: p[:, 1], 1e-15, np.float64),
        (lambda p: pd.Series(p[:, 1]), 1e-15, np.float64),
        (lambda p: pd.DataFrame(p), 0, np.float64),
        (lambda p: pd.DataFrame(p, columns=BINARY), 0, np.float64),
        (lambda p: pd.DataFrame(p[:, ::-1], columns=BINARY[::-1]), 0, np.float64),
        (lambda p: sparse.csr_matrix(p), 0, np.float64),
        (lambda p: torch.from_numpy(p), 0, np.float64),
        # A lone float32 or float16 member is fused in float32.
        (lambda p: p.astype(np.float32), 1e-7, np.float32),
        (lambda p: p.astype(np.float16), 1e-3, np.float32),
    ],
    ids=[
        "1-D",
        "series",
        "frame-range-index",
        "frame-labels",
        "frame-labels-reversed",
        "sparse",
        "tensor",
        "float32",
        "float16",
    ],
)
def test_members_unambiguous_output_coerced(iris, convert, tolerance, dtype):
    X, y = iris
    labels = BINARY[(y > 0).astype(int)]
    member = frozen_output(X, labels, convert)
    model = SFTClassifier([("odd", member)]).fit(X, labels)
    expected = LogisticRegression(max_iter=1000).fit(X, labels).predict_proba(X)
    proba = model.predict_proba(X)
    assert proba.dtype == dtype
    assert np.allclose(proba, expected, atol=tolerance, rtol=0)


@pytest.mark.parametrize("dtype", [np.int64, bool])
def test_members_hard_one_hot_output_accepted(iris, dtype):
    X, y = iris
    member = frozen_output(X, y, lambda p: np.eye(3, dtype=dtype)[p.argmax(axis=1)])
    model = SFTClassifier([("hard", member), ("nb", GaussianNB())]).fit(X, y)
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1)
    assert model.score(X, y) > 0.9


def _with_infinity(proba):
    proba = proba.copy()
    proba[3, 1] = np.inf
    return proba


@pytest.mark.parametrize(
    "convert, match",
    [
        (
            lambda p: p[:, 1],
            r"'odd' \(FrozenEstimator\) returned predict_proba of shape \(150,\), but "
            r"its classes_ \[0, 1, 2\] has 3 labels.*for binary members only",
        ),
        (
            lambda p: np.column_stack([p, np.zeros(len(p))]),
            r"shape \(150, 4\), but its classes_ \[0, 1, 2\] has 3 labels",
        ),
        (lambda p: p[:-1], r"'odd' \(FrozenEstimator\) must have shape \(150, 3\)"),
        (
            lambda p: pd.DataFrame(p, columns=["p0", "p1", "p2"]),
            r"returned a DataFrame with columns \['p0', 'p1', 'p2'\].*not the labels "
            r"of its classes_ \[0, 1, 2\]. Name the columns after classes_",
        ),
        (
            lambda p: pd.DataFrame(p, columns=[0, 0, 2]),
            r"DataFrame with columns \[0, 0, 2\]",
        ),
        (lambda p: p.astype(str), r"probabilities of dtype <U32; they must be numbers"),
        (lambda p: [[1.0, 0.0, 0.0], [1.0]], r"returned list from predict_proba"),
        (_with_infinity, r"'odd' \(FrozenEstimator\) contain NaN or infinite"),
        (lambda p: p - 0.5, r"contain negative values.*CalibratedClassifierCV"),
        (lambda p: 2 * p, r"must sum to 1; row \d+ sums to 2\.0.*CalibratedClassifier"),
    ],
    ids=[
        "1-D-multiclass",
        "extra-column",
        "missing-row",
        "frame-unknown-labels",
        "frame-duplicate-labels",
        "strings",
        "ragged",
        "infinity",
        "negative",
        "row-sums",
    ],
)
def test_members_ambiguous_output_rejected(iris, convert, match):
    X, y = iris
    members = [("nb", GaussianNB()), ("odd", frozen_output(X, y, convert))]
    model = SFTClassifier(members).fit(X, y)
    with pytest.raises(ValueError, match=match):
        model.predict_proba(X)


def test_members_skorch_logits_rejected(iris_scaled):
    X, y = iris_scaled
    torch.manual_seed(0)
    net = tiny_net(predict_nonlinearity=None)
    model = SFTClassifier([("net", net), ("nb", GaussianNB())]).fit(X, y)
    match = (
        r"probabilities of member 'net' \(NeuralNetClassifier\) contain negative "
        r"values .*logits: wrap it in sklearn.calibration.CalibratedClassifierCV"
    )
    with pytest.raises(ValueError, match=match):
        model.predict_proba(X)


def test_members_skorch_sigmoid_rows_rejected(iris_scaled):
    X, y = iris_scaled
    torch.manual_seed(0)
    net = tiny_net(predict_nonlinearity=torch.sigmoid)
    model = SFTClassifier([("net", net)]).fit(X, y)
    with pytest.raises(
        ValueError, match=r"'net' \(NeuralNetClassifier\) must sum to 1; row \d+ sums"
    ):
        model.predict_proba(X)


def test_members_skorch_output_count_mismatch_rejected(iris_scaled):
    X, y = iris_scaled
    torch.manual_seed(0)
    net = tiny_net(module__n_outputs=4)
    model = SFTClassifier([("net", net)]).fit(X, y)
    match = r"'net' \(NeuralNetClassifier\) returned predict_proba of shape \(150, 4\)"
    with pytest.raises(ValueError, match=match):
        model.predict_proba(X)


@pytest.mark.parametrize(
    "member",
    [
        LinearSVC(),
        RidgeClassifier(),
        SGDClassifier(loss="hinge"),
        make_pipeline(LinearSVC()),
    ],
    ids=["LinearSVC", "RidgeClassifier", "SGD-hinge", "Pipeline"],
)
def test_members_decision_function_only_rejected(iris, member):
    X, y = iris
    name = type(member).__name__
    match = (
        rf"member 'scores' \({name}\) has no predict_proba.*Its decision_function "
        r"returns scores, not probabilities. Wrap it in "
        r"sklearn.calibration.CalibratedClassifierCV"
    )
    with pytest.raises(ValueError, match=match):
        SFTClassifier([("nb", GaussianNB()), ("scores", member)]).fit(X, y)


def test_members_frozen_decision_function_only_rejected(iris):
    X, y = iris
    frozen = FrozenEstimator(LinearSVC().fit(X, y))
    with pytest.raises(
        ValueError, match=r"'svm' \(FrozenEstimator\) has no predict_proba"
    ):
        SFTClassifier([("svm", frozen)]).fit(X, y)


def test_members_calibrated_decision_function_accepted(iris):
    X, y = iris
    calibrated = CalibratedClassifierCV(LinearSVC(), cv=3)
    model = SFTClassifier([("svm", calibrated), ("nb", GaussianNB())]).fit(X, y)
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1)
    assert model.score(X, y) > 0.85


BYTES = [b"caf\xe9 au lait", b"plain tea"] * 4


def test_members_fit_error_without_message_constructor():
    # UnicodeDecodeError needs five arguments, so the member's name travels on
    # its base class UnicodeError, which is still a ValueError.
    member = make_pipeline(TfidfVectorizer(encoding="ascii"), LogisticRegression())
    match = r"member 'text' \(Pipeline\) failed in fit: 'ascii' codec can't decode"
    with pytest.raises(UnicodeError, match=match) as info:
        SFTClassifier([("text", member)]).fit(BYTES, [0, 1] * 4)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_members_fit_error_in_worker_names_member(iris):
    X, _ = iris
    members = [("tree", DecisionTreeClassifier()), ("lr", LogisticRegression())]
    match = r"member 'lr' \(LogisticRegression\) failed in fit: .*at least 2 classes"
    with pytest.raises(ValueError, match=match):
        SFTClassifier(members, n_jobs=2).fit(X, np.zeros(len(X), dtype=int))


def test_members_predict_error_names_member(iris):
    X, y = iris
    model = SFTClassifier([("tree", DecisionTreeClassifier())]).fit(X, y)
    match = (
        r"member 'tree' \(DecisionTreeClassifier\) failed in predict_proba: X has 2 "
        r"features, but DecisionTreeClassifier is expecting 4"
    )
    with pytest.raises(ValueError, match=match) as info:
        model.predict_proba(X[:, :2])
    assert isinstance(info.value.__cause__, ValueError)


def test_members_skorch_wrong_input_dtype_names_member(iris):
    X, y = iris
    # float64 input meets the float32 weights of the net inside torch.
    model = SFTClassifier([("net", tiny_net(max_epochs=1))])
    with pytest.raises(RuntimeError, match=r"member 'net' \(NeuralNetClassifier\)"):
        model.fit(X, y)
