"""Tests of the sentence file loaders in sftfusion.datasets."""

from pathlib import Path

import numpy as np
import pytest

from sftfusion.datasets import (
    UCI_SENTIMENT_FILES,
    load_sentences,
    load_sentiment_labelled_sentences,
)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def uci_folder(tmp_path):
    """A folder with three small files in the UCI layout."""
    write(tmp_path / "amazon_cells_labelled.txt", "Great phone.\t1\nBad case.\t0\n")
    write(
        tmp_path / "imdb_labelled.txt",
        'A "classic", they say.  \t1\nGreat phone.\t1\nDull.  \t0\n',
    )
    write(tmp_path / "yelp_labelled.txt", "Loved it.\t1\n")
    return tmp_path


# load_sentences --------------------------------------------------------------


def test_load_sentences_integer_labels(tmp_path):
    path = write(tmp_path / "s.txt", "good one\t1\nbad one\t0\n")

    sentences, labels = load_sentences(path)

    assert list(sentences) == ["good one", "bad one"]
    assert sentences.dtype == object
    assert labels.dtype == np.int64
    assert list(labels) == [1, 0]


def test_load_sentences_string_labels(tmp_path):
    path = write(tmp_path / "s.txt", "good one\tpos\nbad one\tneg\nmeh\t2\n")

    _, labels = load_sentences(path)

    assert labels.dtype == object
    assert list(labels) == ["pos", "neg", "2"]


@pytest.mark.parametrize(
    "label_type, expected",
    [(float, [1.0, 0.5]), (str, ["1", "0.5"])],
)
def test_load_sentences_label_type(tmp_path, label_type, expected):
    path = write(tmp_path / "s.txt", "a\t1\nb\t0.5\n")

    _, labels = load_sentences(path, label_type=label_type)

    assert list(labels) == expected
    assert all(type(label) is type(expected[0]) for label in labels.tolist())


def test_load_sentences_splits_on_last_tab(tmp_path):
    path = write(tmp_path / "s.txt", "left\tright\t1\n")

    sentences, labels = load_sentences(path)

    assert list(sentences) == ["left\tright"]
    assert list(labels) == [1]


def test_load_sentences_keeps_quotes(tmp_path):
    # Default CSV quoting would merge these lines into one field.
    text = 'He said "wow.\t1\nThen "nothing\t0\nEnd.\t1\n'
    path = write(tmp_path / "s.txt", text)

    sentences, _ = load_sentences(path)

    assert list(sentences) == ['He said "wow.', 'Then "nothing', "End."]


def test_load_sentences_keeps_nel_inside_sentence(tmp_path):
    path = write(tmp_path / "s.txt", "before\u0085after\t1\nnext\t0\n")

    sentences, _ = load_sentences(path)

    assert list(sentences) == ["before\u0085after", "next"]


def test_load_sentences_handles_crlf_and_blank_lines(tmp_path):
    path = write(tmp_path / "s.txt", "one\t1\r\n\r\ntwo \t 0 \r\n\n")

    sentences, labels = load_sentences(path)

    assert list(sentences) == ["one", "two "]
    assert list(labels) == [1, 0]


def test_load_sentences_without_final_newline(tmp_path):
    path = write(tmp_path / "s.txt", "one\t1\ntwo\t0")

    sentences, _ = load_sentences(path)

    assert list(sentences) == ["one", "two"]


def test_load_sentences_keeps_trailing_spaces(tmp_path):
    path = write(tmp_path / "s.txt", "padded  \t1\n")

    sentences, _ = load_sentences(path)

    assert sentences[0] == "padded  "


def test_load_sentences_other_encoding(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes("café\t1\n".encode("latin-1"))

    sentences, _ = load_sentences(path, encoding="latin-1")

    assert sentences[0] == "café"


@pytest.mark.parametrize(
    "text, match",
    [
        ("good\t1\nno tab here\n", r"Line 2 of .* got 'no tab here'"),
        ("good\t1\nempty label\t \n", r"Line 2 of .*'sentence<TAB>label'"),
        ("", r"contains no 'sentence<TAB>label' line"),
        ("\n\n", r"contains no 'sentence<TAB>label' line"),
    ],
)
def test_load_sentences_rejects_malformed_files(tmp_path, text, match):
    path = write(tmp_path / "s.txt", text)

    with pytest.raises(ValueError, match=match):
        load_sentences(path)


def test_load_sentences_rejects_unconvertible_label(tmp_path):
    path = write(tmp_path / "s.txt", "a\t1\nb\tpositive\n")

    with pytest.raises(ValueError, match=r"Label 'positive' of row 1 .*label_type"):
        load_sentences(path, label_type=int)


def test_load_sentences_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_sentences(tmp_path / "missing.txt")


# load_sentiment_labelled_sentences -------------------------------------------


def test_uci_loader_bunch(uci_folder):
    data = load_sentiment_labelled_sentences(uci_folder)

    assert list(data.data) == [
        "Great phone.",
        "Bad case.",
        'A "classic", they say.  ',
        "Great phone.",
        "Dull.  ",
        "Loved it.",
    ]
    assert data.target.dtype == np.int64
    assert list(data.target) == [1, 0, 1, 1, 0, 1]
    assert list(data.source) == ["amazon", "amazon", "imdb", "imdb", "imdb", "yelp"]
    assert list(data.target_names) == ["negative", "positive"]
    assert [Path(name).name for name in data.filenames] == list(
        UCI_SENTIMENT_FILES.values()
    )


def test_uci_loader_sources_in_given_order(uci_folder):
    data = load_sentiment_labelled_sentences(uci_folder, sources=["yelp", "amazon"])

    assert list(data.source) == ["yelp", "amazon", "amazon"]


def test_uci_loader_drop_duplicates_keeps_first(uci_folder):
    data = load_sentiment_labelled_sentences(uci_folder, drop_duplicates=True)

    assert list(data.data).count("Great phone.") == 1
    assert len(data.data) == 5
    assert list(data.source) == ["amazon", "amazon", "imdb", "imdb", "yelp"]


def test_uci_loader_return_X_y(uci_folder):
    X, y = load_sentiment_labelled_sentences(uci_folder, return_X_y=True)

    assert len(X) == len(y) == 6


def test_uci_loader_rejects_unknown_source(uci_folder):
    with pytest.raises(ValueError, match=r"unknown names \['twitter'\]"):
        load_sentiment_labelled_sentences(uci_folder, sources=["yelp", "twitter"])


def test_uci_loader_missing_file(uci_folder):
    (uci_folder / "yelp_labelled.txt").unlink()

    with pytest.raises(FileNotFoundError, match=r"yelp file 'yelp_labelled.txt'"):
        load_sentiment_labelled_sentences(uci_folder)


def test_uci_loader_rejects_other_labels(uci_folder):
    write(uci_folder / "yelp_labelled.txt", "Loved it.\t2\n")

    with pytest.raises(ValueError, match=r"must be 0 or 1; got also \[2\]"):
        load_sentiment_labelled_sentences(uci_folder)


def test_uci_loader_on_real_files(sentences_dir):

    data = load_sentiment_labelled_sentences(sentences_dir)
    unique = load_sentiment_labelled_sentences(sentences_dir, drop_duplicates=True)

    assert len(data.data) == 3000
    assert int(data.target.sum()) == 1500
    for source in UCI_SENTIMENT_FILES:
        assert int(np.sum(data.source == source)) == 1000
    # 10 amazon, 3 imdb and 4 yelp sentences repeat within their file.
    assert len(unique.data) == 3000 - 17
