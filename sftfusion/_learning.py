"""Learning the fusion parameters from out-of-fold member probabilities.

The temperature ``T``, the prior weights ``pi`` and the per-member temperatures
``tau`` minimise the sample-weighted log-loss of the fused out-of-fold prediction
plus small penalties towards uniform priors and unit member temperatures. The
gradient is analytic, for both pools, so each evaluation is a few passes over the
probabilities. L-BFGS-B first converges on a fixed subsample and then refines on
all samples from there, which costs only a few full passes.

With ``beta = 1 / T``, ``a = log pi``, ``rho_i = 1 / tau_i`` and member values
``V`` (the probabilities for the linear pool, their logarithms for the log pool):

    Pc_i = softmax over classes of (rho_i log p_i)        (or p_i without tau)
    w_i  = softmax over members of (beta Pc_i + a_i)
    F    = sum_i w_i V_i
    linear: loss = log(sum_c F_c) - log F_y;   log: loss = logsumexp_c F_c - F_y

Writing ``g = dloss/dF``, the derivative with respect to the exponent of member
``i`` is ``G_i = g w_i (V_i - F)``. It gives the gradients of ``beta`` (through
``Pc``) and of ``a``. The member temperatures enter through both ``Pc`` and ``V``.
"""

import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from sftfusion import _backend
from sftfusion._fusion import LOG_FLOOR, fuse

# Strength of the penalty 0.5 * PRIOR_REGULARIZATION * sum_i (alpha_i -
# mean(alpha))^2 on the prior logits, pi = softmax(alpha). It keeps the problem
# well-posed when a member is useless (its weight goes to about 0 rather than to
# exactly 0) and is small next to typical log-losses.
PRIOR_REGULARIZATION = 1e-4

# The member temperatures get the penalty 0.5 * (MEMBER_PRIOR_SAMPLES /
# n_samples) * sum_i log(tau_i)^2, as if that many extra samples favoured
# tau = 1, so it fades as the data grow. With sample_weight, n_samples is the
# sum of the weights, read as frequencies: a weight of 2 counts as a repeat.
# On breast_cancer and wine (450 and 140 training samples), a fixed 1e-3 let
# the member temperatures overfit. 10 gave the lowest test log-loss among 1,
# 10, 50 and 200 over the four datasets of benchmarks/accuracy.py.
MEMBER_PRIOR_SAMPLES = 10.0

# Search ranges. Temperatures below 0.02 make the member softmax a hard maximum
# on probabilities, which brings nothing that 0.02 cannot do.
TEMPERATURE_BOUNDS = (0.02, 1e4)
MEMBER_TEMPERATURE_BOUNDS = (0.05, 20.0)
PRIOR_LOGIT_BOUNDS = (-20.0, 20.0)

# Starting temperatures tried before L-BFGS-B, because the loss need not be
# convex in T.
_START_TEMPERATURES = (0.05, 0.2, 1.0, 5.0, 100.0)

# Samples used for the first, cheap optimisation; drawn with a fixed seed.
_SUBSAMPLE_SIZE = 10_000

_LOG_OF_FLOOR = math.log(LOG_FLOOR)

# Fused probabilities are clipped here inside the log-loss, at float64's eps as
# sklearn.metrics.log_loss does in scikit-learn 1.9, so that one sample that
# every member rules out cannot make the loss infinite.
_PROBABILITY_FLOOR = float(np.finfo(np.float64).eps)

# Rows per block in the objective: the (n_members, rows, n_classes) temporaries
# then stay near the L2 cache size.
_BLOCK_VALUES = 2**16

# Values per block on a torch device: large blocks amortise kernel launches, and
# the (n_members, rows, n_classes) float64 temporaries stay near 32 MB each.
_DEVICE_BLOCK_VALUES = 2**22


@dataclass
class LearnedFusion:
    """Fusion parameters fitted on out-of-fold probabilities."""

    temperature: float
    prior: np.ndarray
    pool: str
    member_temperatures: np.ndarray | None
    loss: float
    n_evaluations: int


def learn_fusion(
    probas,
    y_index,
    sample_weight,
    *,
    pool,
    temperature,
    prior,
    learn_temperature,
    learn_weights,
    calibrate_members,
    device=None,
):
    """Fit the fusion parameters by minimising the penalised out-of-fold log-loss.

    Parameters
    ----------
    probas : ndarray of shape (n_members, n_samples, n_classes)
        Out-of-fold probabilities of the members, aligned to the classes.
    y_index : ndarray of shape (n_samples,)
        Index of each sample's class.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights of the samples in the loss.
    pool : {"linear", "log"}
        The pool whose parameters are fitted.
    temperature : float
        Temperature used as it is unless ``learn_temperature``.
    prior : ndarray of shape (n_members,)
        Prior weights used as they are unless ``learn_weights``.
    learn_temperature, learn_weights, calibrate_members : bool
        Which parameters to fit.
    device : torch.device or None, default=None
        Where the loss and its gradient are computed: None for numpy, else
        torch on that device, in float64 either way. The optimiser itself runs
        on the CPU.

    Returns
    -------
    learned : LearnedFusion
    """
    probas = np.asarray(probas, dtype=np.float64)
    n_samples = probas.shape[1]
    weight = (
        np.ones(n_samples)
        if sample_weight is None
        else np.asarray(sample_weight, dtype=np.float64)
    )
    layout = _Layout(
        n_members=probas.shape[0],
        learn_temperature=learn_temperature,
        learn_weights=learn_weights,
        calibrate_members=calibrate_members,
        temperature=temperature,
        prior=prior,
    )
    start = layout.initial()

    subsample = _subsample(n_samples)
    evaluations = 0
    if subsample is not None:
        small = _FusionObjective(
            probas[:, subsample],
            y_index[subsample],
            weight[subsample],
            pool,
            layout,
            device,
            member_regularization=MEMBER_PRIOR_SAMPLES / float(weight.sum()),
        )
        start, count = _optimise(small, layout, start)
        evaluations += count

    objective = _FusionObjective(probas, y_index, weight, pool, layout, device)
    solution, count = _optimise(objective, layout, start, search=subsample is None)
    evaluations += count

    loss, _ = objective(solution)
    temperature, prior, member_temperatures = layout.decode(solution)
    return LearnedFusion(
        temperature=temperature,
        prior=prior,
        pool=pool,
        member_temperatures=member_temperatures,
        loss=loss,
        n_evaluations=evaluations,
    )


def _subsample(n_samples):
    """Return sorted indices of a fixed random subsample, or None if all are few."""
    if n_samples <= 2 * _SUBSAMPLE_SIZE:
        return None
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n_samples, size=_SUBSAMPLE_SIZE, replace=False))


def _optimise(objective, layout, start, search=True):
    """Run L-BFGS-B from ``start``; return the solution and the evaluation count.

    With ``search`` and a learned temperature, the best of a few starting
    temperatures is taken first.
    """
    if layout.size == 0:
        return start, 0
    evaluations = 0
    if search and layout.learn_temperature:
        candidates = []
        for temperature in _START_TEMPERATURES:
            theta = start.copy()
            theta[0] = math.log(temperature)
            candidates.append((objective(theta)[0], temperature, theta))
        evaluations += len(candidates)
        start = min(candidates, key=lambda candidate: candidate[:2])[2]

    # L-BFGS-B's own linear algebra on a handful of parameters is tiny, but it
    # calls BLAS, and OpenBLAS's threads made each iteration take about 8 ms
    # on a busy 2-core machine. One BLAS thread makes it negligible.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=layout.bounds(),
            options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-7},
        )
    return result.x, evaluations + result.nfev


class _Layout:
    """Maps the learned parameters to and from one flat vector ``theta``.

    ``theta`` holds, in this order and only for what is learned: log(T), the
    prior logits alpha (pi = softmax(alpha)), and log(tau) per member.
    """

    def __init__(
        self,
        *,
        n_members,
        learn_temperature,
        learn_weights,
        calibrate_members,
        temperature,
        prior,
    ):
        self.n_members = n_members
        self.learn_temperature = learn_temperature
        self.learn_weights = learn_weights
        self.calibrate_members = calibrate_members
        self.fixed_temperature = temperature
        self.fixed_prior = np.asarray(prior, dtype=np.float64)

        position = 0
        self.temperature_slice = slice(position, position + learn_temperature)
        position += learn_temperature
        self.prior_slice = slice(position, position + n_members * learn_weights)
        position += n_members * learn_weights
        self.member_slice = slice(position, position + n_members * calibrate_members)
        position += n_members * calibrate_members
        self.size = position

    def initial(self):
        """Return the starting vector: T as given (1 if infinite), uniform pi, tau 1."""
        theta = np.zeros(self.size)
        if self.learn_temperature:
            fixed = self.fixed_temperature
            theta[0] = 0.0 if math.isinf(fixed) else math.log(fixed)
            theta[0] = float(np.clip(theta[0], *np.log(TEMPERATURE_BOUNDS)))
        return theta

    def bounds(self):
        return (
            [tuple(np.log(TEMPERATURE_BOUNDS))] * self.learn_temperature
            + [PRIOR_LOGIT_BOUNDS] * (self.n_members * self.learn_weights)
            + [tuple(np.log(MEMBER_TEMPERATURE_BOUNDS))]
            * (self.n_members * self.calibrate_members)
        )

    def decode(self, theta):
        """Return (temperature, prior, member temperatures or None) for ``theta``."""
        if self.learn_temperature:
            # exp(log(bound)) can land an ulp outside the bound.
            log_temperature = theta[self.temperature_slice][0]
            temperature = float(np.clip(math.exp(log_temperature), *TEMPERATURE_BOUNDS))
        else:
            temperature = self.fixed_temperature
        if self.learn_weights:
            prior = _softmax(theta[self.prior_slice])
        else:
            prior = self.fixed_prior
        member_temperatures = None
        if self.calibrate_members:
            member_temperatures = np.exp(theta[self.member_slice])
        return temperature, prior, member_temperatures


def _softmax(values):
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


class _FusionObjective:
    """Penalised, sample-weighted log-loss of the fused prediction, with its gradient.

    The same code runs on numpy arrays and, with ``device``, on torch tensors on
    that device, in float64. numpy evaluates cache-sized row blocks, on several
    threads for large inputs (numpy releases the GIL inside its array
    operations, and each thread has its own scratch arrays). torch evaluates
    large blocks in one thread, since its operations are parallel or on a GPU
    already.
    """

    def __init__(
        self,
        probas,
        y_index,
        sample_weight,
        pool,
        layout,
        device=None,
        member_regularization=None,
    ):
        self.device = device
        # A subsample's objective keeps the penalty of the full data, so that
        # both optimisation stages minimise the same function up to sampling.
        if member_regularization is None:
            member_regularization = MEMBER_PRIOR_SAMPLES / float(sample_weight.sum())
        self.member_regularization = member_regularization
        self.xp = np if device is None else sys.modules["torch"]
        self.pool = pool
        self.layout = layout
        self.probas = self._array(probas)
        self.y_index = self._array(y_index, index=True)
        self.weight = self._array(sample_weight / sample_weight.sum())
        self.log_probas = None
        if pool == "log" or layout.calibrate_members:
            self.log_probas = self.xp.log(_floored(self.xp, self.probas, LOG_FLOOR))

        n_members, n_samples, n_classes = probas.shape
        values = _BLOCK_VALUES if device is None else _DEVICE_BLOCK_VALUES
        self.rows = max(1, values // (n_members * n_classes))
        # Threads only for numpy and only for large inputs, in the backend's
        # persistent pool; torch has threads of its own or runs on a GPU.
        self.ranges = _backend.thread_row_ranges(
            self.xp, n_samples, n_members * n_samples * n_classes, self.rows
        )
        self.scratch = threading.local()

    def _array(self, values, index=False):
        """Return ``values`` as float64 (or index) array on this objective's device."""
        if self.device is None:
            return np.asarray(values, dtype=np.intp if index else np.float64)
        torch = sys.modules["torch"]
        dtype = torch.int64 if index else torch.float64
        return torch.as_tensor(np.asarray(values), dtype=dtype, device=self.device)

    def __call__(self, theta):
        layout = self.layout
        temperature, prior, member_temperatures = layout.decode(theta)
        beta = 0.0 if math.isinf(temperature) else 1.0 / temperature
        with np.errstate(divide="ignore"):
            log_prior = self._array(np.log(prior))
        rho = None
        if member_temperatures is not None:
            rho = self._array(1.0 / member_temperatures)

        partial = {}

        def evaluate(start, stop):
            partial[start] = [
                self._block(
                    slice(first, min(first + self.rows, stop)), beta, log_prior, rho
                )
                for first in range(start, stop, self.rows)
            ]

        _backend.run_row_ranges(evaluate, self.ranges)
        # Summing in row order keeps the result independent of thread timing.
        parts = [part for start, _ in self.ranges for part in partial[start]]
        loss = math.fsum(part[0] for part in parts)
        grad_beta = math.fsum(part[1] for part in parts)
        grad_log_prior = np.sum([part[2] for part in parts], axis=0)
        grad_rho = np.sum([part[3] for part in parts], axis=0)

        grad = np.zeros_like(theta)
        if layout.learn_temperature:
            grad[layout.temperature_slice] = -beta * grad_beta
        if layout.learn_weights:
            alpha = theta[layout.prior_slice]
            centred = alpha - alpha.mean()
            loss += 0.5 * PRIOR_REGULARIZATION * float(centred @ centred)
            grad[layout.prior_slice] = (
                grad_log_prior
                - prior * grad_log_prior.sum()
                + PRIOR_REGULARIZATION * centred
            )
        if layout.calibrate_members:
            log_tau = theta[layout.member_slice]
            strength = self.member_regularization
            loss += 0.5 * strength * float(log_tau @ log_tau)
            inverse = 1.0 / member_temperatures
            grad[layout.member_slice] = -inverse * grad_rho + strength * log_tau
        return loss, grad

    def _buffers(self, shape):
        """Return this thread's two scratch arrays of ``shape`` (rows may be fewer)."""
        buffers = getattr(self.scratch, "arrays", None)
        if buffers is None:
            n_members, n_samples, n_classes = self.probas.shape
            shape = (n_members, min(self.rows, n_samples), n_classes)
            buffers = [
                _backend.empty(self.xp, shape, like=self.probas) for _ in range(2)
            ]
            self.scratch.arrays = buffers
        return [buffer[:, : shape[1]] for buffer in buffers]

    def _block(self, rows, beta, log_prior, rho):
        """Return the loss of one block of rows and its partial derivatives.

        The bounds on the parameters keep beta * p + log(pi) within about
        [-45, 50], so exp() needs no shift.
        """
        xp = self.xp
        probas = self.probas[:, rows]
        log_probas = None if self.log_probas is None else self.log_probas[:, rows]
        y_index = self.y_index[rows]
        weight = self.weight[rows]
        row_index = self._array(np.arange(probas.shape[1]), index=True)
        weights, work = self._buffers(probas.shape)

        # Member recalibration: Pc_i = softmax over classes of rho_i * log p_i.
        unfloored = None
        if rho is not None:
            scaled = rho[:, None, None] * log_probas
            scaled -= xp.amax(scaled, axis=2, keepdims=True)
            calibrated = xp.exp(scaled)
            totals = calibrated.sum(axis=2, keepdims=True)
            calibrated /= totals
            if self.pool == "log":
                # log(Pc), floored like the kernel floors the probabilities whose
                # log it takes; floored entries do not move with rho.
                values = scaled - xp.log(totals)
                unfloored = values > _LOG_OF_FLOOR
                _backend.floor(xp, values, _LOG_OF_FLOOR, out=values)
            else:
                values = calibrated
        else:
            calibrated = probas
            values = probas if self.pool == "linear" else log_probas

        # Softmax weights over members: pi_i exp(beta Pc_i), normalised.
        xp.multiply(calibrated, beta, out=weights)
        weights += log_prior[:, None, None]
        xp.exp(weights, out=weights)
        weights /= weights.sum(axis=0)
        xp.multiply(weights, values, out=work)
        fused = work.sum(axis=0)

        dloss = xp.zeros_like(fused)
        if self.pool == "linear":
            totals = fused.sum(axis=1)
            true = fused[row_index, y_index]
            kept = true >= _PROBABILITY_FLOOR
            true = _floored(xp, true, _PROBABILITY_FLOOR)
            losses = xp.log(totals) - xp.log(true)
            dloss += (weight / totals)[:, None]
            dloss[row_index, y_index] -= (weight / true) * kept
        else:
            shifted = fused - xp.amax(fused, axis=1, keepdims=True)
            exp_fused = xp.exp(shifted)
            totals = exp_fused.sum(axis=1)
            losses = xp.log(totals) - shifted[row_index, y_index]
            dloss += exp_fused * (weight / totals)[:, None]
            dloss[row_index, y_index] -= weight
        loss = float(xp.einsum("m,m->", weight, losses))

        # G_i = g * w_i * (V_i - F): derivative with respect to member i's exponent.
        exponent_grad = xp.subtract(values, fused, out=work)
        exponent_grad *= weights
        exponent_grad *= dloss
        grad_log_prior = _backend.to_numpy(exponent_grad.sum(axis=(1, 2)))
        # einsum, not a BLAS dot: OpenBLAS would start its own threads on top of
        # ours, which measured 30 times slower on 2 cores.
        grad_beta = float(xp.einsum("imc,imc->", exponent_grad, calibrated))

        grad_rho = np.zeros(len(log_prior))
        if rho is not None:
            weighted = weights * dloss
            if self.pool == "linear":
                through = (weighted + beta * exponent_grad) * calibrated
            else:
                through = weighted * unfloored + beta * exponent_grad * calibrated
            mean_log = xp.einsum("imc,imc->im", calibrated, log_probas)[..., None]
            grad_rho = _backend.to_numpy(
                xp.einsum("imc,imc->i", through, log_probas - mean_log)
            )
        return loss, grad_beta, grad_log_prior, grad_rho


def _floored(xp, array, minimum):
    """Return a copy of ``array`` with every element below ``minimum`` raised to it."""
    out = _backend.empty(xp, tuple(array.shape), like=array)
    _backend.floor(xp, array, minimum, out=out)
    return out


def fit_fusion(
    out_of_fold,
    y_index,
    sample_weight,
    *,
    pools,
    temperature,
    prior,
    learn_temperature,
    learn_weights,
    calibrate_members,
    names,
    log=None,
    device=None,
):
    """Learn the fusion parameters for each pool and keep the best pool.

    Parameters
    ----------
    out_of_fold : ndarray of shape (n_members, n_samples, n_classes)
        Held-out member probabilities.
    y_index : ndarray of shape (n_samples,)
        Index of each sample's class.
    sample_weight : array-like of shape (n_samples,) or None
        Weights of the samples in the loss and in the reported scores.
    pools : sequence of {"linear", "log"}
        Pools to fit; the one of lowest out-of-fold log-loss is kept.
    temperature, prior, learn_temperature, learn_weights, calibrate_members
        As in :func:`learn_fusion`.
    names : list of str
        Member names, for the results table.
    log : callable or None, default=None
        Called with the pool and the seconds taken, after each pool is fitted.
    device : torch.device or None, default=None
        Where the loss, its gradient and the fused scores are computed; see
        :func:`learn_fusion`.

    Returns
    -------
    best : LearnedFusion
        The parameters of the pool of lowest out-of-fold log-loss.
    results : dict of ndarray
        ``"name"``, ``"log_loss"`` and ``"accuracy"`` of each member and of each
        fitted pool (named ``"fused (linear)"`` and ``"fused (log)"``), scored on
        the out-of-fold probabilities.
    """
    weight = None if sample_weight is None else np.asarray(sample_weight, float)
    rows = [
        _score(name, member, y_index, weight)
        for name, member in zip(names, out_of_fold, strict=True)
    ]

    candidates = []
    for pool in pools:
        start = time.perf_counter()
        learned = learn_fusion(
            out_of_fold,
            y_index,
            weight,
            pool=pool,
            temperature=temperature,
            prior=prior,
            learn_temperature=learn_temperature,
            learn_weights=learn_weights,
            calibrate_members=calibrate_members,
            device=device,
        )
        fused = fuse(
            _backend.to_device(out_of_fold, device),
            temperature=learned.temperature,
            prior=learned.prior,
            pool=pool,
            member_temperatures=learned.member_temperatures,
        )
        fused = _backend.to_numpy(fused)
        row = _score(f"fused ({pool})", fused, y_index, weight)
        rows.append(row)
        candidates.append((row[1], len(candidates), learned))
        if log is not None:
            log(pool, time.perf_counter() - start)

    best = min(candidates, key=lambda candidate: candidate[:2])[2]
    results = {
        "name": np.array([row[0] for row in rows], dtype=object),
        "log_loss": np.array([row[1] for row in rows]),
        "accuracy": np.array([row[2] for row in rows]),
    }
    return best, results


def _score(name, proba, y_index, weight):
    """Return (name, log-loss, accuracy) of probabilities against class indices."""
    true = np.maximum(proba[np.arange(len(y_index)), y_index], _PROBABILITY_FLOOR)
    correct = np.argmax(proba, axis=1) == y_index
    log_loss = float(np.average(-np.log(true), weights=weight))
    accuracy = float(np.average(correct, weights=weight))
    return name, log_loss, accuracy
