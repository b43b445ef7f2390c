"""Sphinx configuration of the sftfusion documentation.

Build it from the repository root with ``make docs``, which turns every warning
into an error. The build needs no network: the gallery examples use
scikit-learn's bundled data sets or local files, and MathJax is served from the
build itself.
"""

import os
import re
from pathlib import Path

# The gallery trains small torch networks. On a 2-core machine shared with other
# work, torch's default of one thread per core made a 10-epoch digits fit about
# three times slower than one thread (8.1 s against 2.8 s).
import torch
from threadpoolctl import threadpool_limits

import sftfusion
from sftfusion.datasets import UCI_SENTIMENT_FILES

torch.set_num_threads(1)
# The BLAS and OpenMP thread pools of numpy, scipy and scikit-learn contend
# the same way. At a load average near 6, fitting LogisticRegression(C=10) on
# 2,088 rows of word TF-IDF features took 1.9 s with one thread per core and
# 0.02 s with one thread.
threadpool_limits(limits=1)
os.environ.setdefault("MPLBACKEND", "Agg")

project = "sftfusion"
author = "the sftfusion developers"
copyright = "the sftfusion developers"
release = sftfusion.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md", "auto_examples/*.ipynb", "**.py"]
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# API reference: one page per public object, from its numpydoc docstring.
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every public docstring must have these sections and a well-formed layout.
numpydoc_validation_checks = {"all", "GL01", "GL02", "ES01", "SA01", "EX01", "RT02"}
numpydoc_validation_exclude = {
    # scikit-learn's methods, inherited or generated for metadata routing.
    r"\.score$",
    r"\.set_.*_request$",
    r"\.get_metadata_routing$",
    r"\.__init__$",
}

html_theme = "pydata_sphinx_theme"
html_title = f"sftfusion {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    # Every top-level page in the navigation bar, none behind a "More" menu.
    "header_links_before_dropdown": 8,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without a left sidebar: the short top-level pages, and the gallery
# examples, whose code cells and estimator diagrams need the width.
html_sidebars = {
    "index": [],
    "install": [],
    "quickstart": [],
    "changelog": [],
    "benchmarks": [],
    "auto_examples/plot_*": [],
}
html_show_sourcelink = False

# The text example reads the UCI Sentiment Labelled Sentences, which are not
# bundled. As in tests/conftest.py, SFTFUSION_SENTENCES_DIR names their folder
# and defaults to the shared data folder beside the repository. The example
# runs in examples/ without __file__, so it reads the absolute path from the
# variable.
os.environ.setdefault(
    "SFTFUSION_SENTENCES_DIR",
    str(
        Path(__file__).resolve().parents[2]
        / "shared"
        / "data"
        / "sentiment_labelled_sentences"
    ),
)
SENTENCES_DIR = Path(os.environ["SFTFUSION_SENTENCES_DIR"])
HAS_SENTENCES = all(
    (SENTENCES_DIR / name).is_file() for name in UCI_SENTIMENT_FILES.values()
)

# Gallery: every examples/plot_*.py runs during the build and its figures,
# printed output and final expressions appear on its page. Without the
# sentences, the text example's page shows its code and no output.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_" if HAS_SENTENCES else r"/plot_(?!text_fusion)",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sftfusion",),
    "backreferences_dir": "gen_modules/backreferences",
    "capture_repr": ("_repr_html_", "__repr__"),
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
    "matplotlib_animations": False,
}


# A numpydoc shape such as "ndarray of shape (n_features_in_,)" ends a word with
# an underscore, which reStructuredText reads as a link to a target of that name.
# Escaping the underscore keeps the docstrings in scikit-learn's usual grammar.
_SHAPE_WITH_ATTRIBUTE = re.compile(r"\((\w+?)_,\)")


def _escape_attribute_shapes(app, what, name, obj, options, lines):
    lines[:] = [_SHAPE_WITH_ATTRIBUTE.sub(r"(\1\\_,)", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _escape_attribute_shapes)
