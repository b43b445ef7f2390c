"""Torch helpers that the skorch-based members share.

Each member resolves its ``device`` parameter, seeds torch for one fit without
touching the caller's random state, encodes the labels for the net and turns the
net's float32 logits into float64 probabilities. These steps are written once
here.
"""

from __future__ import annotations

import contextlib
from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import log_softmax
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state

from sftfusion._compat import Interval

# Constraints of the training parameters that every skorch-based member has.
TRAINING_PARAMETER_CONSTRAINTS: dict = {
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def is_cpu_device(device):
    """Return whether ``device`` names the CPU, without raising on invalid names."""
    try:
        return torch.device(device).type == "cpu"
    except (RuntimeError, TypeError):
        return False


def resolve_member_device(device):
    """Return ``device`` as a torch.device, raising ValueError if it is unusable.

    Unlike ``sftfusion._backend.resolve_device``, which resolves the fusion's
    device, this accepts every device type that torch and skorch accept (mps
    and xpu among them) and neither None nor ``"auto"``, so the remedies in its
    messages differ too.
    """
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            "The 'device' parameter must name a torch device such as 'cpu', "
            f"'cuda' or 'cuda:0'. Got {device!r} instead."
        ) from exc

    if resolved.type != "cuda":
        return resolved

    if not torch.cuda.is_available():
        raise ValueError(
            f"The 'device' parameter is {device!r}, but CUDA is not available "
            "in this torch installation or on this machine. Pass device='cpu'."
        )
    n_devices = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= n_devices:
        raise ValueError(
            f"The 'device' parameter is {device!r}, but this machine has "
            f"{n_devices} CUDA device(s), numbered from 0. Pass an index below "
            f"{n_devices}."
        )
    return resolved


def draw_seed(random_state) -> int:
    """Draw the torch seed of one fit from a ``random_state`` parameter."""
    return check_random_state(random_state).randint(np.iinfo(np.int32).max)


@contextlib.contextmanager
def seeded_torch_rng(seed: int, device):
    """Seed torch's RNG for the block, then restore the caller's RNG state.

    Only the CPU generator is forked and seeded unless ``device`` is a CUDA
    device, in which case every CUDA generator is forked and seeded too.
    """
    # fork_rng restores the caller's random state when the block exits.
    # A CPU fit seeds only the CPU generator, because torch.manual_seed
    # would also reseed CUDA devices that fork_rng does not restore.
    # NOTE: on other device types (mps, xpu), dropout draws from that
    # device's unseeded generator, so fits there do not repeat exactly.
    on_cuda = torch.device(device).type == "cuda"
    # NOTE: the CUDA path has not been run on a GPU yet. The tests marked gpu
    # cover it and are skipped on machines without CUDA.
    cuda_devices = list(range(torch.cuda.device_count())) if on_cuda else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.default_generator.manual_seed(seed)
        if on_cuda:
            torch.cuda.manual_seed_all(seed)
        yield


def encode_labels(y, *, estimator_name: str):
    """Return ``y`` as int64 codes for the net's cross-entropy, and the classes.

    Returns
    -------
    y_encoded : ndarray of shape (n_samples,), dtype int64
        The index of each label in ``classes``.

    classes : ndarray of shape (n_classes,)
        The sorted distinct labels.

    Raises
    ------
    ValueError
        If ``y`` contains fewer than 2 classes.
    """
    encoder = LabelEncoder()
    y_encoded = encoder.fit_transform(y).astype(np.int64)
    classes = encoder.classes_
    if len(classes) < 2:
        raise ValueError(
            f"{estimator_name} needs samples of at least 2 classes; got only one "
            f"class, {classes[0]!r}. Pass training data with two or more classes."
        )
    return y_encoded, classes


def net_log_proba(net, X) -> np.ndarray:
    """Return the log-probabilities of a fitted skorch net's classes for ``X``.

    The net computes its logits in float32 and the log-softmax is taken in
    float64, so the exponentials of each row sum to 1 at float64 precision.
    """
    logits = net.forward(X, training=False, device="cpu")
    return log_softmax(logits.numpy().astype(np.float64), axis=1)
