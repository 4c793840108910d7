"""Spark MLlib's ALS(nonnegative=True) beside our nnls_als, per iteration, at scale.

    .venv-spark/bin/python -m lab.commands.spark_scale [--sizes 1m 10m] [--extra 2]

``make spark-scale`` runs it in ``.venv-spark``.  The ratings are the synthetic ones of
``make bench`` (:func:`lab.commands.synthetic.synthetic_ratings`: the shapes of
MovieLens-1M and -10M, log-normal activity and popularity, ratings 1..5 from a non-negative
rank-10 model plus noise).  Both systems are fitted through the lab's model interface,
``REGISTRY["nnls_als"]`` and :class:`lab.models.spark.SparkALS` (local mode, every core),
with the same rank (20), penalty (``l2 = regParam = 0.1``) and seed.  One iteration is read
as ``(fit of 1 + extra iterations - fit of 1) / extra`` (best of ``--repeat``), so what a
fit does once (building the index, handing the ratings to Spark, collecting the factors)
is left out and reported as the set-up.  One line per size and system; writes
``build/spark_scale.csv`` atomically.  BLAS runs on one thread for ours, as in
``make evaluate`` (the compiled row solves use every core); Spark runs its own threads on
every core.  Ctrl-C stops Spark quietly and
ends it with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from lab.commands import shell
from lab.commands.synthetic import SHAPES, ratings_frame, synthetic_ratings

#: The settings both systems get.
SETTINGS = {"num_components": shell.SCALE_RANK, "l2": shell.SCALE_L2, "random_state": shell.SEED}


def time_system(model_class, ratings: pd.DataFrame, extra: int, repeat: int) -> dict:
    """Seconds of one iteration and of the set-up of one system's fit (model interface)."""
    def fit(iterations):
        return model_class(n_iter=iterations, **SETTINGS).fit(ratings)

    _, first, step, setup = shell.timed_fits(fit, extra, repeat)
    return {"first_fit_seconds": first, "seconds_per_iteration": step, "setup_seconds": setup}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1m", "10m"], choices=list(SHAPES))
    parser.add_argument("--extra", type=int, default=2,
                        help="iterations beyond the first in the timed fit")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many timings")
    parser.add_argument("--output", type=Path, default=shell.ROOT / "build" / "spark_scale.csv")
    args = parser.parse_args(argv)
    from lab.models import REGISTRY
    systems = {key: REGISTRY[key] for key in ("nnls_als", "spark_als")}
    shell.one_blas_thread()
    print(f"per iteration = (fit of {1 + args.extra} - fit of 1) / {args.extra}, best of "
          f"{args.repeat}; rank {SETTINGS['num_components']}, l2 = regParam = {SETTINGS['l2']}; "
          f"{os.cpu_count()} cores")
    print(f"{'shape':>5} {'ratings':>11} {'system':>9} {'first fit':>10} {'set-up':>8} "
          f"{'s/iter':>8}")
    rows = []
    with shell.spark_block(f"{args.output} was not written"):
        for size in args.sizes:
            ratings = ratings_frame(synthetic_ratings(*SHAPES[size], seed=shell.SEED))
            for name, model_class in systems.items():
                row = {"size": size, "ratings": len(ratings), "system": name,
                       **time_system(model_class, ratings, args.extra, args.repeat)}
                rows.append(row)
                print(f"{size:>5} {len(ratings):>11,} {name:>9} "
                      f"{row['first_fit_seconds']:>9.1f}s {row['setup_seconds']:>7.1f}s "
                      f"{row['seconds_per_iteration']:>8.2f}", flush=True)
            ours, spark = (rows[-2]["seconds_per_iteration"], rows[-1]["seconds_per_iteration"])
            print(f"{size:>5}: Spark's iteration takes {spark / ours:.2f}x ours", flush=True)
    shell.write_table(pd.DataFrame(rows), args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(shell.run(main))
