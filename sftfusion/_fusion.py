"""Softmax fusion of member probabilities, one kernel for numpy and torch.

For member probabilities ``p[i, n, c]`` (member ``i``, sample ``n``, class ``c``),
temperature ``T`` and prior weights ``pi`` summing to 1, the fused probabilities are

    w[i, n, c] = softmax over i of (p[i, n, c] / T + log pi[i])
    q[n, c]    = sum over i of w[i, n, c] * p[i, n, c]
    out[n, c]  = q[n, c] / sum over c' of q[n, c']

The kernel walks the samples in blocks small enough for the CPU cache and loops over
members inside a block, so its temporaries are a few block-sized buffers whatever
the number of samples. For large numpy inputs, several threads take a contiguous
range of blocks each; a row's result does not depend on the thread count.
"""

import math

import numpy as np

from sftfusion import _backend
from sftfusion._backend import get_namespace, is_torch_tensor
from sftfusion._validation import (
    check_member_temperatures,
    check_pool,
    check_probabilities,
    check_temperature,
    check_weights,
)

# Floor of the probabilities whose logarithm the log pool and the member
# recalibration take, so that a probability of 0 gives a finite log.
LOG_FLOOR = 1e-12

# The kernel skips the max-subtraction of the softmax while exp(p / T) cannot
# overflow. Probabilities are at most 1 (plus rounding, hence the factor 2 of
# headroom), and the sum over members adds at most log(n_members).
_HEADROOM = 2.0


def softmax_fusion(
    probas,
    *,
    temperature=1.0,
    weights=None,
    pool="linear",
    member_temperatures=None,
    check_input=True,
):
    """Fuse member probabilities with per-sample, per-class softmax weights.

    Each member's weight for class ``c`` of a sample is the softmax, over members,
    of its own probability for ``c`` divided by the temperature plus the log of its
    prior weight. The fused probability of ``c`` is the weighted sum of the members'
    probabilities, and each row is renormalised to sum to 1.

    Parameters
    ----------
    probas : array-like or torch.Tensor of shape (n_members, n_samples, n_classes)
        Probabilities of each member, with columns in the same class order for
        every member. A torch tensor is fused by torch on its own device and the
        result is a tensor; anything else is fused by numpy.
    temperature : float, default=1.0
        Temperature ``T`` of the softmax over members, in (0, inf]. Low values
        favour, per class, the most confident member; ``float("inf")`` gives
        weighted soft voting.
    weights : array-like of shape (n_members,), default=None
        Non-negative prior weights ``pi`` of the members, normalised to sum to 1.
        None means uniform weights. Members of weight 0 are ignored.
    pool : {"linear", "log"}, default="linear"
        How the weighted members are combined. ``"linear"`` takes the weighted
        mean of the probabilities (the formula above). ``"log"`` takes the
        weighted mean of their logarithms, ``log q_c = sum_i w_ic log p_ic``,
        and renormalises with a softmax over classes; probabilities below 1e-12
        count as 1e-12 there.
    member_temperatures : array-like of shape (n_members,), default=None
        Positive per-member temperatures ``tau_i``. If given, member ``i``'s
        probabilities are first recalibrated to ``softmax(log(p_i) / tau_i)``
        (probabilities below 1e-12 count as 1e-12). None leaves them unchanged.
    check_input : bool, default=True
        Check that every member's table is finite, non-negative and that its rows
        sum to 1. Set it to False only for inputs already checked, to save the
        passes over the data.

    Returns
    -------
    fused : ndarray or torch.Tensor of shape (n_samples, n_classes)
        Fused probabilities, rows summing to 1, in the floating dtype of
        ``probas`` (float64 for integer input, float32 for float16 input).

    Raises
    ------
    ValueError
        If ``temperature`` is not in (0, inf], if ``weights`` has the wrong
        length, a negative, NaN or infinite entry or only zeros, if ``pool`` or
        ``member_temperatures`` is invalid, or, with ``check_input``, if
        ``probas`` is not a valid probability array.

    Notes
    -----
    With ``T = 1`` and uniform weights this is the "Softmax Fusion of
    Transformers" forward pass (a softmax over the member axis of the stacked
    outputs, outputs times weights, summed over members) followed by a row
    renormalisation. As ``T`` tends to 0, the unnormalised score of each class
    tends to the maximum over members. With ``T = inf`` it is the weighted mean of
    the members. Probabilities lie in [0, 1], so at ``T = 1`` the weights of the
    members differ by a factor of at most e, and the result stays close to plain
    averaging. Lower temperatures make the fusion sharper.

    A single member (or a single member of positive weight) is returned
    unchanged, without renormalisation, unless ``member_temperatures`` is
    given.

    Examples
    --------
    >>> import numpy as np
    >>> from sftfusion import softmax_fusion
    >>> probas = np.array([[[0.9, 0.1]], [[0.4, 0.6]]])
    >>> softmax_fusion(probas).round(4)
    array([[0.6336, 0.3664]])
    >>> softmax_fusion(probas, temperature=float("inf"))
    array([[0.65, 0.35]])
    """
    temperature = check_temperature(temperature)
    probas = _as_float_array(probas)
    if probas.ndim != 3:
        raise ValueError(
            "The 'probas' parameter must be a 3-D array of shape (n_members, "
            f"n_samples, n_classes); got an array of shape {tuple(probas.shape)}."
        )
    n_members, n_samples, n_classes = probas.shape
    if n_members == 0 or n_classes == 0:
        raise ValueError(
            "The 'probas' parameter needs at least one member and one class; got "
            f"shape {tuple(probas.shape)}."
        )
    prior = check_weights(weights, n_members, list(range(n_members)))
    pool = check_pool(pool)
    if member_temperatures is not None:
        member_temperatures = check_member_temperatures(member_temperatures, n_members)

    if check_input:
        for index in range(n_members):
            check_probabilities(
                probas[index],
                source=f"probas[{index}]",
                n_samples=n_samples,
                n_columns=n_classes,
            )
    return fuse(
        _widen_half(probas),
        temperature=temperature,
        prior=prior,
        pool=pool,
        member_temperatures=member_temperatures,
    )


def _as_float_array(probas):
    """Return ``probas`` as a floating numpy array or torch tensor.

    Integers become float64. float16 is kept, so that the checks judge it by its
    own precision, and :func:`_widen_half` raises it to float32 afterwards.
    """
    if is_torch_tensor(probas):
        return probas if probas.dtype.is_floating_point else probas.double()

    probas = np.asarray(probas)
    if probas.dtype.kind == "f":
        return probas
    try:
        return probas.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "The 'probas' parameter must contain numbers; got an array of dtype "
            f"{probas.dtype}."
        ) from exc


def _widen_half(probas):
    """Return float16 (or bfloat16) input as float32, which the kernel needs."""
    if probas.dtype.itemsize >= 4:
        return probas
    return probas.float() if is_torch_tensor(probas) else probas.astype(np.float32)


def fuse(
    probas,
    *,
    temperature: float,
    prior: np.ndarray,
    pool: str = "linear",
    member_temperatures: np.ndarray | None = None,
):
    """Fuse checked member probabilities; the kernel behind :func:`softmax_fusion`.

    Parameters
    ----------
    probas : ndarray or torch.Tensor of shape (n_members, n_samples, n_classes)
        Floating probabilities, already checked.
    temperature : float
        Temperature in (0, inf].
    prior : ndarray of shape (n_members,)
        Prior weights summing to 1.
    pool : {"linear", "log"}, default="linear"
        Weighted arithmetic mean of the probabilities, or weighted mean of their
        logarithms followed by a softmax over classes.
    member_temperatures : ndarray of shape (n_members,), default=None
        If given, member ``i``'s probabilities are first recalibrated to
        ``softmax(log(p_i) / member_temperatures[i])``.

    Returns
    -------
    fused : ndarray or torch.Tensor of shape (n_samples, n_classes)
    """
    xp = get_namespace(probas)
    active = np.flatnonzero(prior > 0).tolist()
    if len(active) < len(prior):
        probas = probas[active]
    prior = prior[active]
    if member_temperatures is not None:
        member_temperatures = np.asarray(member_temperatures, dtype=float)[active]

    n_members, n_samples, n_classes = probas.shape
    if n_members == 1 and member_temperatures is None:
        return _backend.copy(xp, probas[0])

    plan = _Plan(xp, temperature, prior, probas.dtype, pool, member_temperatures)
    out = _backend.empty(xp, (n_samples, n_classes), like=probas)
    rows = _backend.block_rows(xp, probas, n_classes)
    n_calibrated = n_members if member_temperatures is not None else 0

    def fuse_rows(first, last):
        buffers = _Buffers(xp, min(rows, last - first), n_calibrated, n_classes, probas)
        for start in range(first, last, rows):
            stop = min(start + rows, last)
            block = probas[:, start:stop]
            block_buffers = buffers.view(stop - start)
            if plan.inverse_member_temperatures is not None:
                block = _calibrate_block(xp, plan, block, block_buffers)
            if n_members == 1:
                out[start:stop] = block[0]
            elif plan.pool == "linear":
                _linear_pool_block(xp, plan, block, block_buffers, out[start:stop])
            else:
                _log_pool_block(xp, plan, block, block_buffers, out[start:stop])

    ranges = _backend.thread_row_ranges(
        xp, n_samples, n_members * n_samples * n_classes, rows
    )
    _backend.run_row_ranges(fuse_rows, ranges)
    return out


class _Plan:
    """Per-call constants of the kernel, computed once for all blocks."""

    def __init__(self, xp, temperature, prior, dtype, pool, member_temperatures):
        self.pool = pool
        self.prior = [float(weight) for weight in prior]
        self.uniform = len(set(self.prior)) == 1
        self.inverse_temperature = 0.0 if math.isinf(temperature) else 1.0 / temperature
        # Without the max-subtraction, exp(p / T) must not overflow and neither
        # must its sum over members.
        limit = math.log(float(_backend.finfo(xp, dtype).max)) - math.log(len(prior))
        self.shifted = self.inverse_temperature * _HEADROOM > limit

        # torch and numpy's float32 compute exp(x) as exp2(x * log2(e)), with the
        # factor folded into the inverse temperature. On a 2-core AMD EPYC,
        # exp2 took 40% less time than exp in numpy 2.4 float32, and a third of
        # its time in torch 2.13 on the CPU. numpy's float64 keeps exp, so that
        # T = 1 needs no multiplication.
        base_two = xp is not np or _backend.finfo(xp, dtype).bits == 32
        self.exp = xp.exp2 if base_two else xp.exp
        unit = 1.0 / math.log(2.0) if base_two else 1.0
        self.scale = self.inverse_temperature * unit
        log = math.log2 if base_two else math.log
        self.log_prior = [log(weight) for weight in self.prior]
        self.inverse_member_temperatures = (
            None
            if member_temperatures is None
            else [1.0 / float(value) for value in member_temperatures]
        )


class _Buffers:
    """Scratch arrays for one block, reused from block to block."""

    def __init__(self, xp, rows, n_members, n_classes, like):
        self.arrays = [
            _backend.empty(xp, (rows, n_classes), like=like) for _ in range(5)
        ]
        self.members = _backend.empty(xp, (n_members, rows, n_classes), like=like)

    def view(self, rows):
        return _BlockBuffers(
            *(array[:rows] for array in self.arrays),
            members=self.members[:, :rows],
        )


class _BlockBuffers:
    """The scratch arrays of one block, by role."""

    def __init__(self, scores, numerator, denominator, shift, values, members):
        self.scores = scores
        self.numerator = numerator
        self.denominator = denominator
        self.shift = shift
        self.values = values
        self.members = members


def _linear_pool_block(xp, plan, block, buffers, out):
    """Fuse one block, shape (n_members, rows, n_classes), by the linear pool."""
    scores = buffers.scores
    numerator = buffers.numerator
    denominator = buffers.denominator
    if plan.inverse_temperature == 0.0:
        # T = inf: weighted soft voting, the prior-weighted mean of the members.
        xp.multiply(block[0], plan.prior[0], out=numerator)
        for member in range(1, len(plan.prior)):
            xp.multiply(block[member], plan.prior[member], out=scores)
            numerator += scores
        _normalise_rows(xp, numerator, out)
        return
    _prepare_shift(xp, plan, block, buffers)

    for member in range(len(plan.prior)):
        probability = block[member]
        if member == 0:
            # The first member's weights go straight into the denominator.
            _write_member_weight(xp, plan, block, member, buffers, denominator)
            xp.multiply(denominator, probability, out=numerator)
        else:
            _write_member_weight(xp, plan, block, member, buffers, scores)
            denominator += scores
            scores *= probability
            numerator += scores

    numerator /= denominator
    _normalise_rows(xp, numerator, out)


def _log_pool_block(xp, plan, block, buffers, out):
    """Fuse one block by the log-linear pool: softmax over classes of sum_i w_i log p_i.

    Probabilities below ``LOG_FLOOR`` count as ``LOG_FLOOR``, so a member that
    gives a class probability 0 pulls it down strongly but finitely.
    """
    scores = buffers.scores
    values = buffers.values
    numerator = buffers.numerator
    denominator = buffers.denominator
    _prepare_shift(xp, plan, block, buffers)

    for member in range(len(plan.prior)):
        _backend.floor(xp, block[member], LOG_FLOOR, values)
        xp.log(values, out=values)
        if member == 0:
            _write_member_weight(xp, plan, block, member, buffers, denominator)
            xp.multiply(values, denominator, out=numerator)
        else:
            _write_member_weight(xp, plan, block, member, buffers, scores)
            values *= scores
            denominator += scores
            numerator += values

    numerator /= denominator
    _softmax_rows(xp, numerator, out)


def _prepare_shift(xp, plan, block, buffers):
    """Store in ``buffers.shift`` the maximum exponent over members, when needed.

    Subtracting it, per sample and class, makes every exp() at most 1 with the
    largest term exactly 1. It is needed only at temperatures so low that
    exp(p / T) could overflow.
    """
    if not plan.shifted or plan.inverse_temperature == 0.0:
        return
    _write_exponent(xp, plan, block, 0, buffers.shift)
    for member in range(1, len(plan.prior)):
        _write_exponent(xp, plan, block, member, buffers.scores)
        xp.maximum(buffers.shift, buffers.scores, out=buffers.shift)


def _write_member_weight(xp, plan, block, member, buffers, out):
    """Write member ``member``'s unnormalised softmax weight into ``out``.

    That is ``prior * exp(p / T)``, divided by ``exp(shift)`` when shifted.
    Normalising over members is left to the caller's final division.
    """
    probability = block[member]
    if plan.inverse_temperature == 0.0:
        # T = inf: the softmax weights are the prior weights themselves.
        _backend.fill(xp, out, plan.prior[member])
        return
    if plan.shifted:
        _write_exponent(xp, plan, block, member, out)
        out -= buffers.shift
        plan.exp(out, out=out)
        return
    if plan.scale == 1.0:
        plan.exp(probability, out=out)
    else:
        xp.multiply(probability, plan.scale, out=out)
        plan.exp(out, out=out)
    if not plan.uniform:
        out *= plan.prior[member]


def _calibrate_block(xp, plan, block, buffers):
    """Return the block with each member recalibrated: softmax(log(p) / tau)."""
    calibrated = buffers.members
    for member, inverse in enumerate(plan.inverse_member_temperatures):
        target = calibrated[member]
        _backend.floor(xp, block[member], LOG_FLOOR, target)
        xp.log(target, out=target)
        target *= inverse
        _softmax_rows(xp, target, target)
    return calibrated


def _write_exponent(xp, plan, block, member, out):
    """Write ``p / T + log(prior)`` of one member into ``out``, in base ``plan.exp``."""
    xp.multiply(block[member], plan.scale, out=out)
    out += plan.log_prior[member]


def _normalise_rows(xp, scores, out):
    """Write ``scores`` divided by their row sums into ``out``."""
    totals = _backend.row_sums(xp, scores)
    xp.divide(scores, totals[:, None], out=out)


def _softmax_rows(xp, scores, out):
    """Write the softmax of each row of ``scores`` into ``out`` (may alias it)."""
    xp.subtract(scores, _backend.row_max(xp, scores), out=out)
    xp.exp(out, out=out)
    _normalise_rows(xp, out, out)
