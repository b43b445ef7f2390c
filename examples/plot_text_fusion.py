"""
============================================
Fusing a sentence encoder with TF-IDF models
============================================

This example fuses three text classifiers on the UCI "Sentiment Labelled
Sentences" (Kotzias, 2015): 3,000 review sentences from Amazon, IMDb and Yelp,
labelled 0 (negative) or 1 (positive). The members are a logistic regression
on the embeddings of the frozen all-MiniLM-L6-v2 encoder, a logistic
regression on word TF-IDF features and one on character TF-IDF features. On a
held-out test set it compares each member, soft voting,
:class:`~sftfusion.SFTClassifier` at ``T = 1`` and learned fusion.

.. note::

    The sentences are not bundled with sftfusion. Download the archive
    "Sentiment Labelled Sentences" from the UCI Machine Learning Repository
    (https://archive.ics.uci.edu/dataset/331/sentiment+labelled+sentences,
    CC BY 4.0), unpack it and set the environment variable
    ``SFTFUSION_SENTENCES_DIR`` to the folder that contains
    ``amazon_cells_labelled.txt``, ``imdb_labelled.txt`` and
    ``yelp_labelled.txt``. Without the variable the example reads
    ``../shared/data/sentiment_labelled_sentences``, relative to the folder
    it runs in. A documentation build that finds no sentences shows this page
    without output.

The MiniLM member needs the ``text`` extra (``pip install "sftfusion[text]"``).
Fine-tuning MiniLM with :class:`~sftfusion.models.TextTransformerClassifier`
takes minutes per fit on a CPU, so it is left out here. ``python -m sftfusion
demo --text PATH`` runs the full comparison with it, with 5-fold
cross-validation.
"""

# %%
# Data
# ----
# Every source repeats a few sentences verbatim. ``drop_duplicates=True``
# keeps the first of each, so that no test sentence is also a training
# sentence.
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import VotingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sftfusion import SFTClassifier
from sftfusion.datasets import load_sentiment_labelled_sentences
from sftfusion.models import FrozenEncoderClassifier, clear_encoder_cache
from sftfusion.plotting import MemberWeightsDisplay, ReliabilityDiagramDisplay

data_dir = os.environ.get(
    "SFTFUSION_SENTENCES_DIR", "../shared/data/sentiment_labelled_sentences"
)
X, y = load_sentiment_labelled_sentences(
    data_dir, drop_duplicates=True, return_X_y=True
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
print(f"{len(X)} distinct sentences: {len(X_train)} to train, {len(X_test)} to test")
print(f"positive share: {y.mean():.3f}")

# %%
# Members
# -------
# All three members take the raw sentences. The MiniLM member embeds each
# sentence once, with the encoder's weights frozen, and fits a logistic
# regression on the 384-dimensional embeddings. It keeps the embeddings in a
# per-process cache, so the repeated fits below encode every sentence only
# once. The two TF-IDF members see words and word pairs, and character
# 2- to 5-grams within words.
members = [
    ("minilm", FrozenEncoderClassifier()),
    (
        "word_tfidf",
        make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(C=10, max_iter=5000),
        ),
    ),
    (
        "char_tfidf",
        make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            LogisticRegression(C=10, max_iter=5000),
        ),
    ),
]

# %%
# Learned fusion
# --------------
# ``temperature="learn"`` and ``weights="learn"`` fit :math:`T` and the prior
# weights :math:`\pi` on the members' out-of-fold probabilities, from the
# default 5-fold ``cv`` on the training set. ``pool="auto"`` keeps the linear
# or the log pool, whichever has the lower out-of-fold log-loss. Each member is
# fitted 6 times: once per fold and once more on the whole training set.
learned = SFTClassifier(members, temperature="learn", weights="learn", pool="auto")
learned.fit(X_train, y_train)

# %%
# The fixed methods reuse the members that the learned fusion fitted on the
# whole training set, wrapped in :class:`sklearn.frozen.FrozenEstimator`, so
# every row of the table below combines the same member models.
fitted = dict(learned.named_estimators_)
frozen = [(name, FrozenEstimator(member)) for name, member in fitted.items()]
models = {
    **fitted,
    "soft voting": VotingClassifier(frozen, voting="soft").fit(X_train, y_train),
    "SFT T=1": SFTClassifier(frozen, temperature=1.0).fit(X_train, y_train),
    "SFT learned": learned,
}

# %%
# Test-set scores
# ---------------
rows = []
for name, model in models.items():
    proba = model.predict_proba(X_test)
    predicted = model.classes_[np.argmax(proba, axis=1)]
    rows.append(
        {
            "method": name,
            "test accuracy": accuracy_score(y_test, predicted),
            "test log-loss": log_loss(y_test, proba),
        }
    )
scores = pd.DataFrame(rows).set_index("method")
print(scores.round(4).to_string())
print(
    f"learned: T = {learned.temperature_:.3g}, pool = {learned.pool_}, "
    f"weights = {np.round(learned.weights_, 3)}"
)

fused_predicted = learned.predict(X_test)
minilm_predicted = fitted["minilm"].predict(X_test)
disagree = fused_predicted != minilm_predicted
print(
    f"learned fusion and minilm disagree on {disagree.sum()} of {len(y_test)} "
    f"test sentences; the fusion is right on "
    f"{(fused_predicted == y_test)[disagree].sum()} of them"
)

# %%
# MiniLM is the strongest member by a wide margin. Soft voting and ``T = 1``
# give every member the same prior weight, and the two weaker TF-IDF members
# pull both below MiniLM alone, in accuracy and in log-loss. At ``T = 1`` the
# softmax weights of two members differ by at most a factor e, so the fusion
# stays close to averaging and cannot ignore a weak member by itself.
#
# Learned fusion gives MiniLM most of the prior weight, a little to the
# character TF-IDF model and almost none to the word TF-IDF model, and keeps
# the log pool. Its temperature went to the top of its range, 1e4, where the
# softmax weights no longer depend on the members' confidence: the fusion is
# a weighted geometric mean of the members' probabilities. It scores slightly
# better than MiniLM alone on the test set, but the two disagree on only a
# handful of sentences. With 895 test sentences, one standard error of an
# accuracy near 0.89 is about 0.01. This split shows that learned fusion no
# longer loses to its best member, but not that it beats it.
# Cross-validation, as in ``python -m sftfusion demo --text PATH --learn``,
# gives means and spreads.
#
# The out-of-fold scores
# ----------------------
# ``cv_results_`` contains the held-out scores of the training folds that the
# learned parameters and the pool were chosen on.
pd.DataFrame(learned.cv_results_)

# %%
# The learned weights
# -------------------
# :class:`~sftfusion.plotting.MemberWeightsDisplay` draws the learned prior
# weights. The dotted line marks uniform weights.
display = MemberWeightsDisplay.from_estimator(learned)

# %%
# Reliability of the fusion and its members
# -----------------------------------------
# Each panel bins the test sentences by their predicted probability of a
# positive review and plots the observed share of positive reviews in each
# bin. A calibrated model lies on the diagonal. The members are the same in
# both panels.
figure, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
for ax, name in zip(axes, ["SFT T=1", "SFT learned"], strict=True):
    ReliabilityDiagramDisplay.from_estimator(
        models[name], X_test, y_test, n_bins=8, name=name, ax=ax
    )
    ax.set_title(name)

# %%
# At ``T = 1`` the fused curve is a steep S: of the sentences given a
# probability near 0.3, about one in eight is positive, and of those near
# 0.7, more than nine in ten. The fusion is under-confident, because
# averaging MiniLM with two members that often disagree with it pulls its
# probabilities towards 0.5. The learned fusion's curve follows MiniLM's.
# Both are a little under-confident between 0.3 and 0.7 too, far less than
# the fusion at ``T = 1``. Fine-tuning MiniLM on the sentences
# (:class:`~sftfusion.models.TextTransformerClassifier`) gives a fourth,
# usually stronger member. ``python -m sftfusion demo --text PATH`` fits it
# on every fold.
#
# The loaded encoder and the embeddings stay in memory for the rest of the
# process, so that later fits reuse them. Free them when they are no longer
# needed.
clear_encoder_cache()
