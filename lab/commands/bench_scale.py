"""How the observed-cell models scale, through the model interface, in the thread settings a
user may have: synthetic data shaped like MovieLens-1M and -10M.

    python -m lab.commands.bench_scale                 # the 1M shape (a few minutes)
    python -m lab.commands.bench_scale --sizes 1m 10m  # also the 10M shape (about 15 minutes)

(from the repository root).

The data are synthetic (:mod:`lab.commands.synthetic`): the real data sets' numbers of
users, movies and ratings, log-normal user activity and movie popularity, ratings 1..5 from
a non-negative rank-10 model plus noise, handed over as a ratings table.  Each model of
:data:`ALGORITHMS` is fitted as a user fits it,
``REGISTRY[key](num_components=20, n_iter=k, l2=0.1).fit(ratings)``, in a fresh Python
process per shape, model and thread environment (:data:`ENVIRONMENTS`: none of the thread
variables set, as in a user's own Python, and ``OMP_NUM_THREADS=1``, as ``make`` exports
it); the benchmark pins neither BLAS nor numba there (the kernels' own
:func:`lab.kernels.single_threaded_blas` still applies, as it does for a user).  Each
process generates the ratings, then measures:

* the first fit's time (1 iteration: numba loading or compiling, the index, the set-up);
* the time of one iteration, ``(fit of 1 + k iterations - fit of 1) / k`` (best of
  ``--repeat``), which leaves the set-up out;
* the set-up: a 1-iteration fit minus one iteration (the users x movies index built from
  the table, the sparse matrix, validation, grouping the cells by row and by column, the
  start, the first loss);
* one iteration of the exercise's ``nmf_core.non_negative`` on the same ratings as a
  zero-filled CSR matrix (SciPy's sparse products: the cheapest iteration that touches
  every rated cell), in the same process and environment, and the ratio to it;
* the floating-point work of one iteration (GFLOP, formulas in :data:`FLOP_PER_CELL`)
  and the rate reached, beside a dense matrix product on every core in the same run
  (the machine's practical peak);
* the process's peak resident memory.

The ratings live in a sparse matrix; the models form predictions only at observed cells,
so nothing of size users x movies is ever allocated (the 10M shape's dense matrix alone
would need 5.6 GiB).  The compiled kernels run on every core and own their threading (the
row solves hold BLAS to one thread inside numba's parallel loop), so their results do not
depend on the thread variables, nor should their speed on the BLAS and OpenMP ones (which
this measures); ``NUMBA_NUM_THREADS`` sets how many cores they use.

Targets on the 10M shape, in every environment, as ratios to the zero-filled iteration:
masked MU <= 1.0, NNLS-ALS <= 4, biased model <= 4, each printed with ``holds`` or
``FAILS``.  Writes ``build/bench_scale.json`` atomically; Ctrl-C ends it (and the case
running) with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

from lab import clock
from lab.commands import shell
from lab.commands.synthetic import SHAPES, ratings_frame, synthetic_ratings

#: The algorithms timed, by the keys of their models in lab.models.REGISTRY.
ALGORITHMS = ("nmf_masked", "nnls_als", "biased_nmf")
#: The thread variables a user may set, and the environments measured: each starts from the
#: caller's environment without them, then sets its own.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
ENVIRONMENTS = {"no thread variable": {}, "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"}}
#: Per-iteration time on the 10M shape at most this many zero-filled MU iterations.
TARGETS = {"nmf_masked": 1.0, "nnls_als": 4.0, "biased_nmf": 4.0}
#: Floating-point operations of one iteration per rated cell, for rank M: the masked
#: update forms z_i . h_j, x h_j and p h_j at every cell in each half-step (6M each);
#: NNLS-ALS and the biased model add, in each half-step, h_j h_j^T (2M^2: the kernel forms
#: the whole matrix by one BLAS product per row), x h_j and h_j (3M) into each row's
#: normal equations, the biased model also the target's bias correction and squares (4);
#: the small solves are not counted, so their rate is a lower bound; the zero-filled
#: iteration multiplies X^T Z and X H^T (2M each) plus products of size (n + m) M^2.
FLOP_PER_CELL = {"nmf_masked": lambda M: 12 * M,
                 "nnls_als": lambda M: 2 * (2 * M * M + 3 * M),
                 "biased_nmf": lambda M: 2 * (2 * M * M + 3 * M + 4),
                 "zero_filled": lambda M: 4 * M}


def run_case(size: str, key: str, extra: int, repeat: int, components: int) -> dict:
    """Generate the data, then time one model (through ``REGISTRY``) and the zero-filled
    reference, in this process (see the module's docstring for each figure)."""
    import numba
    from threadpoolctl import threadpool_info

    import nmf_core
    from lab.models import REGISTRY

    def generated():
        X = synthetic_ratings(*SHAPES[size], seed=shell.SEED)
        return X, ratings_frame(X)

    (X, ratings), generate = clock.timed(generated)

    def fit(iterations):
        return REGISTRY[key](num_components=components, n_iter=iterations,
                             l2=shell.SCALE_L2).fit(ratings)

    model, first, seconds, setup = shell.timed_fits(fit, extra, repeat)
    reference, _ = shell.per_iteration(lambda k: nmf_core.non_negative(X, components, n_iter=k),
                                 extra, repeat)
    n, m = X.shape
    flop = FLOP_PER_CELL[key](components) * X.nnz
    reference_flop = FLOP_PER_CELL["zero_filled"](components) * X.nnz + 8 * (n + m) * components**2
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux
    return {"size": size, "algorithm": key, "users": n, "movies": m,
            "ratings": X.nnz, "components": components, "generate_seconds": generate,
            "first_fit_seconds": first, "setup_seconds": setup,
            "seconds_per_iteration": seconds, "zero_filled_seconds": reference,
            "ratio": seconds / reference, "gflop": flop / 1e9, "gflops": flop / 1e9 / seconds,
            "zero_filled_gflops": reference_flop / 1e9 / reference,
            "peak_gib": peak_kib / 2**20, "objective_after_one": float(model.losses_[-1]),
            "blas_threads": [info["num_threads"] for info in threadpool_info()
                             if info["user_api"] == "blas"],
            "numba_threads": numba.get_num_threads(), "numba_layer": numba.threading_layer()}


def dense_probe(size: int = 2000, repeat: int = 3) -> float:
    """GFLOP/s of a dense ``size`` x ``size`` float64 matrix product on every core (BLAS
    threads raised to the core count for the probe alone): the machine's practical peak."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    A, B = rng.random((size, size)), rng.random((size, size))
    with threadpool_limits(limits=os.cpu_count()):
        A @ B
        best = clock.best_time(lambda: A @ B, repeat)
    return 2 * size**3 / best / 1e9


def measure(args) -> list[dict]:
    """The dense probe, then every case in a process of its own, in each environment (one
    line each): the rows of the JSON file."""
    probe = dense_probe()
    print(f"dense matrix product on {os.cpu_count()} cores: {probe:.1f} GFLOP/s (the practical "
          f"peak); synthetic data, M={args.components}, through REGISTRY, one iteration = (fit "
          f"of {1 + args.extra} - fit of 1) / {args.extra}, best of {args.repeat}")
    print(f"{'environment':>18} {'shape':>5} {'algorithm':>11} {'ratings':>11} {'first fit':>9} "
          f"{'set-up':>7} {'s/iter':>7} {'zero-filled':>11} {'ratio':>6} {'GFLOP':>6} "
          f"{'GFLOP/s':>8} {'peak GiB':>8}  target")
    rows = [{"probe_gflops": probe}]
    for environment, settings in ENVIRONMENTS.items():
        env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
        for size in args.sizes:
            for key in args.algorithms:
                child = subprocess.run([sys.executable, "-m", "lab.commands.bench_scale",
                                        "--case", size, key, "--extra", str(args.extra),
                                        "--repeat", str(args.repeat), "--components",
                                        str(args.components)], capture_output=True, text=True,
                                       cwd=shell.ROOT, env={**env, **settings})
                if child.returncode != 0:
                    last = (child.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"{environment:>18} {size:>5} {key:>11}  failed: {last}")
                    rows.append({"environment": environment, "size": size, "algorithm": key,
                                 "error": last})
                    continue
                row = {"environment": environment,
                       **json.loads(child.stdout.strip().splitlines()[-1])}
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    verdict = ""
    if row["size"] == "10m":
        limit = TARGETS[row["algorithm"]]
        verdict = f"{'holds' if row['ratio'] <= limit else 'FAILS'} (<= {limit:g})"
    return (f"{row['environment']:>18} {row['size']:>5} {row['algorithm']:>11} "
            f"{row['ratings']:>11,} {row['first_fit_seconds']:>8.2f}s "
            f"{row['setup_seconds']:>6.2f}s "
            f"{row['seconds_per_iteration']:>7.3f} {row['zero_filled_seconds']:>11.3f} "
            f"{row['ratio']:>6.2f} {row['gflop']:>6.1f} {row['gflops']:>8.1f} "
            f"{row['peak_gib']:>8.2f}  {verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1m"], choices=list(SHAPES))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--extra", type=int, default=3,
                        help="iterations beyond the first in the timed fit")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many timings")
    parser.add_argument("--components", type=int, default=shell.SCALE_RANK)
    parser.add_argument("--output", type=Path, default=shell.ROOT / "build" / "bench_scale.json")
    parser.add_argument("--case", nargs=2, metavar=("SIZE", "ALGORITHM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:          # child process: one measurement, in the environment it was given
        print(json.dumps(run_case(*args.case, args.extra, args.repeat, args.components)))
        return 0
    with shell.on_ctrl_c(f"{args.output} was not written"):
        rows = measure(args)
    shell.write_atomically(args.output, lambda p: p.write_text(json.dumps(rows, indent=1)))
    print(f"(seconds; 'zero-filled': one iteration of nmf_core.non_negative on the same ratings "
          f"as a CSR matrix, in the same process; 'ratio' = s/iter / zero-filled; GFLOP of one "
          f"iteration, the solves not counted; wrote {args.output})")
    return 0


if __name__ == "__main__":
    sys.exit(shell.run(main))
