"""Accuracy and log-loss of learned softmax fusion against its competitors.

For every dataset, repeated stratified 5-fold cross-validation scores, on the same
outer folds and with the same members:

- each member;
- ``VotingClassifier(voting="soft")``;
- ``StackingClassifier`` with a logistic regression on the members' probabilities;
- ``SFTClassifier`` at T = 1;
- ``SFTClassifier`` learned (``temperature="learn"``, ``weights="learn"``) with each
  pool, and with ``pool="auto"`` plus ``calibrate_members=True``.

Stacking and learned fusion both need out-of-fold member probabilities on the
training part of each outer fold (inner ``StratifiedKFold(5)``, as both estimators
use by default). To keep the run short, every member is fitted once on the outer
training fold and once per inner fold, and all methods are computed from those
fits. On the first outer fold of the first dataset the script checks that this
shortcut reproduces the real ``StackingClassifier`` and ``SFTClassifier``
predictions, and stops if it does not.

Usage::

    python benchmarks/accuracy.py [--repeats 2] [--datasets wine,digits,...]

The sentiment dataset is read from ``--sentences`` (default: the environment
variable SFTFUSION_SENTENCES_DIR, else the folder
``../shared/data/sentiment_labelled_sentences`` beside the repository).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import RandomForestClassifier, StackingClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_validate,
)
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sftfusion import SFTClassifier, softmax_fusion
from sftfusion._demo import digits_members, tfidf_members
from sftfusion._learning import fit_fusion
from sftfusion.datasets import load_sentiment_labelled_sentences

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_SENTENCES = os.environ.get(
    "SFTFUSION_SENTENCES_DIR",
    REPOSITORY.parent / "shared" / "data" / "sentiment_labelled_sentences",
)
INNER_FOLDS = 5

LEARNED = {
    "SFT learned (linear)": {"pools": ("linear",), "calibrate_members": False},
    "SFT learned (log)": {"pools": ("log",), "calibrate_members": False},
    "SFT learned (auto)": {"pools": ("linear", "log"), "calibrate_members": False},
    "SFT learned (auto, calibrated)": {
        "pools": ("linear", "log"),
        "calibrate_members": True,
    },
}
# SFTClassifier(temperature="learn", weights="learn", pool="auto",
# calibrate_members=True): the learned fusion the documentation recommends.
HEADLINE = "SFT learned (auto, calibrated)"
# The same with refit=False: the members are their inner fold models, averaged.
FOLD_AVERAGED = "SFT learned (auto, calibrated, refit=False)"


def tabular_members():
    return [
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))),
        ("forest", RandomForestClassifier(n_estimators=300, random_state=0)),
        ("naive_bayes", GaussianNB()),
        ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))),
    ]


def text_members():
    return [
        *tfidf_members(),
        ("naive_bayes", make_pipeline(CountVectorizer(binary=True), MultinomialNB())),
    ]


def load_dataset(name, sentences):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X, y, digits_members()
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return X, y, tabular_members()
    if name == "wine":
        X, y = load_wine(return_X_y=True)
        return X, y, tabular_members()
    if name == "sentiment":
        if not Path(sentences).is_dir():
            raise SystemExit(
                f"No sentence folder at {sentences}; pass --sentences or set "
                "SFTFUSION_SENTENCES_DIR."
            )
        texts, labels = load_sentiment_labelled_sentences(sentences, return_X_y=True)
        return [str(text) for text in texts], labels, text_members()
    raise SystemExit(f"Unknown dataset {name!r}.")


def rows(X, indices):
    if isinstance(X, list):
        return [X[index] for index in indices]
    return X[indices]


def stacking_features(probas):
    """Stack member probabilities as StackingClassifier does (binary: drop column 0)."""
    if probas.shape[2] == 2:
        probas = probas[:, :, 1:]
    return np.concatenate(list(probas), axis=1)


def score_fold(members, X_train, y_train, X_test, y_test, classes):
    """Return {method: test probabilities} for one outer fold."""
    inner = StratifiedKFold(INNER_FOLDS)
    test_probas, out_of_fold, fold_averaged = [], [], []
    for _, member in members:
        fitted = clone(member).fit(X_train, y_train)
        test_probas.append(fitted.predict_proba(X_test))
        folds = cross_validate(
            member,
            X_train,
            y_train,
            cv=inner,
            return_estimator=True,
            return_indices=True,
            scoring=None,
        )
        held_out = np.zeros((len(y_train), len(classes)))
        for model, test in zip(
            folds["estimator"], folds["indices"]["test"], strict=True
        ):
            held_out[test] = model.predict_proba(rows(X_train, test))
        out_of_fold.append(held_out)
        fold_averaged.append(
            np.mean(
                [model.predict_proba(X_test) for model in folds["estimator"]], axis=0
            )
        )
    test_probas = np.stack(test_probas)
    out_of_fold = np.stack(out_of_fold)
    fold_averaged = np.stack(fold_averaged)

    results = {
        name: proba for (name, _), proba in zip(members, test_probas, strict=True)
    }
    results["VotingClassifier(soft)"] = test_probas.mean(axis=0)
    stacker = LogisticRegression(max_iter=1000).fit(
        stacking_features(out_of_fold), y_train
    )
    results["StackingClassifier"] = stacker.predict_proba(
        stacking_features(test_probas)
    )
    results["SFT T=1"] = softmax_fusion(test_probas)

    y_index = np.searchsorted(classes, y_train)
    names = [name for name, _ in members]
    uniform = np.full(len(members), 1 / len(members))
    for method, options in LEARNED.items():
        learned, _ = fit_fusion(
            out_of_fold,
            y_index,
            None,
            pools=options["pools"],
            temperature=1.0,
            prior=uniform,
            learn_temperature=True,
            learn_weights=True,
            calibrate_members=options["calibrate_members"],
            names=names,
        )
        parameters = {
            "temperature": learned.temperature,
            "weights": learned.prior,
            "pool": learned.pool,
            "member_temperatures": learned.member_temperatures,
        }
        results[method] = softmax_fusion(test_probas, **parameters)
        if method == HEADLINE:
            results[FOLD_AVERAGED] = softmax_fusion(fold_averaged, **parameters)
    return results


def check_shortcut(members, X_train, y_train, X_test, results):
    """Compare the shortcut with the real StackingClassifier and SFTClassifier."""
    inner = StratifiedKFold(INNER_FOLDS)
    stacking = StackingClassifier(
        members, final_estimator=LogisticRegression(max_iter=1000), cv=inner
    ).fit(X_train, y_train)
    fusion = SFTClassifier(
        members,
        temperature="learn",
        weights="learn",
        pool="auto",
        calibrate_members=True,
        cv=inner,
    ).fit(X_train, y_train)
    gaps = {
        "StackingClassifier": np.abs(
            stacking.predict_proba(X_test) - results["StackingClassifier"]
        ).max(),
        HEADLINE: np.abs(fusion.predict_proba(X_test) - results[HEADLINE]).max(),
    }
    for method, gap in gaps.items():
        print(f"  shortcut check, {method}: max |difference| = {gap:.2e}")
        if gap > 1e-6:
            raise SystemExit(f"The shortcut does not reproduce {method}; stopping.")


def run_dataset(name, repeats, sentences, check):
    X, y, members = load_dataset(name, sentences)
    classes = np.unique(y)
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=0)
    losses, accuracies = {}, {}
    start = time.perf_counter()
    for fold, (train, test) in enumerate(folds.split(np.zeros(len(y)), y), start=1):
        X_train, X_test = rows(X, train), rows(X, test)
        results = score_fold(members, X_train, y[train], X_test, y[test], classes)
        if check and fold == 1:
            check_shortcut(members, X_train, y[train], X_test, results)
        for method, proba in results.items():
            losses.setdefault(method, []).append(
                log_loss(y[test], proba, labels=classes)
            )
            predicted = classes[np.argmax(proba, axis=1)]
            accuracies.setdefault(method, []).append(np.mean(predicted == y[test]))
        print(
            f"  {name}: fold {fold} of {5 * repeats} done "
            f"({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return losses, accuracies, len(members)


def report(name, losses, accuracies, n_members):
    print(f"\n{name}")
    print(f"{'method':<32} {'log-loss':>17} {'accuracy':>17}")
    for method in losses:
        loss, accuracy = np.array(losses[method]), np.array(accuracies[method])
        print(
            f"{method:<32} {loss.mean():.4f} ± {loss.std():.4f}"
            f"   {accuracy.mean():.4f} ± {accuracy.std():.4f}"
        )
    mean_loss = {method: np.mean(values) for method, values in losses.items()}
    mean_accuracy = {method: np.mean(values) for method, values in accuracies.items()}
    competitors = [method for method in losses if not method.startswith("SFT ")]
    best = min(competitors, key=mean_loss.get)
    best_member_accuracy = max(list(mean_accuracy.values())[:n_members])
    headline_loss = mean_loss[HEADLINE]
    lowest = headline_loss <= min(mean_loss[method] for method in competitors)
    print(
        f"{HEADLINE}: log-loss ratio to the best competitor ({best}) = "
        f"{headline_loss / mean_loss[best]:.3f}; lowest log-loss of the "
        f"competitors: {lowest}; log-loss <= soft voting: "
        f"{headline_loss <= mean_loss['VotingClassifier(soft)']}; accuracy >= "
        f"best member: {mean_accuracy[HEADLINE] >= best_member_accuracy}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="CV repeats (default 2)")
    parser.add_argument(
        "--datasets",
        default="breast_cancer,wine,digits,sentiment",
        help="comma-separated datasets (default: all four); the first one also "
        "checks the shortcut against the real estimators",
    )
    parser.add_argument(
        "--sentences",
        default=str(DEFAULT_SENTENCES),
        help="folder of the UCI sentiment labelled sentences",
    )
    args = parser.parse_args(argv)

    # The members' networks are small; one torch thread avoids contention.
    torch.set_num_threads(1)
    for position, name in enumerate(args.datasets.split(",")):
        start = time.perf_counter()
        losses, accuracies, n_members = run_dataset(
            name, args.repeats, args.sentences, check=position == 0
        )
        report(name, losses, accuracies, n_members)
        print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
