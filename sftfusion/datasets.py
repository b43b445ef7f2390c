"""Loaders for labelled sentence files with one ``sentence<TAB>label`` per line.

:func:`load_sentences` reads one such file with labels of any type.
:func:`load_sentiment_labelled_sentences` reads the three files of the UCI
"Sentiment Labelled Sentences" dataset (Kotzias, 2015) from a folder.

The files are split by hand instead of with ``csv`` or ``pandas.read_csv``:
sentences contain unpaired double quotes, which default CSV quoting reads as
the start of a quoted field, swallowing many lines into one. Lines are split on
``\\n`` only, because ``str.splitlines`` also splits on the NEL character
(U+0085) that occurs inside some sentences.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "UCI_SENTIMENT_FILES",
    "load_sentences",
    "load_sentiment_labelled_sentences",
]

# Source name -> file name in the UCI archive "sentiment labelled sentences".
UCI_SENTIMENT_FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}


def _convert_labels(labels: list[str], label_type, path) -> np.ndarray:
    if label_type is None:
        try:
            return np.array([int(label) for label in labels], dtype=np.int64)
        except ValueError:
            return np.array(labels, dtype=object)

    converted = []
    for index, label in enumerate(labels):
        try:
            converted.append(label_type(label))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Label {label!r} of row {index} in {str(path)!r} cannot be "
                f"converted by label_type={label_type!r}. Pass a label_type that "
                "accepts every label, or label_type=None to infer it."
            ) from exc
    result = np.array(converted)
    if result.dtype.kind == "U":
        # str labels stay Python str objects, as with label_type=None.
        result = result.astype(object)
    return result


def load_sentences(path, *, label_type=None, encoding="utf-8"):
    """Load a text file with one ``sentence<TAB>label`` pair per line.

    Each line is split on its last TAB, so a sentence may contain TABs but a
    label may not. No quoting is applied: double quotes are ordinary
    characters. Sentences are returned verbatim, trailing spaces included.
    Labels have surrounding whitespace removed. Empty lines, including the one
    after a final newline, are skipped. A ``\\r`` before the ``\\n`` is removed.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the file.

    label_type : callable or None, default=None
        Converts each label string, for example ``int``, ``float`` or ``str``.
        None gives int64 labels when every label is an integer literal, and str
        labels otherwise.

    encoding : str, default='utf-8'
        Text encoding of the file.

    Returns
    -------
    sentences : ndarray of shape (n_samples,), dtype object
        The sentences, as str.

    labels : ndarray of shape (n_samples,)
        The labels, int64 or object (str) with ``label_type=None``.

    Raises
    ------
    ValueError
        If a non-empty line has no TAB or an empty label, if ``label_type``
        rejects a label, or if the file has no labelled line.

    Examples
    --------
    >>> from sftfusion.datasets import load_sentences
    >>> X, y = load_sentences("yelp_labelled.txt")  # doctest: +SKIP
    >>> X[0], y[0]  # doctest: +SKIP
    ('Wow... Loved this place.', np.int64(1))
    """
    with open(path, encoding=encoding, newline="") as stream:
        content = stream.read()

    sentences: list[str] = []
    labels: list[str] = []
    for line_number, line in enumerate(content.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line:
            continue

        sentence, tab, label = line.rpartition("\t")
        label = label.strip()
        if not tab or not label:
            raise ValueError(
                f"Line {line_number} of {str(path)!r} must have the form "
                f"'sentence<TAB>label'; got {line[:80]!r}. Check that the file "
                "separates sentence and label with a TAB character."
            )
        sentences.append(sentence)
        labels.append(label)

    if not sentences:
        raise ValueError(
            f"The file {str(path)!r} contains no 'sentence<TAB>label' line. Check "
            "the path and the file's encoding."
        )
    return (
        np.array(sentences, dtype=object),
        _convert_labels(labels, label_type, path),
    )


def load_sentiment_labelled_sentences(
    folder, *, sources=None, drop_duplicates=False, return_X_y=False
):
    """Load the UCI "Sentiment Labelled Sentences" files from a local folder.

    The dataset (Kotzias, 2015; UCI dataset 331, CC BY 4.0) has 1,000 review
    sentences from each of amazon.com, imdb.com and yelp.com, labelled 0
    (negative) or 1 (positive), 500 of each per source. Nothing is downloaded:
    ``folder`` must contain the files named in :data:`UCI_SENTIMENT_FILES`.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder that contains the files.

    sources : list of {'amazon', 'imdb', 'yelp'} or None, default=None
        Sources to load, in this order. None loads all three.

    drop_duplicates : bool, default=False
        Whether to keep only the first occurrence of a sentence that repeats
        verbatim. Every source repeats a few sentences, and a repeat split
        between training and test data inflates held-out scores.

    return_X_y : bool, default=False
        Whether to return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (ndarray of str, dtype object), ``target`` (int64 ndarray
        of 0 and 1), ``source`` (ndarray of source names), ``target_names``
        (``['negative', 'positive']``) and ``filenames`` (list of str).

    (data, target) : tuple
        When ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If ``sources`` names an unknown source or a file has a label other
        than 0 or 1.
    FileNotFoundError
        If a file is missing from ``folder``.
    """
    if sources is None:
        sources = list(UCI_SENTIMENT_FILES)
    unknown = [source for source in sources if source not in UCI_SENTIMENT_FILES]
    if unknown:
        raise ValueError(
            f"The 'sources' parameter must contain names from "
            f"{sorted(UCI_SENTIMENT_FILES)!r}; got the unknown names {unknown!r}."
        )

    folder = Path(os.fspath(folder))
    all_sentences, all_labels, all_sources, filenames = [], [], [], []
    for source in sources:
        path = folder / UCI_SENTIMENT_FILES[source]
        if not path.is_file():
            raise FileNotFoundError(
                f"The {source} file {UCI_SENTIMENT_FILES[source]!r} is missing from "
                f"{str(folder)!r}. Pass the folder of the unpacked UCI archive "
                "'sentiment labelled sentences', or leave this source out of "
                "'sources'."
            )
        sentences, labels = load_sentences(path, label_type=int)
        invalid = sorted(set(labels.tolist()) - {0, 1})
        if invalid:
            raise ValueError(
                f"The labels of {str(path)!r} must be 0 or 1; got also {invalid!r}. "
                "Check that the file is the UCI original."
            )
        all_sentences.append(sentences)
        all_labels.append(labels.astype(np.int64))
        all_sources.append(np.full(len(sentences), source, dtype=object))
        filenames.append(str(path))

    data = np.concatenate(all_sentences)
    target = np.concatenate(all_labels)
    source = np.concatenate(all_sources)
    if drop_duplicates:
        _, first = np.unique(data.astype(str), return_index=True)
        keep = np.sort(first)
        data, target, source = data[keep], target[keep], source[keep]

    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        source=source,
        target_names=np.array(["negative", "positive"], dtype=object),
        filenames=filenames,
    )
