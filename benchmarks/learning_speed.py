"""Time to learn the fusion parameters from out-of-fold probabilities.

The problem is 100,000 samples x 10 classes x 5 members of synthetic member
probabilities of unequal quality. The script times ``learn_fusion`` (temperature
and priors, each pool, and with member temperatures), and as an anchor measured in
the same run, the fit of StackingClassifier's final estimator: a
``LogisticRegression`` on the same probabilities stacked as 50 features. It prints
each time in seconds and its ratio to the anchor. The target is under 1 s for the
linear and log pools without member temperatures.

Usage::

    python benchmarks/learning_speed.py [--samples 100000] [--repeats 3]
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

from sftfusion._learning import learn_fusion


def make_problem(n_samples, n_classes=10, n_members=5, seed=0):
    """Return member probabilities whose skill falls from member 0 to the last."""
    rng = np.random.default_rng(seed)
    y_index = rng.integers(0, n_classes, n_samples)
    logits = rng.normal(size=(n_members, n_samples, n_classes))
    skill = np.linspace(2.0, 0.0, n_members)
    logits[:, np.arange(n_samples), y_index] += skill[:, None]
    probas = np.exp(logits)
    probas /= probas.sum(axis=2, keepdims=True)
    return probas, y_index


def best_time(function, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    probas, y_index = make_problem(args.samples)
    n_members = probas.shape[0]
    features = np.concatenate(list(probas), axis=1)
    anchor, _ = best_time(
        lambda: LogisticRegression(max_iter=1000).fit(features, y_index), args.repeats
    )
    print(f"problem: {probas.shape} (members, samples, classes), float64")
    print(f"anchor, LogisticRegression on the stacked probabilities: {anchor:.2f} s")

    for pool in ("linear", "log"):
        for calibrate in (False, True):
            seconds, learned = best_time(
                lambda pool=pool, calibrate=calibrate: learn_fusion(
                    probas,
                    y_index,
                    None,
                    pool=pool,
                    temperature=1.0,
                    prior=np.full(n_members, 1 / n_members),
                    learn_temperature=True,
                    learn_weights=True,
                    calibrate_members=calibrate,
                ),
                args.repeats,
            )
            label = f"learn_fusion pool={pool}, calibrate_members={calibrate}"
            print(
                f"{label:<48} {seconds:6.2f} s  ratio to anchor {seconds / anchor:5.2f}"
                f"  ({learned.n_evaluations} evaluations, T={learned.temperature:.3g})"
            )


if __name__ == "__main__":
    main()
