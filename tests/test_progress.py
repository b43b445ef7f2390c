"""Tests of the verbose progress lines: their layout is scikit-learn's, character
for character, so that logs of SFTClassifier read like those of Pipeline or
VotingClassifier."""

import re

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from sftfusion import SFTClassifier
from sftfusion._members import format_progress

HEAD = "[SFTClassifier] ................ (1 of 3) Processing lr, total="


@pytest.mark.parametrize(
    ("seconds", "duration"),
    [
        (0.0, "   0.0s"),
        (0.04, "   0.0s"),
        (12.34, "  12.3s"),
        (60.0, "  60.0s"),
        (61.0, " 1.0min"),
        (3600.0, "60.0min"),
    ],
)
def test_format_progress_layout(seconds, duration):
    line = format_progress("SFTClassifier", "(1 of 3) Processing lr", seconds)
    assert line == HEAD + duration
    assert len(line) == 70


def test_format_progress_long_message_has_no_dots():
    message = "(1 of 1) Processing " + "m" * 60
    line = format_progress("SFTClassifier", message, 1.0)
    assert line == f"[SFTClassifier]  {message}, total=   1.0s"


def test_fit_verbose_prints_pinned_lines(iris, capsys):
    X, y = iris
    members = [
        ("lr", LogisticRegression(max_iter=1000)),
        ("off", "drop"),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
    ]
    SFTClassifier(members, verbose=1).fit(X, y)

    lines = capsys.readouterr().out.splitlines()
    # The time is the only part that varies: 7 characters, "   0.0s" to "  60.0s".
    duration = r"[ \d]{4}\.\ds"
    assert len(lines) == 3
    assert re.fullmatch(
        rf"\[SFTClassifier\] \.{{16}} \(1 of 3\) Processing lr, total={duration}",
        lines[0],
    )
    assert re.fullmatch(
        rf"\[SFTClassifier\] \.{{16}} \(2 of 3\) Processing nb, total={duration}",
        lines[1],
    )
    assert re.fullmatch(
        rf"\[SFTClassifier\] \.{{14}} \(3 of 3\) Processing tree, total={duration}",
        lines[2],
    )


def test_learned_fit_verbose_prints_fold_lines(iris, capsys):
    X, y = iris
    members = [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    SFTClassifier(members, weights="learn", pool="auto", cv=2, verbose=1).fit(X, y)

    lines = capsys.readouterr().out.splitlines()
    duration = r"[ \d]{4}\.\ds"
    # One line per fit, in job order: each member on each fold, then on all
    # samples. Then one line per pool whose parameters were learned.
    fits = [
        ("1 of 6", "lr, fold 1 of 2"),
        ("2 of 6", "lr, fold 2 of 2"),
        ("3 of 6", "lr, all samples"),
        ("4 of 6", "nb, fold 1 of 2"),
        ("5 of 6", "nb, fold 2 of 2"),
        ("6 of 6", "nb, all samples"),
    ]
    assert len(lines) == 8
    for line, (position, what) in zip(lines, fits, strict=False):
        pattern = (
            rf"\[SFTClassifier\] \.{{3}} \({position}\) Processing {what}, "
            rf"total={duration}"
        )
        assert re.fullmatch(pattern, line)
        assert len(line) == 70
    # These messages are longer than the 70 columns, so no dots pad them.
    for line, pool in zip(lines[6:], ["linear", "log"], strict=True):
        pattern = (
            rf"\[SFTClassifier\]  Learning the fusion parameters, "
            rf"pool='{pool}', total={duration}"
        )
        assert re.fullmatch(pattern, line)
