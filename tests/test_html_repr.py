"""Tests of SFTClassifier's HTML representation, the one notebooks display."""

import re

from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr

from sftfusion import SFTClassifier


def html_members():
    return [
        ("scaled_lr", make_pipeline(StandardScaler(), LogisticRegression())),
        ("off", "drop"),
        ("nb", GaussianNB()),
    ]


def label_texts(html):
    """Return the text of every estimator label in the HTML, in order."""
    return re.findall(r"<label[^>]*>(?:<div>)*([^<]+)", html)


def test_html_repr_shows_members_in_parallel():
    html = estimator_html_repr(SFTClassifier(html_members()))
    assert 'class="sk-parallel"' in html
    assert html.count('class="sk-parallel-item"') == 3


def test_html_repr_labels_members_by_name():
    labels = label_texts(estimator_html_repr(SFTClassifier(html_members())))
    assert labels.index("SFTClassifier") < labels.index("scaled_lr")
    assert labels.index("scaled_lr") < labels.index("off") < labels.index("nb")
    for inner in ("StandardScaler", "LogisticRegression", "GaussianNB", "drop"):
        assert inner in labels


def test_html_repr_unfitted_members_marked_unfitted():
    html = estimator_html_repr(SFTClassifier(html_members()))
    assert "sk-estimator fitted" not in html


def test_html_repr_fitted_shows_fitted_members(iris):
    X, y = iris
    model = SFTClassifier(html_members()).fit(X, y)
    html = estimator_html_repr(model)
    # Every estimator box (the ensemble, the pipeline's steps and GaussianNB)
    # is drawn as fitted, because the blocks are the fitted members.
    assert len(re.findall(r'class="sk-estimator fitted', html)) >= 4
    assert 'class="sk-estimator  sk-toggleable' not in html
    assert html.count('class="sk-parallel-item"') == 3


def test_html_repr_malformed_estimators_still_renders():
    # The parameter is validated in fit, but a notebook shows the object before.
    html = estimator_html_repr(SFTClassifier("not a list"))
    assert "SFTClassifier" in html


def test_repr_html_method_shows_members():
    # Jupyter calls _repr_html_; it must draw the same member blocks.
    html = SFTClassifier(html_members())._repr_html_()
    assert html.count('class="sk-parallel-item"') == 3
    assert "scaled_lr" in label_texts(html)
