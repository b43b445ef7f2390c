"""
========================================
Effect of the temperature and the priors
========================================

Softmax fusion gives each member, per sample and per class, the weight

.. math::

    w_{ic} = \\frac{\\pi_i \\exp(p_{ic} / T)}{\\sum_j \\pi_j \\exp(p_{jc} / T)}

and the fused probability of class :math:`c` is
:math:`\\sum_i w_{ic} p_{ic}`, renormalised over the classes. This example
follows one sample through that formula while the temperature :math:`T`
sweeps from 0.01 to 100, once with uniform priors :math:`\\pi` and once with
priors that favour one member.
"""

# %%
# Three members and one sample
# ----------------------------
# The members disagree: ``confident`` puts 0.9 on class A, ``leaning`` prefers
# class B, and ``unsure`` is close to uniform. ``softmax_fusion`` takes their
# probabilities stacked as (n_members, n_samples, n_classes).
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from sftfusion import softmax_fusion

members = ["confident", "leaning", "unsure"]
classes = ["A", "B", "C"]
probas = np.array(
    [
        [[0.90, 0.05, 0.05]],
        [[0.30, 0.60, 0.10]],
        [[0.35, 0.30, 0.35]],
    ]
)
temperatures = np.logspace(-2, 2, 81)
priors = {"uniform priors": None, "priors (1, 4, 1)": [1.0, 4.0, 1.0]}

fused = {
    label: np.array(
        [softmax_fusion(probas, temperature=t, weights=w)[0] for t in temperatures]
    )
    for label, w in priors.items()
}
soft_voting = {
    label: softmax_fusion(probas, temperature=float("inf"), weights=w)[0]
    for label, w in priors.items()
}

# %%
# Fused probability against temperature
# -------------------------------------
# Solid lines use uniform priors, dashed lines priors of 1, 4 and 1 (they are
# normalised to sum to 1). The dots on the right edge are the limit
# ``T = inf``, soft voting with the priors as weights.
colors = {"A": "tab:blue", "B": "tab:orange", "C": "tab:green"}
styles = {"uniform priors": "-", "priors (1, 4, 1)": "--"}
figure, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
for label, curves in fused.items():
    for index, name in enumerate(classes):
        ax.plot(
            temperatures,
            curves[:, index],
            linestyle=styles[label],
            color=colors[name],
            linewidth=2,
        )
        ax.plot(
            temperatures[-1] * 1.15,
            soft_voting[label][index],
            marker="o",
            color=colors[name],
            clip_on=False,
        )
ax.axvline(1.0, color="0.6", linewidth=0.8)
ax.text(1.08, 0.03, "T = 1", color="0.4", transform=ax.get_xaxis_transform())
ax.set_xscale("log")
ax.set_xlabel("temperature T")
ax.set_ylabel("fused probability")
ax.set_title("One sample, three members")
class_legend = ax.legend(
    [Line2D([], [], color=color, linewidth=2) for color in colors.values()],
    [f"class {name}" for name in colors],
    title="class",
    loc="upper left",
    bbox_to_anchor=(1.02, 1),
)
ax.add_artist(class_legend)
ax.legend(
    [Line2D([], [], color="black", linestyle=style) for style in styles.values()],
    list(styles),
    title="priors",
    loc="upper left",
    bbox_to_anchor=(1.02, 0.55),
)

# %%
# Below about ``T = 0.05`` the curves are flat and the two priors give the same
# result: each class takes the probability of the member most confident about
# it (0.9, 0.6 and 0.35), and the row is renormalised. Above ``T = 3`` the
# curves are flat again at soft voting, where the priors decide. Between the
# two, the temperature trades one behaviour for the other. Near ``T = 1``, the
# default, uniform priors give nearly the soft-voting result: probabilities lie
# in [0, 1], so ``exp(p / T)`` varies by a factor of at most e across members.
#
# Which member gets the weight
# ----------------------------
# The weights :math:`w_{iA}` of class A show why. At low temperature the
# ``confident`` member takes all of the weight, whatever the priors; at high
# temperature the weights are the normalised priors.
figure, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True, layout="constrained")
for ax, (label, w) in zip(axes, priors.items(), strict=True):
    prior = np.ones(3) if w is None else np.asarray(w)
    prior = prior / prior.sum()
    scores = probas[:, 0, 0][None, :] / temperatures[:, None] + np.log(prior)
    scores -= scores.max(axis=1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    for index, member in enumerate(members):
        ax.plot(temperatures, weights[:, index], label=member)
    ax.set_xscale("log")
    ax.set_xlabel("temperature T")
    ax.set_title(f"weights of class A, {label}")
axes[0].set_ylabel("member weight")
axes[0].legend()

# %%
# In practice the temperature is a hyper-parameter: a cross-validated search
# over it is shown in
# :ref:`sphx_glr_auto_examples_plot_grid_search_members.py`.
