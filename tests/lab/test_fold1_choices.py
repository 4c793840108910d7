"""The notebook's short evaluation uses fixed settings (lab.evaluation.FOLD1_CHOICES): they must
be what the validation search of `make evaluate` picks on fold u1."""

from __future__ import annotations

from pathlib import Path

import pytest

import lab.evaluation as ev
import lab.ratings as rec

DATA = Path(__file__).resolve().parents[2] / "data" / "ml-100k"
needs_data = pytest.mark.skipif(not (DATA / "u1.base").is_file(), reason="run `make data` first")


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("model", ["biases", "svd_zero", "nnls_als"])
def test_the_notebooks_fixed_settings_are_what_the_validation_search_picks(model):
    _, movies, users = rec.load_movielens(DATA)
    index = rec.RatingIndex.from_tables(users, movies)
    base, _ = ev.load_split(1, DATA)
    best, _ = ev.select_params(model, base, index, random_state=1)
    assert best == ev.FOLD1_CHOICES[model]
    assert set(ev.FOLD1_CHOICES) <= set(ev.MODELS)
    assert all(ev.FOLD1_CHOICES[m] in ev.MODELS[m].grid for m in ev.FOLD1_CHOICES)
