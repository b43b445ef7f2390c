"""Types to trust when loading sftfusion models saved with skops.

``skops.io.load`` only builds types that the caller trusts. skops 0.16 trusts
many builtin, numpy, scipy and scikit-learn types by default, but not
sftfusion's, so loading an ``SFTClassifier`` also needs the types listed here.
Members may add their own types, which the caller reviews with
``skops.io.get_untrusted_types``.
"""

# The types that sftfusion's estimators write into a skops file and that
# skops 0.16 does not trust by default. tests/test_persistence.py checks the
# list against real files, so it neither misses a type nor lists an unused one.
_CLASSIFIER_TYPES = (
    "sftfusion._classifier.SFTClassifier",
    # named_estimators_ is a Bunch.
    "sklearn.utils._bunch.Bunch",
    # With learned fusion and refit=False, each member is its fold models.
    "sftfusion._crossfit.FoldAveragedClassifier",
)

# SequenceTransformerClassifier with its default optimizer and callbacks, as
# written by skorch 1.4.
_SEQUENCE_TRANSFORMER_TYPES = (
    "sftfusion.models._modules.SequenceTransformerModule",
    "sftfusion.models._sequence.SequenceTransformerClassifier",
    "builtins.print",
    "functools.partial",
    "skorch.callbacks.logging.EpochTimer",
    "skorch.callbacks.logging.PrintLog",
    "skorch.callbacks.scoring.EpochScoring",
    "skorch.callbacks.scoring.PassthroughScoring",
    "skorch.classifier.NeuralNetClassifier",
    "skorch.dataset.Dataset",
    "skorch.history.History",
    "skorch.setter.optimizer_setter",
    "skorch.utils._indexing_other",
    "skorch.utils.to_numpy",
    "torch.nn.modules.loss.CrossEntropyLoss",
    "torch.optim.adamw.AdamW",
    "torch.utils.data.dataloader.DataLoader",
)


def trusted_types():
    """Return the type names to trust when loading sftfusion models with skops.

    The list covers :class:`~sftfusion.SFTClassifier` and
    :class:`~sftfusion.models.SequenceTransformerClassifier` with its default
    optimizer and callbacks. Other members bring their own types: list them with
    ``skops.io.get_untrusted_types``, review them, and add them to ``trusted``.

    Returns
    -------
    types : list of str
        Fully qualified type names, as ``skops.io.load`` expects in ``trusted``.

    Notes
    -----
    skops checks the types of the objects it builds, but a skorch net, such as
    the one inside ``SequenceTransformerClassifier``, stores its module,
    optimizer and criterion as a pickle. skorch 1.4 restores that part with
    pickle, so a file with a skorch member is only as safe to load as a pickle.
    Load such files only from sources you trust.

    Examples
    --------
    >>> import skops.io as sio
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sftfusion import SFTClassifier
    >>> from sftfusion.persistence import trusted_types
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SFTClassifier(
    ...     [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    ... ).fit(X, y)
    >>> data = sio.dumps(model)
    >>> [t for t in sio.get_untrusted_types(data=data) if t not in trusted_types()]
    []
    >>> loaded = sio.loads(data, trusted=trusted_types())
    >>> bool((loaded.predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    return [*_CLASSIFIER_TYPES, *_SEQUENCE_TRANSFORMER_TYPES]
