"""The hand-in, read as a tutor reads it: the executed notebook and its HTML page.

`make test` builds ``build/nmf.ipynb`` first when it is stale (the Makefile makes it a
prerequisite), so the notebook is executed once, by the build, and these tests only
read it.  Run outside `make` with a stale or missing copy, the notebook is executed
into a temporary folder instead; nothing is ever written into the working tree.
"""

from __future__ import annotations

import inspect
import re
from html import unescape

import nbformat
import pytest

from scripts import ML_100K, ROOT, execute_notebook, export_html
from test_build import kernel_name

SOURCES = [ROOT / "nmf.ipynb", *ROOT.glob("*.py"), ROOT / "tools" / "execute_notebook.py"]
#: The model solution's size: what a tutor reads in 20 minutes.
MAX_WORDS, MAX_CODE_LINES, MAX_CELLS = 1000, 180, 30

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ML_100K / "u.data").is_file(),
                                 reason="run `make data` first")]


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    built = ROOT / "build" / "nmf.ipynb"
    if built.is_file() and built.stat().st_mtime >= max(p.stat().st_mtime for p in SOURCES):
        return nbformat.read(built, as_version=4)
    output = tmp_path_factory.mktemp("notebook") / "nmf.ipynb"
    execute_notebook.execute(ROOT / "nmf.ipynb", output, kernel_name(), timeout=600,
                             progress=False)
    return nbformat.read(output, as_version=4)


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return str(data.get("text/plain", "")) + str(data.get("text/html", "")) + \
        str(data.get("text/markdown", ""))


def _prose(cell) -> str:
    """A markdown cell without its math and code spans."""
    return re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", cell.source, flags=re.S)


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][\w'-]*", text))


def test_every_cell_ran_without_error_or_warning(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    assert [o for c in code for o in c.outputs if o.output_type == "error"] == []
    assert [o.text for c in code for o in c.outputs if o.get("name") == "stderr"] == []


def test_every_figure_has_alt_text(executed):
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 5
    for image in images:
        alt = image.get("metadata", {}).get("image/png", {}).get("alt", "")
        assert len(alt.split()) >= 8, f"figure without a real description: {alt!r}"


def test_the_notebook_is_short_enough_to_read_in_twenty_minutes():
    notebook = nbformat.read(ROOT / "nmf.ipynb", as_version=4)
    code = [line for c in notebook.cells if c.cell_type == "code"
            for line in c.source.splitlines() if line.strip()]
    assert len(notebook.cells) <= MAX_CELLS and len(code) <= MAX_CODE_LINES, \
        (len(notebook.cells), len(code))


def test_prose_is_short(executed):
    """At most MAX_WORDS words in all markdown, counted strictly: math and code spans too."""
    words = {}
    section = "intro"
    for cell in executed.cells:
        if cell.cell_type == "markdown":
            if match := re.match(r"## (.+)", cell.source):
                section = match[1].split()[0]
            words[section] = words.get(section, 0) + _words(cell.source)
    assert sum(words.values()) <= MAX_WORDS, words
    assert set(words) == {"intro", "1.1", "1.2"}, f"sections beyond the sheet's: {words}"


def test_every_question_of_the_exercise_has_an_answer(executed):
    answers = [c.source for c in executed.cells
               if c.cell_type == "markdown" and "**Answer:" in c.source]
    asked = ["similar to scikit-learn", "non-increasing", "fill value", "which m",
             "recommendations make sense", "new user's", "genre statistics", "prototypical"]
    for question in asked:
        assert any(question in answer for answer in answers), question


def test_every_number_and_movie_in_the_prose_was_shown_above(executed):
    """A number or an italic movie title in the prose must appear in a cell's code or
    output above it (or, for a setting the prose announces, in the code of the cell it
    introduces): nothing is typed in from another run."""
    seen = ""
    cells = executed.cells
    for position, cell in enumerate(cells):
        if cell.cell_type == "code":
            seen += cell.source + "".join(_text(o) for o in cell.outputs)
            continue
        following = next((c.source for c in cells[position + 1:] if c.cell_type == "code"), "")
        prose = re.sub(r"^#+ \d(\.\d)*", "", _prose(cell), flags=re.M)   # section numbers,
        prose = re.sub(r"[Ss]ections? \d\.\d( and \d\.\d)?", "", prose)   # references to them,
        prose = re.sub(r"\(\d\)|MovieLens-100k", "", prose)                 # equation labels,
        prose = re.sub(r"\((?:[A-Z][\w&.]*\s)+\d{4}\)", "", prose)        # citations
        prose = re.sub(r"\b(NIPS|RecSys) \d{4}", "", prose)                # and venues
        for number in re.findall(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?", prose):
            assert number in seen + following, \
                f"{number!r} in the prose is printed nowhere above:\n{prose}"
        for title in re.findall(r"\*([^*]+\(\d{4}\))\*", cell.source):
            title = " ".join(title.split())                   # a title may wrap in the source
            assert title in seen, f"{title!r} is named in the prose but shown nowhere above"


def test_the_claims_printed_by_the_notebook_hold(executed):
    """The outputs behind the answers' words: equal factors from the literal equations;
    scikit-learn from our start within 0.1 % of our final loss with most components the
    same, from its own start within 6 % with fewer; a falling loss curve; every M's ZH less
    sparse than X, a precision at 10 that peaks between M = 1 and 50 with M = 20 among its
    best, the main model's ZH less sparse than X; rows of H that enrich no genre; the fan's
    horror share; the two users' top 20 holding less of their genre than they rated and
    more than the most rated unseen movies, its other genres' movies much rated, a movie's
    score among non-raters following its number of ratings; and the fills on the split u1:
    0 recommends best, better than the most rated movies alone, its top 10s popular, more
    so with the mean of all ratings, movies of few, high ratings with each movie's mean."""
    printed = "".join(_text(o) for c in executed.cells if c.cell_type == "code"
                      for o in c.outputs)
    literal = re.search(r"after 100 steps, Z and H differ by ([\d.e+-]+) of their largest entry",
                        printed)
    assert literal and float(literal[1]) < 1e-9
    runs = {start: (float(loss), int(close), float(lowest)) for start, loss, close, lowest in
            re.findall(r"scikit-learn from (our start|its own start): final loss ([+-][\d.]+)% "
                       r"against ours; cosine of the 16 pairs: (\d+) above 0\.95, lowest "
                       r"([\d.]+)", printed)}
    assert abs(runs["our start"][0]) < 0.1 and runs["our start"][1] >= 10   # the same start,
    assert abs(runs["its own start"][0]) <= 6                              # the same result;
    assert runs["its own start"][1] < runs["our start"][1]                 # not from another
    assert "non-increasing: True" in printed
    choice = re.search(r"empty cells of X \(train\): ([\d.]+); M whose ZH is not less sparse: "
                       r"\[\]; highest precision at 10: M = (\d+); within 0\.01 of it: "
                       r"M = \[([\d, ]+)\]", printed)      # every M passes the sheet's test
    assert choice and float(choice[1]) > 0.9
    assert int(choice[2]) < max(map(int, choice[3].split(", "))) == 20    # M = 20 ties the best
    precision = dict(re.findall(r"^(\d+) +0\.\d{3} +(0\.\d{3})", printed, re.M))   # the sweep
    assert float(precision["1"]) < float(precision["20"]) > float(precision["50"])   # a peak
    main = re.search(r"the main model: M = 20, 1000 steps; empty cells of ZH ([\d.]+) \(exactly "
                     r"0: ([\d.]+)%\), of X ([\d.]+)", printed)
    assert main and float(main[1]) < float(main[3]) and float(main[2]) < 1   # hardly an exact 0
    plain = re.search(r"rows enriching no genre twice or more: (\d+)", printed)
    assert plain and 0 < int(plain[1]) < 20
    fan = re.search(r"(\d+) horror films in the top 10 \((\d+)%\), (\d+) other thrillers; "
                    r"horror is ([\d.]+)% of the catalogue", printed)
    assert fan and int(fan[1]) * 10 == int(fan[2]) and int(fan[2]) > 3 * float(fan[4])
    assert int(fan[1]) + int(fan[3]) >= 6                  # most of the fan's top 10
    users = re.findall(r"user \d+, \d+ ratings; share of \w+: rated (\d+)%, top 20 (\d+)%, "
                       r"20 most rated, not yet rated (\d+)%; median ratings of the top 20's "
                       r"movies in \w+: (\d+), outside: (\d+)", printed)
    assert len(users) == 2
    for rated, top20, popular, inside, outside in users:   # the top 20 between taste and
        assert int(rated) > int(top20) > int(popular)       # popularity, its other genres
        assert int(outside) > 2 * int(inside)                # much rated
    popular = re.search(r"correlation of a movie's number of ratings with its mean score among "
                        r"non-raters: ([\d.]+)", printed)
    assert popular and float(popular[1]) > 0.8           # the zero fill rewards being rated
    median_movie = re.search(r"the median movie has (\d+) ratings", printed)
    fills = {name: list(map(float, values)) for name, *values in re.findall(
        r"^(0|global_mean|movie_mean) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)", printed, re.M)}
    (empty0, best, popular0, _), (empty1, mean, popular1, _), (empty2, worst, rare, stars) = (
        fills["0"], fills["global_mean"], fills["movie_mean"])  # empty X, precision, ratings, stars
    assert best > mean > worst and empty0 > 0.9 and empty1 == empty2 == 0   # 0 recommends best
    assert median_movie and popular1 > popular0 > 5 * int(median_movie[1]) > 5 * rare  # popular
    assert stars > 4.5                                           # few ratings, nearly all fives
    popularity = re.search(r"precision at 10 of the most rated unseen movies: ([\d.]+)", printed)
    assert popularity and worst < float(popularity[1]) < best    # NMF beats popularity alone


def test_no_internal_names_in_the_notebook():
    """The notebook's own cells name no private function, registry, model key or our
    internal bookkeeping; the module source it displays is the modules' business."""
    notebook = nbformat.read(ROOT / "nmf.ipynb", as_version=4)
    forbidden = re.compile(r"(?<![\w.])_[a-z]\w*\(|\bregistry\b|REGISTRY|\bseeds? 00\d|"
                           r"\bissue \d|nmf_masked|nnls_als|biased_nmf")
    for cell in notebook.cells:
        assert not forbidden.search(cell.source), forbidden.search(cell.source)[0]


def test_the_functions_the_sheet_asks_for_are_shown_as_code_in_the_html(executed, tmp_path):
    """non_negative and recommend_movies, displayed from their modules as they stand, appear in
    the page as code blocks."""
    import nmf_core
    import recommender

    notebook = tmp_path / "nmf.ipynb"
    nbformat.write(executed, notebook)
    page = tmp_path / "nmf.html"
    export_html.export(notebook, page)
    blocks = [unescape(re.sub(r"<[^>]+>", "", block))
              for block in re.findall(r"<pre>(.*?)</pre>", page.read_text(), re.S)]
    for function in (nmf_core.non_negative, recommender.recommend_movies):
        assert any(inspect.getsource(function) in block for block in blocks), function.__name__


def test_the_html_page_needs_no_network(executed, tmp_path):
    notebook = tmp_path / "nmf.ipynb"
    nbformat.write(executed, notebook)
    page = tmp_path / "nmf.html"
    export_html.export(notebook, page)
    html = page.read_text()
    assert not re.search(r"""(?:src|href)=["']https?://""", html), "a resource from the network"
    assert html.count("<math") >= 15 and "$$" not in html
    assert 'alt=""' not in html
