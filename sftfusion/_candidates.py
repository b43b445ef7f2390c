"""Scores of fused candidates, computed from stored out-of-fold probabilities.

MemberSearchCV hands each member subset to ``score_subset``, which fuses the
subset's held-out probabilities on every test fold at every temperature and
pool (learning the fusion parameters for candidates that learn them), and scores
the result with a scikit-learn scorer. ``results_table`` lays the scores out as
GridSearchCV's ``cv_results_``.
"""

import math
from numbers import Real

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin

from sftfusion._fusion import fuse
from sftfusion._learning import fit_fusion
from sftfusion._validation import is_learn


def score_subset(out_of_fold, names, prior, settings):
    """Score one member subset at every temperature and pool, on every fold.

    Returns an array of shape (n_temperatures * n_pools, n_splits), the rows in
    the order temperatures x pools, and a list of messages, one for each score
    that failed and was set to ``settings["error_score"]``.
    """
    holder = _FusedPrediction(settings["classes"])
    y_labels, weight = settings["y_labels"], settings["sample_weight"]
    rows, failures = [], []
    for temperature in settings["temperatures"]:
        for pool in settings["pools"]:
            row = []
            for split, (train, test) in enumerate(settings["splits"]):
                score_params = (
                    {"sample_weight": weight[test]}
                    if settings["weighted_scores"]
                    else {}
                )
                try:
                    fused = _fuse_fold(
                        out_of_fold,
                        names,
                        prior,
                        temperature,
                        pool,
                        train,
                        test,
                        settings,
                    )
                    X_test = settings["X_tests"][split]
                    holder.set_fold(X_test, fused)
                    score = settings["scorer"](
                        holder, X_test, y_labels[test], **score_params
                    )
                except Exception as exc:
                    if settings["error_score"] == "raise":
                        raise
                    score = settings["error_score"]
                    failures.append(
                        f"members={tuple(names)!r}, temperature={temperature!r}, "
                        f"pool={pool!r}, split {split}: {type(exc).__name__}: {exc}"
                    )
                row.append(_check_score(score, settings["scorer"]))
            rows.append(row)
    return np.asarray(rows, dtype=np.float64), failures


def _check_score(score, scorer):
    """Return ``score`` as a float, raising TypeError unless it is one number."""
    if isinstance(score, Real):
        return float(score)
    is_scalar_array = isinstance(score, np.ndarray) and score.ndim == 0
    if is_scalar_array and score.dtype.kind in "biuf":
        return float(score)
    raise TypeError(
        f"The scorer {scorer!r} must return one number per test fold; got "
        f"{type(score).__name__} {score!r}. MemberSearchCV ranks candidates by a "
        "single metric: pass one scorer, or a callable that returns a float."
    )


def _fuse_fold(out_of_fold, names, prior, temperature, pool, train, test, settings):
    """Return a candidate's fused probabilities on one test fold.

    A candidate that learns anything learns it on the stored predictions of the
    ``train`` rows, exactly as SFTClassifier would on its own out-of-fold
    predictions.
    """
    learn_temperature = is_learn(temperature)
    learns = (
        learn_temperature
        or settings["learn_weights"]
        or pool == "auto"
        or settings["calibrate_members"]
    )
    if not learns:
        fold = out_of_fold[:, test]
        return fuse(fold, temperature=temperature, prior=prior, pool=pool)

    weight = settings["sample_weight"]
    learned, _ = fit_fusion(
        out_of_fold[:, train],
        settings["y_index"][train],
        None if weight is None else weight[train],
        pools=("linear", "log") if pool == "auto" else (pool,),
        temperature=1.0 if learn_temperature else temperature,
        prior=prior,
        learn_temperature=learn_temperature,
        learn_weights=settings["learn_weights"],
        calibrate_members=settings["calibrate_members"],
        names=names,
    )
    return fuse(
        out_of_fold[:, test],
        temperature=learned.temperature,
        prior=learned.prior,
        pool=learned.pool,
        member_temperatures=learned.member_temperatures,
    )


def results_table(subsets, names, temperatures, pools, scores):
    """Return ``cv_results_`` for the candidates subsets x temperatures x pools.

    ``subsets`` lists the member names of each subset, ``names`` all the active
    members, and ``scores`` has one row per candidate and one column per split.
    """
    candidates = [
        (subset, temperature, pool)
        for subset in subsets
        for temperature in temperatures
        for pool in pools
    ]
    members = np.empty(len(candidates), dtype=object)
    members[:] = [tuple(subset) for subset, _, _ in candidates]
    params = []
    for subset, temperature, pool in candidates:
        candidate = {name: "drop" for name in names if name not in subset}
        candidate.update(temperature=temperature, pool=pool)
        params.append(candidate)

    results = {
        "param_members": members,
        "param_temperature": np.array(
            [temperature for _, temperature, _ in candidates], dtype=object
        ),
        "param_pool": np.array([pool for _, _, pool in candidates], dtype=object),
        "params": params,
    }
    for split in range(scores.shape[1]):
        results[f"split{split}_test_score"] = scores[:, split]
    mean = scores.mean(axis=1)
    results["mean_test_score"] = mean
    results["std_test_score"] = scores.std(axis=1)
    # A NaN mean ranks last, after every finite one.
    ranked = np.where(np.isnan(mean), -math.inf, mean)
    results["rank_test_score"] = rankdata(-ranked, method="min").astype(np.int32)
    return results


class _FusedPrediction(ClassifierMixin, BaseEstimator):
    """A stand-in for a fitted ensemble that scorers call on one test fold.

    ``set_fold`` gives it the test fold's X, as the scorer receives it, and the
    fused probabilities of those rows. Its predict methods return them for that
    X, so that any scorer, including a callable that reads the features of X,
    scores a candidate without refitting or re-predicting the members.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
        The labels of the probability columns.
    """

    def __init__(self, classes):
        self.classes = classes

    @property
    def classes_(self):
        return self.classes

    def set_fold(self, X, proba):
        """Store the test fold's X and the fused probabilities of its rows."""
        self._X = X
        self._proba = proba

    def predict_proba(self, X):
        if X is not self._X:
            raise ValueError(
                "The scorer passed an input to predict or predict_proba other "
                "than the test fold it received. MemberSearchCV scores the stored "
                "probabilities of that fold, so a callable scorer must predict "
                "its X argument unchanged, not a copy, conversion or part of it."
            )
        return self._proba

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]
