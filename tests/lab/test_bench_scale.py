"""Tests of the pieces of the scale benchmarks (lab/commands/bench_scale.py and
spark_scale.py) that compute numbers, not the timings themselves: the synthetic ratings
(lab.commands.synthetic), the reading of one iteration (lab.commands.shell), the
floating-point counts and the algorithms' names."""

import numpy as np
import pytest


def test_synthetic_scale_data_has_the_requested_shape():
    from lab.commands import synthetic
    X = synthetic.synthetic_ratings(60, 40, 700, seed=3)
    assert X.shape == (60, 40) and X.nnz == 700
    assert set(np.unique(X.data)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(np.unique(X.data)) >= 4
    counts = np.diff(X.tocsc().indptr)
    assert counts.max() > 3 * np.median(counts)              # popular and rare movies
    np.testing.assert_array_equal(synthetic.synthetic_ratings(60, 40, 700, seed=3).data, X.data)


def test_scale_bench_reads_one_iteration_without_the_set_up(fake_now):
    """per_iteration: a fit of k iterations that costs set-up + k * step on a fake clock gives
    back exactly step and the 1-iteration fit's time; every algorithm has a target and a
    floating-point count."""
    from lab.commands import bench_scale as bench, shell

    def fit(k, set_up=0.7, step=0.25):
        fake_now(set_up + k * step)

    step, one = shell.per_iteration(fit, extra=3, repeat=2)
    assert step == pytest.approx(0.25) and one == pytest.approx(0.95)
    assert set(bench.TARGETS) == set(bench.ALGORITHMS) <= set(bench.FLOP_PER_CELL)


def test_the_scale_bench_names_its_algorithms_by_their_registry_keys():
    from lab.commands import bench_scale as bench
    from lab.models import REGISTRY
    assert set(bench.ALGORITHMS) <= set(REGISTRY)


def test_every_case_runs_through_the_registry_in_each_thread_environment(monkeypatch):
    """measure() starts one child per environment, shape and model, each without the
    caller's thread variables (make exports OMP_NUM_THREADS=1) and with its own settings."""
    import json
    import types

    from lab.commands import bench_scale as bench

    seen = []

    def child(command, **options):
        seen.append((command, options["env"]))
        size, key = command[command.index("--case") + 1:command.index("--case") + 3]
        row = {"size": size, "algorithm": key, "ratings": 1, "first_fit_seconds": 1.0,
               "setup_seconds": 0.1, "seconds_per_iteration": 0.2, "zero_filled_seconds": 0.1,
               "ratio": 2.0, "gflop": 1.0, "gflops": 5.0, "peak_gib": 0.1}
        return types.SimpleNamespace(returncode=0, stdout=json.dumps(row), stderr="")

    monkeypatch.setattr(bench, "dense_probe", lambda: 1.0)
    monkeypatch.setattr(bench.subprocess, "run", child)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    args = types.SimpleNamespace(sizes=["10m"], algorithms=list(bench.ALGORITHMS), extra=1,
                                 repeat=1, components=20)
    rows = bench.measure(args)
    assert [row["environment"] for row in rows[1:]] == [
        environment for environment in bench.ENVIRONMENTS for _ in bench.ALGORITHMS]
    assert {env.get("OMP_NUM_THREADS") for _, env in seen} == {None, "1"}
    assert all("MKL_NUM_THREADS" not in env for _, env in seen)
    assert [command[command.index("--case") + 2] for command, _ in seen] == \
        list(bench.ALGORITHMS) * len(bench.ENVIRONMENTS)


def test_timed_fits_reads_the_first_fit_one_iteration_and_the_set_up(fake_now):
    """On a fake clock where a fit of k iterations costs set-up + k * step, and the first fit
    also pays a one-off 5 s (imports, compiling): the three figures come back exactly."""
    from lab.commands import shell
    fits = []

    def fit(k, set_up=0.5, step=0.125):
        fake_now(set_up + k * step + (5.0 if not fits else 0.0))
        fits.append(k)
        return f"model {len(fits)}"

    model, first, step, set_up = shell.timed_fits(fit, extra=4, repeat=2)
    assert model == "model 1" and fits == [1, 1, 5, 1, 5]
    assert (first, step, set_up) == (5.625, 0.125, 0.5)
