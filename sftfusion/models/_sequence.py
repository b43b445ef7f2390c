"""Transformer classifier that reads each row of a numeric table as a token sequence.

``SequenceTransformerClassifier`` is a scikit-learn estimator around a skorch
``NeuralNetClassifier``. It can serve as a member of ``SFTClassifier`` next to
classical models, and it follows the scikit-learn estimator API on its own.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier

from sftfusion._compat import Interval, _fit_context
from sftfusion.models._base import PredictFromProbaMixin
from sftfusion.models._modules import SequenceTransformerModule
from sftfusion.models._torch_utils import (
    TRAINING_PARAMETER_CONSTRAINTS,
    draw_seed,
    encode_labels,
    is_cpu_device,
    net_log_proba,
    resolve_member_device,
    seeded_torch_rng,
)


class SequenceTransformerClassifier(
    PredictFromProbaMixin, ClassifierMixin, BaseEstimator
):
    """Transformer encoder classifier over the features of a row, read as tokens.

    Each row of ``X`` becomes a short sequence of tokens. A learned CLS token
    is prepended, a learned positional embedding is added, a pre-norm
    ``torch.nn.TransformerEncoder`` mixes the tokens, and a linear head maps the
    final CLS state to class logits. Training minimises the cross-entropy with
    AdamW on shuffled mini-batches through a skorch ``NeuralNetClassifier``.

    Parameters
    ----------
    n_tokens : int or None, default=None
        How the columns of ``X`` become tokens. None gives one token per
        feature, each scalar embedded by its own learned linear map, as in the
        FT-Transformer. An int splits the columns into ``n_tokens`` consecutive
        tokens of equal width, embedded by one shared linear map, so an 8x8
        image flattened row by row is read as 8 row tokens with
        ``n_tokens=8``. The number of features must be a multiple of
        ``n_tokens``.

    d_model : int, default=32
        Size of the token embeddings and of the encoder state.

    nhead : int, default=4
        Number of attention heads. It must divide ``d_model``.

    num_layers : int, default=2
        Number of encoder layers.

    dim_feedforward : int, default=64
        Hidden size of the feed-forward block in each encoder layer.

    dropout : float, default=0.1
        Dropout probability inside the encoder layers, in [0, 1).

    max_epochs : int, default=20
        Number of passes over the training data.

    lr : float, default=1e-3
        Learning rate of AdamW.

    batch_size : int, default=64
        Number of rows per mini-batch, in training and in prediction.

    weight_decay : float, default=0.0
        Decoupled weight decay of AdamW. The default turns AdamW into Adam.

    device : str or torch.device, default="cpu"
        Torch device for training and prediction, such as ``"cpu"``, ``"cuda"``
        or ``"cuda:1"``.

    random_state : int, RandomState instance or None, default=None
        Seed for weight initialisation, batch shuffling and dropout. With an
        int, fits on the CPU repeat exactly. None draws the seed from numpy's
        global random state. The caller's torch random state on the CPU and on
        CUDA devices is restored after ``fit``.

    verbose : int, default=0
        If 0, training prints nothing. If positive, skorch prints a table with
        one row per epoch, showing the training loss and the epoch duration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, sorted.

    n_features_in_ : int
        Number of features seen in ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen in ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    net_ : skorch.NeuralNetClassifier
        The fitted skorch net. Its ``history`` attribute contains the training
        log, for example ``net_.history[:, "train_loss"]``.

    See Also
    --------
    sftfusion.SFTClassifier : Fuses the probabilities of several classifiers.
    sklearn.neural_network.MLPClassifier : Multi-layer perceptron on the whole row.

    Notes
    -----
    The encoder computes in float32, so ``X`` is converted to float32. The
    probabilities are the softmax of the logits computed in float64. The
    logits of a row can still differ by float32 rounding between calls that
    place the row in batches of different sizes. For a 2-layer model, 20 rows
    predicted at once and one at a time differed by up to 6e-8 on a CPU.

    With a fixed int ``random_state``, results repeat on the CPU. CUDA kernels
    may be non-deterministic, so on a GPU repeated fits can differ slightly.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sftfusion.models import SequenceTransformerClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = SequenceTransformerClassifier(n_tokens=8, max_epochs=3, random_state=0)
    >>> clf.fit(X[:300], y[:300])
    SequenceTransformerClassifier(max_epochs=3, n_tokens=8, random_state=0)
    >>> clf.predict_proba(X[300:302]).shape
    (2, 10)
    >>> len(clf.net_.history)
    3
    """

    _parameter_constraints: dict = {
        "n_tokens": [Interval(Integral, 1, None, closed="left"), None],
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "nhead": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dim_feedforward": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        **TRAINING_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        n_tokens=None,
        d_model=32,
        nhead=4,
        num_layers=2,
        dim_feedforward=64,
        dropout=0.1,
        max_epochs=20,
        lr=1e-3,
        batch_size=64,
        weight_decay=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.n_tokens = n_tokens
        self.d_model = d_model
        self.nhead = nhead
        self.num_layers = num_layers
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the Transformer on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Any numeric dtype is accepted and converted to
            float32.

        y : array-like of shape (n_samples,)
            Class labels of any type that ``numpy.unique`` can sort, such as
            strings, negative ints or bools. At least two classes are needed.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        X = _writable(X)
        check_classification_targets(y)
        self._check_architecture(n_features=X.shape[1])
        device = resolve_member_device(self.device)
        y_encoded, classes = encode_labels(y, estimator_name=type(self).__name__)

        net = self._build_net(n_features=X.shape[1], n_classes=len(classes))
        with seeded_torch_rng(draw_seed(self.random_state), device):
            net.fit(X, y_encoded)

        self.classes_ = classes
        self.net_ = net
        return self

    def predict_proba(self, X):
        """Predict class probabilities for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data, with the same features as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in float64, with columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Predict the logarithm of the class probabilities for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data, with the same features as in ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities in float64, with columns in the order of
            ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        X = _writable(X)

        return net_log_proba(self.net_, X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Fits repeat exactly only on the CPU. PyTorch documents several CUDA
        # kernels, cuBLAS among them, as non-deterministic by default.
        tags.non_deterministic = not is_cpu_device(self.device)
        return tags

    def _check_architecture(self, *, n_features):
        """Raise ValueError for shape parameters that do not fit together."""
        if self.n_tokens is not None and n_features % self.n_tokens != 0:
            raise ValueError(
                f"X has {n_features} features, which cannot be split into "
                f"n_tokens={self.n_tokens} tokens of equal width. Pass an "
                f"n_tokens that divides {n_features}, or n_tokens=None for one "
                "token per feature."
            )
        if self.d_model % self.nhead != 0:
            raise ValueError(
                f"d_model={self.d_model} must be a multiple of nhead={self.nhead}, "
                "because each attention head gets d_model / nhead dimensions. "
                "Change d_model or nhead."
            )

    def _build_net(self, *, n_features, n_classes):
        """Return an unfitted skorch net configured from the parameters."""
        return NeuralNetClassifier(
            module=SequenceTransformerModule,
            module__n_features=n_features,
            module__n_classes=n_classes,
            module__n_tokens=self.n_tokens,
            module__d_model=self.d_model,
            module__nhead=self.nhead,
            module__num_layers=self.num_layers,
            module__dim_feedforward=self.dim_feedforward,
            module__dropout=self.dropout,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=None,
            device=self.device,
            verbose=self.verbose,
        )


def _writable(X):
    """Return ``X``, or a writable copy of it if it is read-only.

    torch warns when it wraps a read-only array, such as the memory-mapped
    input that joblib passes to its workers.
    """
    return np.require(X, requirements=["W"])
