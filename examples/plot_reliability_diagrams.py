"""
===========================================
Reliability diagrams of members and fusion
===========================================

A classifier is calibrated when, among the samples to which it gives a
probability of about 0.8, about 80 % belong to the class. A reliability
diagram bins the predicted probabilities and plots, per bin, the observed
frequency against the mean prediction; a calibrated model lies on the
diagonal.

:class:`~sftfusion.plotting.ReliabilityDiagramDisplay` draws the fused model
and each of its members in one diagram, so that you can see what the fusion
does to their calibration. This example uses a synthetic binary problem and
then scikit-learn's handwritten digits.
"""

# %%
# Members with different calibration
# ----------------------------------
# Gaussian naive Bayes pushes its probabilities towards 0 and 1, a random
# forest keeps them away from the extremes, and a logistic regression is
# usually close to calibrated. They are fitted on one half of the data and
# diagnosed on the other.
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sftfusion import SFTClassifier
from sftfusion.plotting import MemberWeightsDisplay, ReliabilityDiagramDisplay

X, y = make_classification(
    n_samples=6000,
    n_features=20,
    n_informative=4,
    n_redundant=8,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)
members = [
    ("logreg", LogisticRegression()),
    ("bayes", GaussianNB()),
    ("forest", RandomForestClassifier(n_estimators=100, random_state=0)),
]
frozen = [
    (name, FrozenEstimator(estimator.fit(X_train, y_train)))
    for name, estimator in members
]

# %%
# Two temperatures side by side
# -----------------------------
# Each panel shows the fused model as a thick black line and the three members
# as thin lines. The members are the same in both panels.
figure, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
for ax, temperature in zip(axes, [1.0, 0.1], strict=True):
    fusion = SFTClassifier(frozen, temperature=temperature).fit(X_train, y_train)
    ReliabilityDiagramDisplay.from_estimator(
        fusion, X_test, y_test, name=f"SFT, T={temperature:g}", ax=ax
    )

# %%
# Both fused curves are S-shaped: below the diagonal at low predicted
# probabilities and above it at high ones. The fused model is under-confident
# here, its probabilities too close to 0.5. At ``T = 1`` the fusion is close to
# averaging, and averaging members that disagree pulls probabilities towards
# the middle. At ``T = 0.1`` the S is steeper: with two classes, each class
# takes the probability of the member most confident about it, so when two
# members disagree both classes score high and the renormalised result lands
# near 0.5. Accuracy alone would not show this. Where calibrated
# probabilities matter, calibrate the fused model, for example with
# :class:`~sklearn.calibration.CalibratedClassifierCV`.
#
# Prior weights
# -------------
# Prior weights move the fusion towards the members you trust. Here the
# random forest, whose test log-loss is about half that of the other two
# members on this data, gets twice the weight of each of them.
# :class:`~sftfusion.plotting.MemberWeightsDisplay` shows the normalised
# weights; the dotted line marks uniform weights.
weighted = SFTClassifier(frozen, temperature=1.0, weights=[1, 1, 2])
weighted.fit(X_train, y_train)
display = MemberWeightsDisplay.from_estimator(weighted)

# %%
# Many classes: top-label confidence
# ----------------------------------
# With more than two classes, and without a ``pos_label``, the diagram bins
# each sample's highest probability against whether that class is correct.
# Pass ``pos_label`` to draw one class against the rest instead.
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
digits_model = SFTClassifier(
    [
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        ("bayes", GaussianNB()),
        ("knn", KNeighborsClassifier(n_neighbors=10)),
    ],
    temperature=0.3,
).fit(X_train, y_train)
display = ReliabilityDiagramDisplay.from_estimator(
    digits_model, X_test, y_test, n_bins=8, strategy="quantile"
)
