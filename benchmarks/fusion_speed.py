"""Speed and memory of softmax fusion, as ratios against anchors timed in the same run.

Sections (all by default except ``gpu``):

kernel
    ``softmax_fusion`` on probabilities of shape (5, n_samples, 10) in float64 and
    float32, against ``np.average`` over the member axis with weights, the
    operation VotingClassifier uses for soft voting, on the float64 array.
    Targets: float64 at most 1.0 times the anchor, float32 at most 0.5 times.
e2e
    ``predict_proba`` of SFTClassifier against VotingClassifier(voting="soft")
    with the same five fitted members. Target: at most 5 % overhead.
memory
    Peak memory that numpy allocates during ``predict_proba`` with
    ``batch_size=100_000`` as n_samples grows, beyond the returned array.
    Target: roughly flat.
gpu
    ``softmax_fusion`` on a CUDA device for large float32 inputs: throughput in
    GB/s (input plus output bytes over time) against a device-to-device copy
    timed in the same run and the card's nominal bandwidth, and the speed-up
    over the numpy path. Target: at least 50 % of the memory bandwidth.

Each timing is the minimum over rounds; within a round every candidate runs once,
so a change in machine load hits all of them alike. Wall-clock and CPU times are
both printed. On a shared machine the CPU-time ratios vary less, but for the
threaded numpy path CPU time adds up all threads; the "one thread" rows give
the single-thread figures.

Usage::

    python benchmarks/fusion_speed.py                 # kernel, e2e, memory
    python benchmarks/fusion_speed.py --sections gpu  # on a CUDA machine
    python benchmarks/fusion_speed.py --quick         # small sizes, a smoke run
"""

import argparse
import gc
import os
import platform
import time
import tracemalloc

import numpy as np
import sklearn
import torch
from scipy.special import softmax
from sklearn.datasets import make_classification
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import ThreadpoolController

from sftfusion import SFTClassifier, softmax_fusion

N_MEMBERS = 5
N_CLASSES = 10
WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
CONTROLLER = ThreadpoolController()


def compare(candidates, rounds):
    """Run every candidate once per round; return {name: (wall s, CPU s)} minima."""
    wall = {name: float("inf") for name in candidates}
    cpu = dict(wall)
    for _ in range(rounds):
        for name, function in candidates.items():
            gc.collect()
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name] = min(wall[name], time.perf_counter() - start_wall)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return {name: (wall[name], cpu[name]) for name in candidates}


def print_table(results, anchor):
    """Print times in ms and their ratios to the anchor's, wall-clock and CPU."""
    anchor_wall, anchor_cpu = results[anchor]
    print(f"  {'':44} {'wall ms':>8} {'ratio':>6} {'CPU ms':>8} {'ratio':>6}")
    for name, (wall, cpu) in results.items():
        print(
            f"  {name:44} {wall * 1e3:8.1f} {wall / anchor_wall:6.2f} "
            f"{cpu * 1e3:8.1f} {cpu / anchor_cpu:6.2f}"
        )


def verdict(label, value, target, at_most=True):
    """Print whether ``value`` meets the target: at most it, or at least it."""
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    status = "met" if met else "MISSED"
    print(f"  {label}: {value:.2f}, target {sign} {target:.2f}: {status}")


def one_thread(function, *args, **kwargs):
    """Call ``function`` with the fusion limited to one thread.

    The fusion takes as many threads as OpenMP would; the controller is built
    once because building it scans the loaded libraries, which takes ms.
    """
    with CONTROLLER.limit(limits=1, user_api="openmp"):
        return function(*args, **kwargs)


def naive_fusion(probas, weights):
    """Compute the formula plainly, with full-size temporaries, for reference."""
    prior = weights / weights.sum()
    member_weights = softmax(probas + np.log(prior)[:, None, None], axis=0)
    fused = (member_weights * probas).sum(axis=0)
    return fused / fused.sum(axis=1, keepdims=True)


def random_probas(n_samples, dtype=np.float64, seed=0):
    """Return (N_MEMBERS, n_samples, N_CLASSES) probabilities, rows summing to 1."""
    rng = np.random.default_rng(seed)
    probas = rng.random((N_MEMBERS, n_samples, N_CLASSES), dtype=dtype)
    probas /= probas.sum(axis=2, keepdims=True)
    return probas


def kernel_section(n_samples, rounds):
    print(f"\n[kernel] probas of shape ({N_MEMBERS}, {n_samples:,}, {N_CLASSES})")
    probas64 = random_probas(n_samples)
    probas32 = probas64.astype(np.float32)
    candidates = {
        "np.average float64 (anchor)": lambda: np.average(
            probas64, axis=0, weights=WEIGHTS
        ),
        "np.average float32": lambda: np.average(probas32, axis=0, weights=WEIGHTS),
        "softmax_fusion float64": lambda: softmax_fusion(
            probas64, weights=WEIGHTS, check_input=False
        ),
        "softmax_fusion float32": lambda: softmax_fusion(
            probas32, weights=WEIGHTS, check_input=False
        ),
        "softmax_fusion float64, one thread": lambda: one_thread(
            softmax_fusion, probas64, weights=WEIGHTS, check_input=False
        ),
        "softmax_fusion float32, one thread": lambda: one_thread(
            softmax_fusion, probas32, weights=WEIGHTS, check_input=False
        ),
        "softmax_fusion float64, uniform weights": lambda: softmax_fusion(
            probas64, check_input=False
        ),
        "softmax_fusion float64, check_input=True": lambda: softmax_fusion(
            probas64, weights=WEIGHTS
        ),
        "softmax_fusion float32, check_input=True": lambda: softmax_fusion(
            probas32, weights=WEIGHTS
        ),
        "softmax_fusion float64, T=0.001 (shifted)": lambda: softmax_fusion(
            probas64, weights=WEIGHTS, temperature=1e-3, check_input=False
        ),
        "naive softmax fusion float64": lambda: naive_fusion(probas64, WEIGHTS),
    }
    results = compare(candidates, rounds)
    print_table(results, "np.average float64 (anchor)")
    anchor_wall, anchor_cpu = results["np.average float64 (anchor)"]
    for dtype, target in (("float64", 1.0), ("float32", 0.5)):
        wall, cpu = results[f"softmax_fusion {dtype}"]
        verdict(f"{dtype} wall", wall / anchor_wall, target)
        verdict(f"{dtype} CPU ", cpu / anchor_cpu, target)


def fitted_members(n_features, seed=0):
    """Fit five quick members on 20,000 rows; their predict_proba costs little."""
    X, y = make_classification(
        n_samples=20_000,
        n_features=n_features,
        n_informative=n_features // 2,
        n_classes=N_CLASSES,
        n_clusters_per_class=1,
        random_state=seed,
    )
    members = [
        ("lr", LogisticRegression(max_iter=300)),
        ("nb", GaussianNB()),
        ("lda", LinearDiscriminantAnalysis()),
        ("tree", DecisionTreeClassifier(max_depth=8, random_state=0)),
        ("deep", DecisionTreeClassifier(max_depth=14, random_state=1)),
    ]
    voting = VotingClassifier(members, voting="soft").fit(X, y)
    frozen = [
        (name, FrozenEstimator(member))
        for name, member in voting.named_estimators_.items()
    ]
    return voting, frozen, X, y


def end_to_end_section(n_samples, rounds):
    print(f"\n[e2e] predict_proba of {n_samples:,} rows, 20 features, 5 members")
    voting, frozen, X_train, y_train = fitted_members(n_features=20)
    X = np.random.default_rng(1).standard_normal((n_samples, 20))
    models = {
        "SFTClassifier": SFTClassifier(frozen),
        "SFTClassifier, batch_size=100_000": SFTClassifier(frozen, batch_size=100_000),
        "SFTClassifier, device='cpu'": SFTClassifier(frozen, device="cpu"),
        "SFTClassifier, T=inf": SFTClassifier(frozen, temperature=float("inf")),
    }
    for model in models.values():
        model.fit(X_train, y_train)
    # Same members: at T = inf the fusion is VotingClassifier's soft vote.
    head = X[:1000]
    same = np.allclose(
        models["SFTClassifier, T=inf"].predict_proba(head), voting.predict_proba(head)
    )
    print(f"  SFTClassifier at T=inf equals VotingClassifier on 1,000 rows: {same}")
    candidates = {"VotingClassifier soft (anchor)": lambda: voting.predict_proba(X)}
    for name, model in models.items():
        candidates[name] = lambda model=model: model.predict_proba(X)
    results = compare(candidates, rounds)
    print_table(results, "VotingClassifier soft (anchor)")
    anchor_wall, anchor_cpu = results["VotingClassifier soft (anchor)"]
    wall, cpu = results["SFTClassifier"]
    overhead_wall = wall / anchor_wall - 1
    overhead_cpu = cpu / anchor_cpu - 1
    print(f"  overhead wall {overhead_wall:+.1%}, CPU {overhead_cpu:+.1%}")
    verdict("SFTClassifier CPU", cpu / anchor_cpu, 1.05)


def traced_peak(function):
    """Return the result of ``function()`` and the peak bytes numpy allocated in it.

    numpy reports its array buffers to tracemalloc; torch does not, so this
    measures the numpy path only.
    """
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def memory_section(sizes, batch_size, unbatched_limit):
    print(f"\n[memory] predict_proba with batch_size={batch_size:,}, 8 features")
    _, frozen, X_train, y_train = fitted_members(n_features=8)
    batched = SFTClassifier(frozen, batch_size=batch_size).fit(X_train, y_train)
    unbatched = SFTClassifier(frozen).fit(X_train, y_train)
    print(
        f"  {'n_samples':>12} {'mode':>10} {'peak MiB':>10} {'output MiB':>11} "
        f"{'extra MiB':>10}"
    )
    for n_samples in sizes:
        models = {"batched": batched}
        if n_samples <= unbatched_limit:
            models["unbatched"] = unbatched
        report_memory(n_samples, models)


def report_memory(n_samples, models):
    """Print the peak numpy memory of each model's predict_proba on n_samples rows."""
    X = np.random.default_rng(2).standard_normal((n_samples, 8))
    for mode, model in models.items():
        proba, peak = traced_peak(lambda model=model: model.predict_proba(X))
        extra = peak - proba.nbytes
        print(
            f"  {n_samples:12,} {mode:>10} {peak / 2**20:10.1f} "
            f"{proba.nbytes / 2**20:11.1f} {extra / 2**20:10.1f}"
        )


def cuda_time(function, rounds):
    """Return the minimum seconds of ``function()`` on the current CUDA stream."""
    function()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        function()
        stop.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(stop) / 1e3)
    return best


def nominal_bandwidth(device):
    """Return the card's nominal memory bandwidth in bytes/s, or None if unknown.

    It is twice the memory clock times the bus width, for the double data rate,
    from attributes that not every torch version exposes.
    """
    properties = torch.cuda.get_device_properties(device)
    clock_khz = getattr(properties, "memory_clock_rate", None)
    bus_bits = getattr(properties, "memory_bus_width", None)
    if not clock_khz or not bus_bits:
        return None
    return 2 * clock_khz * 1e3 * bus_bits / 8


def gpu_section(n_samples, rounds):
    if not torch.cuda.is_available():
        print("\n[gpu] skipped: torch finds no CUDA device")
        return
    device = torch.device("cuda")
    print(f"\n[gpu] {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    nominal = nominal_bandwidth(device)
    copy_bandwidth = measure_copy_bandwidth(device, n_samples, rounds)
    print(f"  device-to-device copy: {copy_bandwidth / 1e9:.0f} GB/s (read plus write)")
    if nominal:
        print(f"  nominal memory bandwidth: {nominal / 1e9:.0f} GB/s")
    bandwidth = nominal or copy_bandwidth
    for dtype in (np.float32, np.float64):
        share = report_gpu_fusion(device, n_samples, dtype, rounds, bandwidth)
        if dtype is np.float32:
            verdict("float32 share of the bandwidth", share, 0.5, at_most=False)
        torch.cuda.empty_cache()


def measure_copy_bandwidth(device, n_samples, rounds):
    """Return the bytes/s of a device-to-device copy of a float32 probas tensor."""
    source = torch.empty((N_MEMBERS, n_samples, N_CLASSES), device=device)
    target = torch.empty_like(source)
    seconds = cuda_time(lambda: target.copy_(source), rounds)
    return 2 * source.nbytes / seconds


def report_gpu_fusion(device, n_samples, dtype, rounds, bandwidth):
    """Print the fusion's times and throughput on the device; return its share.

    The share is the throughput (input plus output bytes over time) divided by
    ``bandwidth``.
    """
    host = random_probas(n_samples, dtype=dtype, seed=3)
    probas = torch.from_numpy(host).to(device)
    print(
        f"  probas of shape {tuple(probas.shape)}, {probas.dtype}, "
        f"{probas.nbytes / 1e9:.2f} GB"
    )
    moved = probas.nbytes + probas.nbytes // N_MEMBERS
    kernel = cuda_time(lambda: softmax_fusion(probas, check_input=False), rounds)
    checked = cuda_time(lambda: softmax_fusion(probas), rounds)
    with_transfer = cuda_time(
        lambda: softmax_fusion(torch.from_numpy(host).to(device)).cpu(), rounds
    )
    numpy_seconds = compare(
        {"numpy": lambda: softmax_fusion(host, check_input=False)}, rounds=2
    )["numpy"][0]
    throughput = moved / kernel
    print(
        f"    fusion on the device: {kernel * 1e3:8.2f} ms, "
        f"{throughput / 1e9:7.1f} GB/s, {throughput / bandwidth:5.1%} of the "
        "bandwidth"
    )
    print(f"    with check_input=True: {checked * 1e3:8.2f} ms")
    print(f"    from and back to host memory: {with_transfer * 1e3:8.2f} ms")
    print(
        f"    numpy path: {numpy_seconds * 1e3:8.1f} ms; speed-up "
        f"{numpy_seconds / kernel:.1f}x on the device, "
        f"{numpy_seconds / with_transfer:.1f}x with the transfers"
    )
    return throughput / bandwidth


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections",
        default="kernel,e2e,memory",
        help="comma-separated sections to run: kernel, e2e, memory, gpu",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for a smoke run"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    unknown = sections - {"kernel", "e2e", "memory", "gpu"}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")

    print(
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    quick = args.quick
    if "kernel" in sections:
        kernel_section(10_000 if quick else 1_000_000, rounds=3 if quick else 7)
    if "e2e" in sections:
        end_to_end_section(10_000 if quick else 1_000_000, rounds=2 if quick else 5)
    if "memory" in sections:
        sizes = [1_000, 10_000] if quick else [10**5, 10**6, 10**7]
        memory_section(
            sizes, batch_size=500 if quick else 100_000, unbatched_limit=10**6
        )
    if "gpu" in sections:
        gpu_section(100_000 if quick else 10_000_000, rounds=3 if quick else 10)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
