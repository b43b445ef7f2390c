"""Benchmark of the searches over member subsets on scikit-learn's handwritten digits.

Four members (a sequence Transformer, logistic regression, histogram gradient
boosting and a random forest) give 15 non-empty subsets. With 3 temperatures
that makes 45 candidates, scored with 5-fold stratified cross-validation. The
script times, in the same run:

- the anchor: ``cross_validate`` of each member on the same folds, that is
  each member fitted once per fold;
- GridSearchCV over the 45 candidates with ``SFTClassifier(memory=...)``, the
  cache starting empty;
- MemberSearchCV over the same candidates;
- GridSearchCV over the same candidates without a cache (skip it with
  ``--skip-uncached``: it takes about 20 times the anchor).

Each search refits its best candidate on all samples, and every time is
divided by the anchor's time of the same repeat. Everything runs on one thread
(``n_jobs=1``, one torch thread, BLAS and OpenMP limited to one thread with
threadpoolctl), so the ratios count work, not parallelism. On a shared machine
the CPU time of the process is the steadier measure, so the script reports the
ratios of both wall time and CPU time.

GridSearchCV still loads each candidate's members from the cache and calls
them on the test fold, about 24 times per member and fold, where the anchor
predicts once. Its ratio therefore falls as the members' fits get costlier than
their predictions. ``--epochs`` sets the Transformer's training epochs to show that.

Usage::

    python benchmarks/member_search.py [--repeats 3] [--folds 5] [--epochs 10]
        [--skip-uncached]
"""

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from sftfusion import MemberSearchCV, SFTClassifier
from sftfusion._demo import scale_pixels
from sftfusion.models import SequenceTransformerClassifier

TEMPERATURES = [0.1, 1.0, 10.0]
SCORING = "neg_log_loss"


def benchmark_members(epochs=10):
    """Return the four members, each seeded so that every fit repeats exactly."""
    transformer = make_pipeline(
        FunctionTransformer(scale_pixels),
        SequenceTransformerClassifier(n_tokens=8, max_epochs=epochs, random_state=0),
    )
    return [
        ("transformer", transformer),
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        ("boosting", HistGradientBoostingClassifier(max_iter=50, random_state=0)),
        ("forest", RandomForestClassifier(n_estimators=100, random_state=0)),
    ]


def subset_grid(names):
    """Return a GridSearchCV grid with one dict per non-empty subset of ``names``."""
    grid = []
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(names, size):
            dropped = {name: ["drop"] for name in names if name not in subset}
            grid.append({**dropped, "temperature": TEMPERATURES})
    return grid


def included(params, names):
    """Return the member names that a candidate's params keep."""
    return tuple(name for name in names if params.get(name) != "drop")


class Timer:
    """Wall time and CPU time of the process spent inside a ``with`` block.

    ``refit`` is the wall time, included in ``wall``, that a search spent
    refitting its best candidate on all samples.
    """

    refit = 0.0

    def __enter__(self):
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc_info):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    @property
    def wall_before_refit(self):
        return self.wall - self.refit

    @staticmethod
    def fastest(timers):
        """Return a Timer with the minimum of each time over ``timers``."""
        timers = list(timers)
        fastest = Timer()
        fastest.wall = min(timer.wall for timer in timers)
        fastest.cpu = min(timer.cpu for timer in timers)
        before_refit = min(timer.wall_before_refit for timer in timers)
        fastest.refit = fastest.wall - before_refit
        return fastest


def time_anchor(X, y, folds, epochs):
    """Time cross_validate of each member, one after the other."""
    with Timer() as timer:
        for _, member in benchmark_members(epochs):
            cross_validate(member, X, y, cv=folds, scoring=SCORING)
    return timer


def time_grid_search(X, y, folds, epochs, memory):
    """Time GridSearchCV over all candidates; return the timer and the search."""
    names = [name for name, _ in benchmark_members()]
    search = GridSearchCV(
        SFTClassifier(benchmark_members(epochs), memory=memory),
        subset_grid(names),
        scoring=SCORING,
        cv=folds,
    )
    with Timer() as timer:
        search.fit(X, y)
    return timer, search


def time_member_search(X, y, folds, epochs):
    """Time MemberSearchCV over all candidates; return the timer and the search."""
    search = MemberSearchCV(
        SFTClassifier(benchmark_members(epochs)),
        temperatures=TEMPERATURES,
        scoring=SCORING,
        cv=folds,
    )
    with Timer() as timer:
        search.fit(X, y)
    return timer, search


def format_timer(timer, anchor):
    """Return a timer's seconds and its ratios to the anchor, as one line."""
    line = (
        f"{timer.wall:6.1f} s wall {timer.wall / anchor.wall:5.2f}x, "
        f"{timer.cpu:6.1f} s CPU {timer.cpu / anchor.cpu:5.2f}x"
    )
    if timer.refit:
        ratio = timer.wall_before_refit / anchor.wall
        line += f", before the final refit {ratio:5.2f}x wall"
    return line


def describe_machine():
    """Return one line on the hardware and software the timings come from."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at start; Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__}, "
        "n_jobs=1, one thread everywhere"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="default: 3")
    parser.add_argument("--folds", type=int, default=5, help="default: 5")
    parser.add_argument(
        "--epochs", type=int, default=10, help="Transformer epochs (default: 10)"
    )
    parser.add_argument(
        "--skip-uncached",
        action="store_true",
        help="do not time GridSearchCV without a cache",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    threadpool_limits(1)
    warnings.simplefilter("ignore", category=FutureWarning)
    X, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    names = [name for name, _ in benchmark_members()]
    n_candidates = len(subset_grid(names)) * len(TEMPERATURES)
    print(
        f"Digits: {X.shape[0]} samples, {len(names)} members, {n_candidates} "
        f"candidates, {args.folds} folds, Transformer trained for {args.epochs} "
        f"epochs.\n{describe_machine()}",
        flush=True,
    )

    rows = []
    for repeat in range(1, args.repeats + 1):
        timers = {"anchor": time_anchor(X, y, folds, args.epochs)}
        with tempfile.TemporaryDirectory() as folder:
            timers["GridSearchCV+memory"], grid = time_grid_search(
                X, y, folds, args.epochs, memory=folder
            )
        timers["MemberSearchCV"], search = time_member_search(X, y, folds, args.epochs)
        if repeat == 1 and not args.skip_uncached:
            timers["GridSearchCV, no cache"], _ = time_grid_search(
                X, y, folds, args.epochs, memory=None
            )
        timers["GridSearchCV+memory"].refit = grid.refit_time_
        timers["MemberSearchCV"].refit = search.refit_time_

        best_members = tuple(search.cv_results_["param_members"][search.best_index_])
        same_choice = (
            included(grid.best_params_, names) == best_members
            and grid.best_params_["temperature"] == search.best_params_["temperature"]
        )
        print(f"repeat {repeat} (same best candidate: {same_choice})")
        for label, timer in timers.items():
            print(f"  {label:<24} {format_timer(timer, timers['anchor'])}", flush=True)
        rows.append(timers)

    print(
        f"over {len(rows)} repeats, the fastest run of each search divided by the "
        "fastest anchor [median of the ratios of each repeat]:"
    )
    fastest_anchor = Timer.fastest(row["anchor"] for row in rows)
    for label in ("GridSearchCV+memory", "MemberSearchCV"):
        fastest = Timer.fastest(row[label] for row in rows)
        medians = {
            name: np.median(
                [
                    getattr(row[label], name) / getattr(row["anchor"], name)
                    for row in rows
                ]
            )
            for name in ("wall", "cpu", "wall_before_refit")
        }
        print(
            f"  {label:<24} {fastest.wall / fastest_anchor.wall:5.2f}x wall "
            f"[{medians['wall']:.2f}x], "
            f"{fastest.cpu / fastest_anchor.cpu:5.2f}x CPU [{medians['cpu']:.2f}x], "
            "before the final refit "
            f"{fastest.wall_before_refit / fastest_anchor.wall:5.2f}x wall "
            f"[{medians['wall_before_refit']:.2f}x]"
        )
    print(
        "best: "
        f"{tuple(search.cv_results_['param_members'][search.best_index_])}, "
        f"T={search.best_params_['temperature']}, "
        f"log-loss {-search.best_score_:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
