"""
==============================================
Fusing a Transformer with classic classifiers
==============================================

This example fuses four different classifiers on scikit-learn's handwritten
digits (1,797 images of 8x8 pixels, 10 classes): a small Transformer that
reads each image row as a token, a logistic regression, a random forest and a
k-nearest-neighbours classifier. It compares each member, soft voting and
:class:`~sftfusion.SFTClassifier` at three temperatures on a held-out test
set.

``python -m sftfusion demo`` runs the same comparison with 5-fold
cross-validation, which gives a mean and a spread for every score.
"""

# %%
# Data and members
# ----------------
# :class:`~sftfusion.models.SequenceTransformerClassifier` with ``n_tokens=8``
# splits each flattened image into its 8 rows, so the encoder attends over
# rows.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sftfusion import SFTClassifier
from sftfusion.models import SequenceTransformerClassifier
from sftfusion.plotting import ReliabilityDiagramDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities from 0..16 to 0..1
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

members = [
    (
        "transformer",
        SequenceTransformerClassifier(n_tokens=8, max_epochs=20, random_state=0),
    ),
    ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
    ("forest", RandomForestClassifier(n_estimators=200, random_state=0)),
    ("knn", KNeighborsClassifier(n_neighbors=5, weights="distance")),
]

# %%
# An ensemble of these members, as a notebook shows it: the members side by
# side under their names, each box expandable to its parameters.
SFTClassifier(members, temperature=0.1)

# %%
# Fit each member once
# --------------------
# The ensembles below wrap the fitted members in
# :class:`sklearn.frozen.FrozenEstimator`, so every method combines the same
# member models and no member is fitted twice.
fitted = [(name, clone(est).fit(X_train, y_train)) for name, est in members]
frozen = [(name, FrozenEstimator(estimator)) for name, estimator in fitted]

models = dict(fitted)
models["soft voting"] = VotingClassifier(frozen, voting="soft").fit(X_train, y_train)
for temperature in (0.1, 1.0, 10.0):
    fusion = SFTClassifier(frozen, temperature=temperature).fit(X_train, y_train)
    models[f"SFT T={temperature:g}"] = fusion

# %%
# Test-set scores
# ---------------
scores = {}
for name, model in models.items():
    proba = model.predict_proba(X_test)
    predicted = model.classes_[np.argmax(proba, axis=1)]
    scores[name] = (accuracy_score(y_test, predicted), log_loss(y_test, proba))
    print(f"{name:<12} accuracy {scores[name][0]:.4f}   log-loss {scores[name][1]:.4f}")

figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
names = list(scores)
positions = np.arange(len(names))
colors = ["tab:gray"] * len(fitted) + ["tab:blue"] + ["tab:orange"] * 3
for ax, column, label in zip(axes, range(2), ["accuracy", "log-loss"], strict=True):
    values = [scores[name][column] for name in names]
    bars = ax.barh(positions, values, color=colors)
    ax.bar_label(bars, fmt="%.3f", padding=2, fontsize="small")
    ax.set_xlabel(f"test {label}")
    ax.set_xlim(0, max(values) * 1.25)
axes[0].set_yticks(positions, labels=names)
axes[0].invert_yaxis()
figure.tight_layout()

# %%
# At ``T = 10`` the fusion is close to soft voting, as
# :ref:`sphx_glr_auto_examples_plot_fusion_temperature.py` explains. Lower
# temperatures move further from it, for better or worse depending on the
# members, so choose the temperature by cross-validation
# (:ref:`sphx_glr_auto_examples_plot_grid_search_members.py`). One split of
# 540 test images cannot separate methods that differ by a few images; the
# demo's cross-validation can.
#
# Reliability of the fused model and its members
# ----------------------------------------------
# With 10 classes the diagram bins the top-label confidence: the highest
# probability of each image against whether that class is correct. Most
# confidences are close to 1, so quantile bins, which hold equal numbers of
# images, keep every point of the curves meaningful. A point above the
# diagonal belongs to a model that is right more often than its confidence
# suggests, so it is under-confident. A point below it is over-confident.
display = ReliabilityDiagramDisplay.from_estimator(
    models["SFT T=1"], X_test, y_test, n_bins=6, strategy="quantile", name="SFT T=1"
)
