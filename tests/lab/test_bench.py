"""Tests of the pieces of lab/commands/bench.py (``make bench``'s timings against scikit-learn)
that compute numbers (not the timings)."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench():
    from lab.commands import bench
    return bench


@pytest.mark.parametrize("needed", [1, 24, 25, 26, 300, 777, 5000])
def test_steps_to_reach_finds_the_fewest_steps_within_two_percent(bench, needed):
    calls = []

    def final_loss(n):                      # reaches the target after exactly `needed` steps
        calls.append(n)
        return 1.0 / n if n else np.inf

    steps = bench.steps_to_reach(final_loss, 1.0 / needed, limit=8000)
    assert needed <= steps <= needed * 50 / 49 + 1       # bracket narrowed to 2 % of its top
    assert final_loss(steps) <= 1.0 / needed
    assert len(calls) < 30                  # a scan and a bisection, not a walk


def test_steps_to_reach_says_none_when_the_limit_is_not_enough(bench):
    assert bench.steps_to_reach(lambda n: 1.0 / max(n, 1), 1.0 / 9000, limit=8000) is None


def test_start_spread_is_the_loss_of_each_seed(bench):
    rng = np.random.default_rng(0)
    X = rng.random((30, 12))
    spread = bench.start_spread(X, 3, 20, seeds=range(3))
    assert list(spread) == ["ours (MU)", "sk-mu"]
    assert spread["ours (MU)"] == [bench.fit_ours(X, 3, 20, random_state=s)[1] for s in range(3)]
    assert len(set(spread["ours (MU)"])) == 3          # different starts, different ends
    assert len(spread["sk-mu"]) == 3
    assert all(0 < v < np.sum(X ** 2) for v in spread["sk-mu"])


def test_the_masked_solvers_are_the_compiled_update_and_its_numpy_form(bench):
    """fit_ours on a masked problem runs lab.nmf.non_negative with the mask (the compiled
    pass), fit_ours_numpy the same updates in their NumPy form (lab.kernels.numpy_form): the
    same loss after the same steps."""
    from lab.kernels import numpy_form
    from lab.nmf import non_negative
    rng = np.random.default_rng(1)
    X = rng.random((25, 40)) * 5
    X[rng.random(X.shape) < 0.7] = np.nan
    steps, loss = bench.fit_ours(X, 4, 60, mask="observed")
    assert steps == 60
    assert loss == non_negative(X, 4, n_iter=60, mask="observed").losses[-1]
    with numpy_form():
        numpy_loss = non_negative(X, 4, n_iter=60, mask="observed").losses[-1]
    assert bench.fit_ours_numpy(X, 4, 60, mask="observed") == (60, numpy_loss)
    assert numpy_loss == pytest.approx(loss, rel=1e-9)
