"""
==========================================================
Choosing members and temperature with GridSearchCV
==========================================================

:class:`~sftfusion.SFTClassifier` follows scikit-learn's conventions for
heterogeneous ensembles, so :class:`~sklearn.model_selection.GridSearchCV`
can search over which members take part (a member set to ``"drop"`` is left
out), over the temperature, and over the members' own parameters with
``<name>__<parameter>``. This example searches over member sets and
temperatures on scikit-learn's breast cancer data set (569 samples, 2
classes), scored by log-loss because the fusion changes probabilities more
than it changes decisions.
"""

# %%
# The ensemble and the grid
# -------------------------
# The logistic regression stays in every candidate; each of the three other
# members is either used or dropped, which gives 8 member sets. With 4
# temperatures the grid has 32 candidates, each fitted on 5 folds.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier

X, y = load_breast_cancer(return_X_y=True)

members = {
    "logreg": make_pipeline(StandardScaler(), LogisticRegression()),
    "bayes": GaussianNB(),
    "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15)),
    "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
}
model = SFTClassifier(list(members.items()))
param_grid = {
    "bayes": [members["bayes"], "drop"],
    "knn": [members["knn"], "drop"],
    "tree": [members["tree"], "drop"],
    "temperature": [0.05, 0.3, 1.0, float("inf")],
}
search = GridSearchCV(
    model,
    param_grid,
    scoring="neg_log_loss",
    cv=StratifiedKFold(5, shuffle=True, random_state=0),
)
search.fit(X, y)

# %%
# The diagram above is the fitted search as a notebook shows it. Its
# ``best_estimator_`` is an ordinary fitted ``SFTClassifier``, refitted on all
# the data, and the members that the best candidate left out appear as
# ``drop``.
#
# The results, one row per candidate
# ----------------------------------
# A short label names the members that took part in each candidate.
results = pd.DataFrame(search.cv_results_)


def member_set(row):
    used = ["logreg"]
    for name in ("bayes", "knn", "tree"):
        if not isinstance(row[f"param_{name}"], str):
            used.append(name)
    return " + ".join(used)


results["members"] = results.apply(member_set, axis=1)
results["temperature"] = results["param_temperature"].astype(float)
results["log-loss"] = -results["mean_test_score"]
results["std"] = results["std_test_score"]
table = results.sort_values("rank_test_score")[
    ["members", "temperature", "log-loss", "std"]
]
table.head(8)

# %%
# Log-loss by member set and temperature
# --------------------------------------
# Each row of the heat map is a member set, each column a temperature; lower
# is better.
grid = results.pivot_table(index="members", columns="temperature", values="log-loss")
grid = grid.loc[grid.min(axis=1).sort_values().index]

figure, ax = plt.subplots(figsize=(7, 4.5))
image = ax.imshow(grid.to_numpy(), cmap="viridis_r", aspect="auto")
ax.set_xticks(np.arange(grid.shape[1]), labels=[f"{t:g}" for t in grid.columns])
ax.set_yticks(np.arange(grid.shape[0]), labels=grid.index)
ax.set_xlabel("temperature T")
middle = (grid.to_numpy().min() + grid.to_numpy().max()) / 2
for (row, column), value in np.ndenumerate(grid.to_numpy()):
    color = "white" if value > middle else "black"
    ax.text(column, row, f"{value:.3f}", ha="center", va="center", color=color)
figure.colorbar(image, ax=ax, label="mean cross-validated log-loss")
ax.set_title("GridSearchCV over member sets and temperatures")
figure.tight_layout()

# %%
# What the search found
# ---------------------
# With a single member the temperature has no effect, so the four candidates
# of the logistic regression alone tie. On this data set that member alone
# has the lowest log-loss: the other members are less well calibrated, and
# fusing them in costs more than their differences gain. For the sets of
# three or four members, the log-loss falls as the temperature rises towards
# soft voting. Whether fusion helps, and at which temperature, depends on the
# members and the data; a search like this one measures it.
#
# Every candidate refits all of its members on every fold, so the cost of the
# search grows with the number of member sets times the number of
# temperatures. To compare temperatures alone, fit the members once and wrap
# them in :class:`sklearn.frozen.FrozenEstimator`, as
# :ref:`sphx_glr_auto_examples_plot_digits_demo.py` does.
