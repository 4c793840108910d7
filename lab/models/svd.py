"""The rank-k truncated SVD of a filled rating matrix: zero fill (PureSVD), movie-mean fill."""

from __future__ import annotations

from lab import factorizations
from lab.rules import RANK, SEED, defaults_of
from lab.models.factorization import FactorizationModel


class SVDZeroFill(FactorizationModel):
    """The rank-k truncated SVD of the zero-filled matrix (PureSVD)."""

    key, label, fill, select_by = "svd_zero", "rank-k SVD, zero fill (PureSVD)", 0, "precision"
    defaults = {"num_components": 15,
                **defaults_of(factorizations.truncated_svd, "random_state")}
    rules = {"num_components": RANK, "random_state": SEED}
    grid = {"num_components": [5, 10, 15, 20, 30, 50]}

    def factorize(self, data, **options):
        return factorizations.truncated_svd(data, **options)


class SVDMovieMeanFill(SVDZeroFill):
    key, label = "svd_movie_mean", "rank-k SVD, movie-mean fill"
    fill, select_by = "movie_mean", "rmse"
    grid = {"num_components": [2, 5, 10]}
