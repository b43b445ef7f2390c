"""Tests of the demo comparison and of the command line."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from sftfusion.__main__ import main
from sftfusion._demo import compare_methods, format_table, take_rows


def test_compare_methods_scores_every_method(iris):
    X, y = iris
    members = [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    lines = []
    scores = compare_methods(
        members, X, y, temperatures=(1.0, 0.1), n_splits=3, log=lines.append
    )
    names = [entry.name for entry in scores]
    assert names == [
        "lr",
        "nb",
        "VotingClassifier(soft)",
        "SFTClassifier(T=1)",
        "SFTClassifier(T=0.1)",
    ]
    assert len(lines) == 6
    assert lines[0].startswith("fold 1/3: fitted lr in ")
    for entry in scores:
        assert len(entry.accuracy) == 3
        assert 0.8 < np.mean(entry.accuracy) <= 1.0
        assert all(loss > 0 for loss in entry.log_loss)
    member_seconds = np.add(scores[0].fit_seconds, scores[1].fit_seconds)
    assert np.all(np.asarray(scores[2].fit_seconds) >= member_seconds)


def test_compare_methods_text_input():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    texts = [f"good film number {i}" for i in range(10)]
    texts += [f"bad film number {i}" for i in range(10)]
    labels = ["pos"] * 10 + ["neg"] * 10
    members = [("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression()))]
    scores = compare_methods(members, texts, labels, n_splits=2, log=lambda line: None)
    assert np.mean(scores[0].accuracy) == 1.0


def test_format_table_one_row_per_method(iris):
    X, y = iris
    members = [("nb", GaussianNB())]
    scores = compare_methods(members, X, y, n_splits=2, log=lambda line: None)
    table = format_table(scores).splitlines()
    assert table[0].split() == ["method", "accuracy", "log-loss", "fit", "time", "(s)"]
    assert [line.split()[0] for line in table[2:]] == [
        "nb",
        "VotingClassifier(soft)",
        "SFTClassifier(T=1)",
    ]


def test_take_rows_lists_and_frames():
    import pandas as pd

    assert take_rows(["a", "b", "c"], np.array([2, 0])) == ["c", "a"]
    frame = pd.DataFrame({"x": [1, 2, 3]}, index=[10, 20, 30])
    assert take_rows(frame, np.array([1])).index.tolist() == [20]


def test_main_rejects_single_fold():
    with pytest.raises(SystemExit, match="--folds must be at least 2; got 1"):
        main(["demo", "--folds", "1"])


def test_main_requires_command(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "demo" in capsys.readouterr().err


@pytest.mark.slow
def test_main_demo_prints_table(capsys):
    main(["demo", "--folds", "2"])
    output = capsys.readouterr().out
    assert "Handwritten digits: 1797 images" in output
    for name in ["transformer", "logreg", "forest", "knn", "SFTClassifier(T=10)"]:
        assert name in output
