"""Run the Examples sections of the public docstrings as doctests."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module_name",
    [
        "sftfusion._fusion",
        "sftfusion._classifier",
        "sftfusion.datasets",
        "sftfusion.models._encoder",
        "sftfusion.models._sequence",
        "sftfusion.models._text",
        "sftfusion.persistence",
    ],
)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
