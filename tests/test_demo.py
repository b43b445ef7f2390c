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
    assert table[0].split() == [
        "method",
        "accuracy",
        "log-loss",
        "fit",
        "time",
        "(s)",
        "predict",
        "(s)",
    ]
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


def test_compare_methods_learned_row(iris):
    X, y = iris
    members = [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    scores = compare_methods(
        members, X, y, learn=True, n_splits=3, log=lambda line: None
    )
    learned = scores[-1]
    assert learned.name == "SFTClassifier(learned)"
    assert len(learned.accuracy) == 3
    assert np.mean(learned.accuracy) > 0.9
    assert all(seconds > 0 for seconds in learned.predict_seconds)


class CountingLogisticRegression(LogisticRegression):
    """A logistic regression that counts its fits in ``FIT_CALLS``."""

    def fit(self, X, y, sample_weight=None):
        FIT_CALLS.append(len(y))
        return super().fit(X, y, sample_weight=sample_weight)


FIT_CALLS = []


def test_learned_row_reuses_member_fits(iris):
    # 3 outer folds of 150 samples: 100 training rows, then 2 inner folds of 50.
    # The learned fusion's final fit on the 100 rows loads the outer fit.
    X, y = iris
    FIT_CALLS.clear()
    members = [("lr", CountingLogisticRegression(max_iter=1000))]
    compare_methods(
        members, X, y, learn=True, learn_folds=2, n_splits=3, log=lambda line: None
    )
    assert sorted(FIT_CALLS) == [50] * 6 + [100] * 3


def test_main_text_demo_on_sentence_file(tmp_path, capsys):
    import sftfusion._demo as demo

    lines = [f"a good and fine film {i}\tyes" for i in range(12)]
    lines += [f"a bad and dull film {i}\tno" for i in range(12)]
    path = tmp_path / "sentences.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def tfidf_members(random_state=0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline

        return [("tfidf", make_pipeline(TfidfVectorizer(), LogisticRegression()))]

    original = demo.text_members
    demo.text_members = tfidf_members
    try:
        main(["demo", "--text", str(path), "--folds", "2"])
    finally:
        demo.text_members = original
    output = capsys.readouterr().out
    assert f"Labelled sentences from {path}: 24 sentences, 2 classes" in output
    assert "SFTClassifier(T=10)" in output


def test_main_text_demo_missing_path(tmp_path):
    missing = tmp_path / "absent.txt"
    with pytest.raises(SystemExit, match="--text: no file or folder at"):
        main(["demo", "--text", str(missing)])


def test_main_rejects_small_limit():
    with pytest.raises(
        SystemExit, match=r"--limit must be at least twice --folds \(10\); got 9"
    ):
        main(["demo", "--limit", "9"])


def test_main_rejects_single_inner_fold():
    with pytest.raises(SystemExit, match="--learn-folds must be at least 2; got 1"):
        main(["demo", "--learn", "--learn-folds", "1"])


def test_main_rejects_single_fold():
    with pytest.raises(SystemExit, match="--folds must be at least 2; got 1"):
        main(["demo", "--folds", "1"])


def test_main_requires_command(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "demo" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.transformers
def test_main_text_demo_real_minilm(capsys, sentences_dir):
    pytest.importorskip("transformers")
    main(["demo", "--text", str(sentences_dir), "--folds", "2", "--limit", "300"])
    output = capsys.readouterr().out
    assert "a stratified subset of 300" in output
    rows = {line.split()[0]: line.split() for line in output.splitlines()[3:]}
    for name in ["finetuned_minilm", "frozen_minilm", "word_tfidf", "char_tfidf"]:
        assert float(rows[name][1]) > 0.6


@pytest.mark.slow
def test_main_demo_prints_table(capsys):
    main(["demo", "--folds", "2"])
    output = capsys.readouterr().out
    assert "Handwritten digits: 1797 images" in output
    for name in ["transformer", "logreg", "forest", "knn", "SFTClassifier(T=10)"]:
        assert name in output
