"""A hand case for the ranking: a movie the user rated in training has the user's top score
and must not take one of the 10 slots, through every route that ranks: the one ranker
(lab.ratings.top_n), a fitted model's recommend (lab.interface.Model) and the evaluation's
precision and recall (lab.evaluation.top_n_accuracy and score_split).

Two users, fifteen movies (ids 1 to 15), the scores fixed by hand:

* user 1 scores movie j with 16 - j: movie 1 is the top (15), movie 15 the bottom (1);
  in training they rated movies 1 (the top) and 7 (inside the first ten);
* user 2 scores movie j with j: movie 15 is the top; in training they rated 15 (the top)
  and 10 (inside the first ten).

So the 10 best unrated movies are, best first,

* user 1: 2 3 4 5 6 8 9 10 11 12   (the first ten of all would be 1..10)
* user 2: 14 13 12 11 9 8 7 6 5 4  (the first ten of all would be 15..6)

and the held-out (test) ratings are

* user 1: movie 12 (5 stars), 11 (3 stars), 14 (4 stars)
* user 2: movie 4 (5 stars), 5 (3 stars), 2 (4 stars)

Two test movies of each user sit at places 9 and 10 of their unrated ranking, right at the
cut-off (the third at place 12): a rated movie that kept its slot pushes them out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lab.evaluation as ev
from given_scores import GivenScores
from lab.ratings import RatingIndex, top_n
from recommender import RATINGS_COLS

MOVIES = np.arange(1, 16)
USERS = np.array([1, 2])
#: Row 0: user 1 (16 - j, movie 1 on top); row 1: user 2 (j, movie 15 on top).
SCORES = np.vstack([16.0 - MOVIES, MOVIES.astype(float)])
TRAIN = pd.DataFrame([(1, 1, 5), (1, 7, 3), (2, 15, 4), (2, 10, 2)], columns=RATINGS_COLS[:3])
TEST = pd.DataFrame([(1, 12, 5), (1, 11, 3), (1, 14, 4), (2, 4, 5), (2, 5, 3), (2, 2, 4)],
                    columns=RATINGS_COLS[:3])
#: The 10 best movies each user has not rated, best first (by hand, see the docstring).
BEST_UNRATED = {1: [2, 3, 4, 5, 6, 8, 9, 10, 11, 12], 2: [14, 13, 12, 11, 9, 8, 7, 6, 5, 4]}


class HandScores(GivenScores):
    """A model whose scores are SCORES, whatever it is fitted on; it only ranks."""

    key, label = "hand_scores", "scores given by hand"
    predicts_ratings, select_by = False, "precision"


@pytest.fixture()
def model():
    return HandScores(SCORES).fit(TRAIN, RatingIndex(USERS, MOVIES))


def test_the_hand_case_has_the_rated_movie_on_top(model):
    """What the case rests on: each user's top score is a training movie, and movie ids are
    positions + 1 in the index."""
    assert model.index_.shape == (2, 15)
    for row, user in enumerate(USERS):
        top_movie = MOVIES[np.argmax(SCORES[row])]
        assert top_movie in set(TRAIN.loc[TRAIN["user id"] == user, "movie id"])
    assert model.rated_[0, 0] == 5 and model.rated_[1, 14] == 4       # movies 1 and 15


def test_top_n_leaves_the_top_rated_movie_out(model):
    best = top_n(SCORES, model.rated_, 10)
    assert (MOVIES[best]).tolist() == [BEST_UNRATED[1], BEST_UNRATED[2]]
    # not counting the rated movies, the top 10 would start with them: 1 and 15
    assert MOVIES[top_n(SCORES, np.zeros((2, 15), bool), 10)][:, 0].tolist() == [1, 15]


def test_recommend_leaves_the_top_rated_movie_out(model):
    for row, user in enumerate(USERS):
        top = model.recommend(int(user), n=10)
        assert top.index.tolist() == BEST_UNRATED[user]
        positions = np.array(BEST_UNRATED[user]) - 1
        np.testing.assert_array_equal(top.to_numpy(), SCORES[row, positions])
    assert model.recommend(1, n=1).index.tolist() == [2]               # not 1, its top score
    assert model.recommend(2, n=1).index.tolist() == [14]              # not 15


#: By hand, over the 10 best unrated movies (BEST_UNRATED):
#: user 1 hits {11, 12} of {11, 12, 14}, liked (>= 4 stars) {12} of {12, 14};
#: user 2 hits {4, 5} of {2, 4, 5}, liked {4} of {2, 4}.
EXPECTED = {"precision_at_10": (2 / 10 + 2 / 10) / 2,            # 0.2
            "recall_at_10": (2 / 3 + 2 / 3) / 2,                 # 0.667
            "precision_at_10_liked": (1 / 10 + 1 / 10) / 2,      # 0.1
            "recall_at_10_liked": (1 / 2 + 1 / 2) / 2}           # 0.5
#: The same if the rated movies kept their slots (the first ten of all: 1..10 and 15..6):
#: user 1 hits nothing, user 2 nothing (4 and 5 fall out at places 11 and 12).
IF_RATED_COUNTED = {"precision_at_10": 0.0, "recall_at_10": 0.0,
                    "precision_at_10_liked": 0.0, "recall_at_10_liked": 0.0}


def test_the_hand_numbers_tell_the_two_rankings_apart():
    """The expected metrics differ from those of a ranking that keeps the rated movies, and
    both follow from the hand-written top tens (so the hand count is checked once more)."""
    for top_ten, metrics in ((BEST_UNRATED, EXPECTED),
                             ({1: list(range(1, 11)), 2: list(range(15, 5, -1))},
                              IF_RATED_COUNTED)):
        for suffix, least in (("", 1), ("_liked", 4)):
            precision, recall = [], []
            for user in USERS:
                mine = TEST[(TEST["user id"] == user) & (TEST["rating"] >= least)]
                hits = len(set(mine["movie id"]) & set(top_ten[user]))
                precision.append(hits / 10)
                recall.append(hits / len(mine))
            assert metrics[f"precision_at_10{suffix}"] == pytest.approx(np.mean(precision))
            assert metrics[f"recall_at_10{suffix}"] == pytest.approx(np.mean(recall))
    for name in EXPECTED:
        assert EXPECTED[name] != IF_RATED_COUNTED[name]


def test_top_n_accuracy_counts_hits_among_the_best_unrated_only(model):
    rows, cols = model.index_.cells(TEST)
    relevant = np.zeros((2, 15), bool)
    relevant[rows, cols] = True
    liked = np.zeros((2, 15), bool)
    keep = TEST["rating"].to_numpy() >= ev.LIKED_RATING
    liked[rows[keep], cols[keep]] = True
    assert ev.top_n_accuracy(SCORES, model.rated_ != 0, relevant) == pytest.approx(
        (EXPECTED["precision_at_10"], EXPECTED["recall_at_10"]))
    assert ev.top_n_accuracy(SCORES, model.rated_ != 0, liked) == pytest.approx(
        (EXPECTED["precision_at_10_liked"], EXPECTED["recall_at_10_liked"]))
    # the same call with nothing known counts the rated movies: the numbers it must not give
    nothing = np.zeros((2, 15), bool)
    assert ev.top_n_accuracy(SCORES, nothing, relevant) == pytest.approx(
        (IF_RATED_COUNTED["precision_at_10"], IF_RATED_COUNTED["recall_at_10"]))


def test_score_split_counts_hits_among_the_best_unrated_only(model):
    metrics = ev.score_split(model, TEST)
    assert np.isnan(metrics["rmse"]) and np.isnan(metrics["mae"])      # it only ranks
    assert {name: metrics[name] for name in EXPECTED} == pytest.approx(EXPECTED)
    # the scores passed in instead of model.scores(): the same
    assert {name: value for name, value in ev.score_split(model, TEST, SCORES).items()
            if name in EXPECTED} == pytest.approx(EXPECTED)
