"""
=========================================
Learning the temperature and the priors
=========================================

With ``temperature="learn"`` and ``weights="learn"``,
:class:`~sftfusion.SFTClassifier` chooses the temperature :math:`T` and the
prior weights :math:`\\pi` itself. It fits every member on the training folds
of ``cv``, collects their probabilities on the held-out folds, and minimises
the log-loss of the fused held-out prediction. ``pool="auto"`` also chooses
between the linear and the log pool, and ``calibrate_members=True`` adds one
temperature per member.

This example compares these settings with fixed ones on scikit-learn's
handwritten digits, with four members of very different quality.
"""

# %%
# Data and members
# ----------------
# Logistic regression and k-nearest neighbours are strong on the digits;
# Gaussian naive Bayes and a single decision tree are much weaker, and naive
# Bayes is over-confident.
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier
from sftfusion.plotting import MemberWeightsDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
members = [
    ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
    ("bayes", GaussianNB()),
    ("knn", KNeighborsClassifier(n_neighbors=10)),
    ("tree", DecisionTreeClassifier(max_depth=8, random_state=0)),
]

# %%
# Fixed and learned fusion
# ------------------------
# Each learned setting fits every member 6 times: once per fold of the default
# 5-fold ``cv``, and once more on all training samples (``refit=True``).
settings = {
    "soft voting": {"temperature": float("inf")},
    "T = 1": {"temperature": 1.0},
    "learn T and π": {"temperature": "learn", "weights": "learn"},
    "... and the pool": {"temperature": "learn", "weights": "learn", "pool": "auto"},
    "... and member T": {
        "temperature": "learn",
        "weights": "learn",
        "pool": "auto",
        "calibrate_members": True,
    },
}
models = {
    label: SFTClassifier(members, **params).fit(X_train, y_train)
    for label, params in settings.items()
}

rows = []
for label, model in models.items():
    proba = model.predict_proba(X_test)
    predicted = model.classes_[np.argmax(proba, axis=1)]
    rows.append(
        {
            "setting": label,
            "test accuracy": accuracy_score(y_test, predicted),
            "test log-loss": log_loss(y_test, proba),
            "T": model.temperature_,
            "pool": model.pool_,
            "weights": np.round(model.weights_, 3),
        }
    )
pd.DataFrame(rows).set_index("setting")

# %%
# On this data the learned temperature goes to the top of its range, 1e4,
# where the fusion is soft voting: no temperature does better than averaging
# here, but the learned priors do. They give naive Bayes and the tree weights
# close to 0, and the log pool, chosen by ``pool="auto"``, lowers the
# log-loss further. Learning cannot make a temperature useful; it finds out
# whether one is.
#
# The out-of-fold scores
# ----------------------
# ``cv_results_`` contains the held-out scores that the choice was based on: one
# row per member and one per pool that was fitted.
pd.DataFrame(models["... and member T"].cv_results_)

# %%
# The learned weights and member temperatures
# -------------------------------------------
# With ``calibrate_members=True`` each member's probabilities are first
# recalibrated to ``softmax(log p / tau)``. A member temperature above 1
# softens an over-confident member, below 1 sharpens an under-confident one.
# :class:`~sftfusion.plotting.MemberWeightsDisplay` draws both.
display = MemberWeightsDisplay.from_estimator(models["... and member T"])

# %%
# Learning on held-out data with frozen members
# ---------------------------------------------
# Members wrapped in :class:`sklearn.frozen.FrozenEstimator` are not fitted
# again; their predictions on the data given to ``fit`` stand in for the
# out-of-fold ones. Fit the members on one part of the data and the fusion
# on another part that the members have not seen.
X_fit, X_fusion, y_fit, y_fusion = train_test_split(
    X_train, y_train, test_size=0.3, stratify=y_train, random_state=0
)
frozen = [
    (name, FrozenEstimator(clone(estimator).fit(X_fit, y_fit)))
    for name, estimator in members
]
fusion = SFTClassifier(frozen, temperature="learn", weights="learn")
fusion.fit(X_fusion, y_fusion)
print(f"test log-loss: {log_loss(y_test, fusion.predict_proba(X_test)):.4f}")

# %%
# This costs one fit per member instead of six, but the members see 30 % less
# data and the fusion learns from fewer samples.
