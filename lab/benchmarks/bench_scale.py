"""How the observed-cell algorithms scale: synthetic data shaped like MovieLens-1M and -10M.

    python -m lab.benchmarks.bench_scale                 # the 1M shape (about a minute)
    python -m lab.benchmarks.bench_scale --sizes 1m 10m  # also the 10M shape (a few minutes)

(from the repository root).

For each shape and algorithm (masked multiplicative-update NMF,
``lab.kernels.masked_updates``; NNLS-ALS, ``lab.factorizations.als`` with
``nonnegative=True``; the biased non-negative model,
``lab.factorizations.biased_non_negative``; M=20), a fresh Python process generates the
ratings, makes an untimed 1-iteration warm-up fit, then times a fit of a few
iterations and reports its seconds per iteration and the process's peak
resident memory.  The ratings live in a sparse matrix; the algorithms form
predictions only at observed cells, so nothing of size users x movies is ever
allocated (the 10M shape's dense matrix alone would need 5.6 GiB).

Budget at 10M ratings, M=20: under 10 s per iteration and under 3 GiB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

# name: (users, movies, ratings) of the real MovieLens data sets
SHAPES = {"1m": (6_040, 3_706, 1_000_209), "10m": (69_878, 10_677, 10_000_054)}
ALGORITHMS = ("masked_nmf", "nnls_als", "biased_nmf")
SECONDS_BUDGET, GIB_BUDGET = 10.0, 3.0


def synthetic_ratings(n_users, n_movies, n_ratings, rank=10, seed=0):
    """A sparse users x movies matrix of 1..5 ratings with MovieLens-like skew.

    Users and movies are drawn with log-normal activity and popularity (a few
    very active users, a long tail of rarely rated movies); ratings come from a
    non-negative rank-``rank`` model plus noise, rounded and clipped to 1..5.

    Returns
    -------
    csr_matrix of shape (n_users, n_movies) with ``n_ratings`` stored entries
    """
    rng = np.random.default_rng(seed)
    user_weight = rng.lognormal(0, 1.0, n_users)
    movie_weight = rng.lognormal(0, 1.5, n_movies)
    cells = np.empty(0, dtype=np.int64)
    while cells.size < n_ratings:            # draw, drop repeated cells, top up
        extra = int((n_ratings - cells.size) * 1.1) + 1000
        rows = rng.choice(n_users, extra, p=user_weight / user_weight.sum())
        cols = rng.choice(n_movies, extra, p=movie_weight / movie_weight.sum())
        cells = np.unique(np.concatenate([cells, rows.astype(np.int64) * n_movies + cols]))
    cells = rng.permutation(cells)[:n_ratings]
    rows, cols = np.divmod(cells, n_movies)
    Z = rng.gamma(1.0, 1.0, (n_users, rank))
    H = rng.gamma(1.0, 1.0, (rank, n_movies))
    raw = np.einsum("nk,kn->n", Z[rows], H[:, cols])
    raw = 1 + 4 * (raw - raw.min()) / (np.ptp(raw) + 1e-12) + rng.normal(0, 0.7, raw.size)
    ratings = np.clip(np.rint(raw), 1, 5)
    return sp.csr_matrix((ratings, (rows, cols)), shape=(n_users, n_movies))


def run_case(size: str, algorithm: str, n_iter: int, components: int) -> dict:
    """Generate the data, time ``n_iter`` iterations of one algorithm; in this process.

    An untimed 1-iteration fit comes first, so one-off costs of the process
    (numba loading the compiled masked kernel) are not charged to the
    iterations; the timed fit still includes its own validation and setup.
    """
    from lab.factorizations import als, biased_non_negative
    from lab.kernels import masked_updates
    start = time.perf_counter()
    X = synthetic_ratings(*SHAPES[size])
    generate = time.perf_counter() - start

    def fit(iterations):
        # every algorithm sees the stored cells of X as the observed ones (mask="observed")
        if algorithm == "masked_nmf":
            return masked_updates(X, components, n_iter=iterations, mask="observed", l2=0.1)
        if algorithm == "nnls_als":
            return als(X, components, nonnegative=True, n_iter=iterations, l2=0.1)
        return biased_non_negative(X, components, n_iter=iterations, l2=0.1)

    fit(1)
    start = time.perf_counter()
    result = fit(n_iter)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux
    return {"size": size, "algorithm": algorithm, "users": X.shape[0], "movies": X.shape[1],
            "ratings": X.nnz, "components": components, "iterations": n_iter,
            "generate_seconds": generate, "seconds_per_iteration": seconds / n_iter,
            "peak_gib": peak_kib / 2**20, "final_objective": float(result.losses[-1])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1m"], choices=list(SHAPES))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench_scale.json")
    parser.add_argument("--case", nargs=2, metavar=("SIZE", "ALGORITHM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:                               # child process: one measurement, JSON out
        print(json.dumps(run_case(*args.case, args.iterations, args.components)))
        return 0
    rows = []
    print(f"{'shape':>5} {'algorithm':>11} {'ratings':>11} {'s/iter':>8} {'peak GiB':>9}  budget")
    for size in args.sizes:
        for algorithm in args.algorithms:
            child = subprocess.run([sys.executable, "-m", "lab.benchmarks.bench_scale", "--case",
                                    size, algorithm, "--iterations", str(args.iterations),
                                    "--components", str(args.components)],
                                   capture_output=True, text=True, cwd=ROOT)
            if child.returncode != 0:
                last = (child.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{size:>5} {algorithm:>11}  failed: {last}")
                rows.append({"size": size, "algorithm": algorithm, "error": last})
                continue
            row = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append(row)
            verdict = ""
            if size == "10m":
                ok = row["seconds_per_iteration"] < SECONDS_BUDGET and row["peak_gib"] < GIB_BUDGET
                verdict = "within" if ok else "over"
            print(f"{size:>5} {algorithm:>11} {row['ratings']:>11,} "
                  f"{row['seconds_per_iteration']:>8.2f} {row['peak_gib']:>9.2f}  {verdict}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_name(f".{args.output.name}.tmp")
    temporary.write_text(json.dumps(rows, indent=1))
    os.replace(temporary, args.output)
    print(f"(budget at 10M, M={args.components}: < {SECONDS_BUDGET:g} s/iteration, "
          f"< {GIB_BUDGET:g} GiB peak; wrote {args.output})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
