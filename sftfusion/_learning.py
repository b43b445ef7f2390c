"""Learning the fusion parameters from out-of-fold member probabilities.

The temperature ``T``, the prior weights ``pi`` and the per-member temperatures
``tau`` minimise the sample-weighted log-loss of the fused out-of-fold prediction
plus a small penalty towards uniform priors and unit member temperatures. The
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
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from sftfusion._fusion import LOG_FLOOR, fuse

# Strength of the penalty 0.5 * REGULARIZATION * (sum_i (alpha_i - mean(alpha))^2
# + sum_i log(tau_i)^2), where pi = softmax(alpha). It keeps the problem
# well-posed when a member is useless (its weight goes to about 0 rather than
# to exactly 0) and is small next to typical log-losses.
REGULARIZATION = 1e-3

# Search ranges. Temperatures below 0.02 make the member softmax a hard maximum
# on probabilities, which brings nothing that 0.02 cannot do.
TEMPERATURE_BOUNDS = (0.02, 1e4)
MEMBER_TEMPERATURE_BOUNDS = (0.05, 20.0)
PRIOR_LOGIT_BOUNDS = (-20.0, 20.0)

# Starting temperatures tried before L-BFGS-B, because the loss need not be
# convex in T.
_START_TEMPERATURES = (0.05, 0.2, 1.0, 5.0, 100.0)

# Samples used for the first, cheap optimisation; drawn with a fixed seed.
_SUBSAMPLE_SIZE = 20_000

_LOG_OF_FLOOR = math.log(LOG_FLOOR)

# Fused probabilities are clipped here inside the log-loss, at float64's eps as
# sklearn.metrics.log_loss does in scikit-learn 1.9, so that one sample that
# every member rules out cannot make the loss infinite.
_PROBABILITY_FLOOR = float(np.finfo(np.float64).eps)

# Rows per block in the objective: the (n_members, rows, n_classes) temporaries
# then stay near the L2 cache size.
_BLOCK_VALUES = 2**16

# Threads that evaluate row blocks side by side.
_MAX_THREADS = 4


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
            probas[:, subsample], y_index[subsample], weight[subsample], pool, layout
        )
        start, count = _optimise(small, layout, start)
        evaluations += count

    objective = _FusionObjective(probas, y_index, weight, pool, layout)
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

    Row blocks are evaluated on a few threads: numpy releases the GIL inside its
    array operations, and each thread has its own scratch arrays.
    """

    def __init__(self, probas, y_index, sample_weight, pool, layout):
        self.probas = probas
        self.pool = pool
        self.layout = layout
        self.y_index = np.asarray(y_index, dtype=np.intp)
        self.weight = sample_weight / sample_weight.sum()
        needs_log = pool == "log" or layout.calibrate_members
        self.log_probas = np.log(np.maximum(probas, LOG_FLOOR)) if needs_log else None
        n_members, n_samples, n_classes = probas.shape
        rows = max(1, _BLOCK_VALUES // (n_members * n_classes))
        self.blocks = [
            slice(start, min(start + rows, n_samples))
            for start in range(0, n_samples, rows)
        ]
        self.n_threads = max(
            1, min(_MAX_THREADS, os.cpu_count() or 1, len(self.blocks))
        )
        self.scratch = threading.local()

    def __call__(self, theta):
        layout = self.layout
        temperature, prior, member_temperatures = layout.decode(theta)
        beta = 0.0 if math.isinf(temperature) else 1.0 / temperature
        with np.errstate(divide="ignore"):
            log_prior = np.log(prior)
        rho = None if member_temperatures is None else 1.0 / member_temperatures

        def evaluate(rows):
            return self._block(rows, beta, log_prior, rho)

        if self.n_threads > 1:
            with ThreadPoolExecutor(self.n_threads) as executor:
                parts = list(executor.map(evaluate, self.blocks))
        else:
            parts = [evaluate(rows) for rows in self.blocks]
        # Summing in block order keeps the result independent of thread timing.
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
            loss += 0.5 * REGULARIZATION * float(centred @ centred)
            grad[layout.prior_slice] = (
                grad_log_prior - prior * grad_log_prior.sum() + REGULARIZATION * centred
            )
        if layout.calibrate_members:
            log_tau = theta[layout.member_slice]
            loss += 0.5 * REGULARIZATION * float(log_tau @ log_tau)
            grad[layout.member_slice] = -rho * grad_rho + REGULARIZATION * log_tau
        return loss, grad

    def _buffers(self, shape):
        """Return this thread's two scratch arrays of ``shape`` (rows may be fewer)."""
        buffers = getattr(self.scratch, "arrays", None)
        if buffers is None:
            n_members, _, n_classes = self.probas.shape
            rows = self.blocks[0].stop - self.blocks[0].start
            buffers = [np.empty((n_members, rows, n_classes)) for _ in range(2)]
            self.scratch.arrays = buffers
        return [buffer[:, : shape[1]] for buffer in buffers]

    def _block(self, rows, beta, log_prior, rho):
        """Return the loss of one block of rows and its partial derivatives.

        The bounds on the parameters keep beta * p + log(pi) within about
        [-45, 50], so exp() needs no shift.
        """
        probas = self.probas[:, rows]
        log_probas = None if self.log_probas is None else self.log_probas[:, rows]
        y_index = self.y_index[rows]
        weight = self.weight[rows]
        row_index = np.arange(probas.shape[1])
        weights, work = self._buffers(probas.shape)

        # Member recalibration: Pc_i = softmax over classes of rho_i * log p_i.
        unfloored = None
        if rho is not None:
            scaled = rho[:, None, None] * log_probas
            scaled -= scaled.max(axis=2, keepdims=True)
            calibrated = np.exp(scaled)
            totals = calibrated.sum(axis=2, keepdims=True)
            calibrated /= totals
            if self.pool == "log":
                # log(Pc), floored like the kernel floors the probabilities whose
                # log it takes; floored entries do not move with rho.
                values = scaled - np.log(totals)
                unfloored = values > _LOG_OF_FLOOR
                np.maximum(values, _LOG_OF_FLOOR, out=values)
            else:
                values = calibrated
        else:
            calibrated = probas
            values = probas if self.pool == "linear" else log_probas

        # Softmax weights over members: pi_i exp(beta Pc_i), normalised.
        np.multiply(calibrated, beta, out=weights)
        weights += log_prior[:, None, None]
        np.exp(weights, out=weights)
        weights /= weights.sum(axis=0)
        np.multiply(weights, values, out=work)
        fused = work.sum(axis=0)

        if self.pool == "linear":
            totals = fused.sum(axis=1)
            true = fused[row_index, y_index]
            clipped = true < _PROBABILITY_FLOOR
            true = np.maximum(true, _PROBABILITY_FLOOR)
            losses = np.log(totals) - np.log(true)
            dloss = np.repeat((weight / totals)[:, None], fused.shape[1], axis=1)
            dloss[row_index, y_index] -= np.where(clipped, 0.0, weight / true)
        else:
            shifted = fused - fused.max(axis=1, keepdims=True)
            exp_fused = np.exp(shifted)
            totals = exp_fused.sum(axis=1)
            losses = np.log(totals) - shifted[row_index, y_index]
            dloss = exp_fused * (weight / totals)[:, None]
            dloss[row_index, y_index] -= weight
        loss = float(np.einsum("m,m->", weight, losses))

        # G_i = g * w_i * (V_i - F): derivative with respect to member i's exponent.
        exponent_grad = np.subtract(values, fused, out=work)
        exponent_grad *= weights
        exponent_grad *= dloss
        grad_log_prior = exponent_grad.sum(axis=(1, 2))
        # einsum, not a BLAS dot: OpenBLAS would start its own threads on top of
        # ours, which measured 30 times slower on 2 cores.
        grad_beta = float(np.einsum("imc,imc->", exponent_grad, calibrated))

        grad_rho = np.zeros(len(log_prior))
        if rho is not None:
            weighted = weights * dloss
            if self.pool == "linear":
                through = (weighted + beta * exponent_grad) * calibrated
            else:
                through = weighted * unfloored + beta * exponent_grad * calibrated
            mean_log = np.einsum("imc,imc->im", calibrated, log_probas)[..., None]
            grad_rho = np.einsum("imc,imc->i", through, log_probas - mean_log)
        return loss, grad_beta, grad_log_prior, grad_rho


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
        )
        fused = fuse(
            out_of_fold,
            temperature=learned.temperature,
            prior=learned.prior,
            pool=pool,
            member_temperatures=learned.member_temperatures,
        )
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
