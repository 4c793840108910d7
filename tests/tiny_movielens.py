"""A tiny MovieLens-format folder (4 users, 6 movies, 12 ratings; titles in latin-1), for the
tests of the ground floor and of the lab: tests/conftest.py makes fixtures of it."""

# movie id, title (latin-1 on disk), release date, genres
TINY_MOVIES = [
    (1, "Toy Story (1995)", "01-Jan-1995", ["Animation", "Childrens", "Comedy"]),
    (2, "Café au lait (1993)", "01-Jan-1993", ["Comedy"]),
    (3, "Scream (1996)", "20-Dec-1996", ["Horror", "Thriller"]),
    (4, "Amélie's Nightmare (1990)", "", ["Horror"]),
    (5, "Lion King, The (1994)", "24-Jun-1994", ["Animation", "Childrens", "Musical"]),
    (6, "Heat (1995)", "15-Dec-1995", ["Action", "Crime", "Thriller"]),
]
# user id, movie id, rating, timestamp; user 3 rates everything but movie 6
TINY_RATINGS = [
    (1, 1, 5, 881250949), (1, 2, 3, 881250950), (1, 5, 4, 881250951),
    (2, 3, 5, 881250952), (2, 4, 4, 881250953), (2, 1, 1, 881250954),
    (3, 1, 2, 881250955), (3, 2, 4, 881250956), (3, 3, 3, 881250957),
    (3, 4, 1, 881250958), (3, 5, 2, 881250959),
    (4, 6, 5, 881250960),
]
TINY_USERS = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
              (3, 23, "M", "writer", "32067"), (4, 24, "F", "other", "T8H1N")]


def write_tiny_movielens(folder):
    """Write u.data, u.item (latin-1) and u.user of the tiny MovieLens into ``folder`` (made
    here) and return it."""
    from recommender import GENRES

    folder.mkdir(parents=True)
    (folder / "u.data").write_text("".join("\t".join(map(str, row)) + "\n"
                                           for row in TINY_RATINGS))
    lines = []
    for movie_id, title, date, genres in TINY_MOVIES:
        flags = ["1" if genre in genres else "0" for genre in GENRES]
        url = f"http://us.imdb.com/M/title-exact?{movie_id}"
        lines.append("|".join([str(movie_id), title, date, "", url, *flags]) + "\n")
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (folder / "u.user").write_text("".join("|".join(map(str, row)) + "\n" for row in TINY_USERS))
    return folder
