"""Cross-validated comparison of members, soft voting and SFTClassifier.

``python -m sftfusion demo`` runs it on scikit-learn's handwritten digits. On every
fold each member is fitted once. Soft voting and each SFTClassifier then wrap the
fold's fitted members in :class:`sklearn.frozen.FrozenEstimator`, so all methods
see the same member models and the comparison costs one fit per member.
"""

import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import StratifiedKFold

from sftfusion._classifier import SFTClassifier
from sftfusion._members import check_cache, fit_estimator


@dataclass
class MethodScores:
    """Per-fold scores of one method in the comparison."""

    name: str
    accuracy: list[float] = field(default_factory=list)
    log_loss: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)


def take_rows(X, indices):
    """Return the rows of X at ``indices``: arrays, sparse matrices, frames or lists."""
    if hasattr(X, "iloc"):
        return X.iloc[indices]
    if isinstance(X, list | tuple):
        return [X[index] for index in indices]
    return X[indices]


def compare_methods(
    members,
    X,
    y,
    *,
    temperatures=(1.0,),
    learn=False,
    learn_folds=5,
    n_splits=5,
    random_state=0,
    log=None,
):
    """Score every member, soft voting and SFTClassifier with stratified k-fold CV.

    Parameters
    ----------
    members : list of (str, estimator) tuples
        The members, as given to SFTClassifier.
    X : array-like, sparse matrix, DataFrame or list of str
        Input of all samples.
    y : array-like of shape (n_samples,)
        Labels.
    temperatures : sequence of float, default=(1.0,)
        One SFTClassifier is scored per temperature.
    learn : bool, default=False
        Also score ``SFTClassifier(temperature="learn", weights="learn",
        pool="auto", calibrate_members=True)``. It fits its own members on
        each training fold, once per inner fold of a ``learn_folds``-fold
        split, so it costs about ``learn_folds`` fits per member and fold. Its
        final fit on the whole training fold loads the members fitted for the
        other rows from a cache (the ``memory`` parameter) instead of fitting
        them again. Its fit time is its own.
    learn_folds : int, default=5
        Number of inner folds of the learned fusion.
    n_splits : int, default=5
        Number of folds.
    random_state : int, default=0
        Seed of the fold shuffling.
    log : callable or None, default=None
        Called with one progress line per fitted member; None prints to stderr.

    Returns
    -------
    scores : list of MethodScores
        The members first, then soft voting, then one entry per temperature,
        then the learned fusion if ``learn``. The fit time of voting and of the
        fixed temperatures is the sum of their members' fit times plus their own;
        their predict time includes the members' predictions.
    """
    log = log or _print_to_stderr
    y = np.asarray(y)
    classes = np.unique(y)
    member_scores = {name: MethodScores(name) for name, _ in members}
    voting_scores = MethodScores("VotingClassifier(soft)")
    fusion_scores = [MethodScores(f"SFTClassifier(T={t:g})") for t in temperatures]
    learned_scores = MethodScores("SFTClassifier(learned)")

    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    with tempfile.TemporaryDirectory(prefix="sftfusion-demo-") as folder:
        cache = check_cache(folder) if learn else None
        for fold, (train, test) in enumerate(folds.split(np.zeros(len(y)), y), 1):
            _score_fold(
                fold,
                n_splits,
                take_rows(X, train),
                y[train],
                take_rows(X, test),
                y[test],
                classes,
                members,
                temperatures,
                learn_folds if learn else None,
                cache,
                log,
                (member_scores, voting_scores, fusion_scores, learned_scores),
            )

    scores = [*member_scores.values(), voting_scores, *fusion_scores]
    return [*scores, learned_scores] if learn else scores


def _score_fold(
    fold,
    n_splits,
    X_train,
    y_train,
    X_test,
    y_test,
    classes,
    members,
    temperatures,
    learn_folds,
    cache,
    log,
    tables,
):
    """Fit and score every method on one fold; ``learn_folds`` None skips learning.

    With a ``cache``, the members are fitted through it, so that the learned
    fusion's final fit on ``X_train`` loads them instead of fitting them again.
    """
    member_scores, voting_scores, fusion_scores, learned_scores = tables
    frozen = []
    members_seconds = 0.0
    for name, estimator in members:
        start = time.perf_counter()
        fitted = fit_estimator(name, clone(estimator), X_train, y_train, {}, cache)
        seconds = time.perf_counter() - start
        members_seconds += seconds
        log(f"fold {fold}/{n_splits}: fitted {name} in {seconds:.1f} s")
        _record(member_scores[name], fitted, X_test, y_test, classes, seconds)
        frozen.append((name, FrozenEstimator(fitted)))

    voting = VotingClassifier(frozen, voting="soft")
    _record_ensemble(
        voting_scores,
        voting,
        X_train,
        y_train,
        X_test,
        y_test,
        classes,
        members_seconds,
    )
    for scores, temperature in zip(fusion_scores, temperatures, strict=True):
        fusion = SFTClassifier(frozen, temperature=temperature)
        _record_ensemble(
            scores,
            fusion,
            X_train,
            y_train,
            X_test,
            y_test,
            classes,
            members_seconds,
        )

    if learn_folds is not None:
        learned = SFTClassifier(
            members,
            temperature="learn",
            weights="learn",
            pool="auto",
            calibrate_members=True,
            cv=StratifiedKFold(learn_folds),
            memory=cache,
        )
        start = time.perf_counter()
        learned.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        log(f"fold {fold}/{n_splits}: fitted the learned fusion in {seconds:.1f} s")
        _record(learned_scores, learned, X_test, y_test, classes, seconds)


def _record(scores, fitted, X_test, y_test, classes, fit_seconds):
    start = time.perf_counter()
    proba = fitted.predict_proba(X_test)
    scores.predict_seconds.append(time.perf_counter() - start)
    predicted = fitted.classes_[np.argmax(proba, axis=1)]
    scores.accuracy.append(accuracy_score(y_test, predicted))
    scores.log_loss.append(log_loss(y_test, proba, labels=classes))
    scores.fit_seconds.append(fit_seconds)


def _record_ensemble(
    scores, ensemble, X_train, y_train, X_test, y_test, classes, members_seconds
):
    start = time.perf_counter()
    ensemble.fit(X_train, y_train)
    seconds = members_seconds + time.perf_counter() - start
    _record(scores, ensemble, X_test, y_test, classes, seconds)


def _print_to_stderr(line):
    print(line, file=sys.stderr, flush=True)


def format_table(scores):
    """Return the comparison as a fixed-width text table, one row per method."""
    header = (
        f"{'method':<26} {'accuracy':>15} {'log-loss':>15} "
        f"{'fit time (s)':>13} {'predict (s)':>12}"
    )
    lines = [header, "-" * len(header)]
    for entry in scores:
        accuracy = f"{np.mean(entry.accuracy):.4f} ± {np.std(entry.accuracy):.4f}"
        loss = f"{np.mean(entry.log_loss):.4f} ± {np.std(entry.log_loss):.4f}"
        fit = f"{np.mean(entry.fit_seconds):.2f}"
        predict = f"{np.mean(entry.predict_seconds):.2f}"
        lines.append(
            f"{entry.name:<26} {accuracy:>15} {loss:>15} {fit:>13} {predict:>12}"
        )
    return "\n".join(lines)


@contextmanager
def single_torch_thread():
    """Run torch on one thread, then restore the caller's thread count.

    The demo's networks are small, so a second thread adds little, and on a busy
    2-core machine torch's threads contend with each other: a digits fit measured
    about 4 s on one thread and up to 33 s on two.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def scale_pixels(X):
    """Map the digits' pixel intensities from 0..16 to 0..1."""
    return np.asarray(X, dtype=np.float64) / 16.0


def digits_members(random_state=0):
    """Return the digits members: a sequence Transformer and three classic models."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from sftfusion.models import SequenceTransformerClassifier

    # The Transformer reads each 8-pixel image row as a token.
    transformer = make_pipeline(
        FunctionTransformer(scale_pixels),
        SequenceTransformerClassifier(n_tokens=8, random_state=random_state),
    )
    return [
        ("transformer", transformer),
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        (
            "forest",
            RandomForestClassifier(n_estimators=300, random_state=random_state),
        ),
        ("knn", KNeighborsClassifier(n_neighbors=5, weights="distance")),
    ]


def tfidf_members():
    """Return word and character TF-IDF logistic regressions as members."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    characters = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True
    )
    return [
        ("word_tfidf", make_pipeline(word, LogisticRegression(C=10, max_iter=5000))),
        (
            "char_tfidf",
            make_pipeline(characters, LogisticRegression(C=10, max_iter=5000)),
        ),
    ]


def text_members(random_state=0):
    """Return fine-tuned MiniLM, frozen MiniLM and two TF-IDF models as members."""
    from sftfusion.models import FrozenEncoderClassifier, TextTransformerClassifier

    finetuned = TextTransformerClassifier(
        max_length=32, max_epochs=2, random_state=random_state
    )
    return [
        ("finetuned_minilm", finetuned),
        ("frozen_minilm", FrozenEncoderClassifier()),
        *tfidf_members(),
    ]


def run_comparison(
    description,
    members,
    X,
    y,
    *,
    n_splits,
    learn,
    temperatures,
    learn_folds=5,
    limit=None,
):
    """Print ``description``, run :func:`compare_methods` and print the table.

    ``limit``, if given, keeps a stratified random subset of that many examples.
    """
    y = np.asarray(y)
    if limit is not None and limit < len(y):
        from sklearn.model_selection import train_test_split

        kept, _ = train_test_split(
            np.arange(len(y)), train_size=limit, stratify=y, random_state=0
        )
        X, y = take_rows(X, np.sort(kept)), y[np.sort(kept)]
        description += f", a stratified subset of {limit}"
    print(f"{description}, {n_splits}-fold stratified CV.", flush=True)
    start = time.perf_counter()
    with single_torch_thread():
        scores = compare_methods(
            members,
            X,
            y,
            temperatures=temperatures,
            learn=learn,
            learn_folds=learn_folds,
            n_splits=n_splits,
        )
    print(format_table(scores))
    print(f"Total time: {time.perf_counter() - start:.0f} s")
    return scores


def run_digits_demo(
    n_splits=5, learn=False, learn_folds=5, limit=None, temperatures=(1.0, 0.1, 10.0)
):
    """Run the comparison on scikit-learn's handwritten digits and print the table."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    description = (
        f"Handwritten digits: {X.shape[0]} images of 8x8 pixels, "
        f"{len(np.unique(y))} classes"
    )
    return run_comparison(
        description,
        digits_members(),
        X,
        y,
        n_splits=n_splits,
        learn=learn,
        learn_folds=learn_folds,
        temperatures=temperatures,
        limit=limit,
    )


def run_text_demo(
    path,
    n_splits=5,
    learn=False,
    learn_folds=5,
    limit=None,
    temperatures=(1.0, 0.1, 10.0),
):
    """Run the comparison on labelled sentences and print the table.

    ``path`` is a file of ``sentence<TAB>label`` lines, or a folder of the UCI
    Sentiment Labelled Sentences files.
    """
    from pathlib import Path

    from sftfusion.datasets import load_sentences, load_sentiment_labelled_sentences

    if Path(path).is_dir():
        texts, labels = load_sentiment_labelled_sentences(path, return_X_y=True)
    else:
        texts, labels = load_sentences(path)
    texts = [str(text) for text in texts]
    description = (
        f"Labelled sentences from {path}: {len(texts)} sentences, "
        f"{len(np.unique(labels))} classes"
    )
    return run_comparison(
        description,
        text_members(),
        texts,
        labels,
        n_splits=n_splits,
        learn=learn,
        learn_folds=learn_folds,
        temperatures=temperatures,
        limit=limit,
    )
