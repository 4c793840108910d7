"""The hand-in, read as a tutor reads it: the executed notebook and its HTML page.

`make test` builds ``build/nmf.ipynb`` first when it is stale (the Makefile makes it a
prerequisite), so the notebook is executed once, by the build, and these tests only
read it.  Run outside `make` with a stale or missing copy, the notebook is executed
into a temporary folder instead; nothing is ever written into the working tree.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from scripts import execute_notebook, export_html
from test_build import kernel_name

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "nmf.ipynb", *ROOT.glob("*.py"), ROOT / "tools" / "execute_notebook.py"]
MAX_WORDS = 1500

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ROOT / "data" / "ml-100k" / "u.data").is_file(),
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


def test_prose_is_short(executed):
    words = {}
    section = "intro"
    for cell in executed.cells:
        if cell.cell_type == "markdown":
            if match := re.match(r"## (.+)", cell.source):
                section = match[1].split()[0]
            words[section] = words.get(section, 0) + _words(_prose(cell))
    assert sum(words.values()) <= MAX_WORDS, words
    assert set(words) == {"intro", "1.1", "1.2"}, f"sections beyond the sheet's: {words}"


def test_every_question_of_the_exercise_has_an_answer(executed):
    answers = [c.source for c in executed.cells
               if c.cell_type == "markdown" and "**Answer:" in c.source]
    asked = ["similar to scikit-learn", "non-increasing", "fill value", "which m",
             "recommendations make sense", "new users", "genre statistics", "prototypical"]
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
        prose = re.sub(r"\(\d\) and \(\d\)|MovieLens-100k", "", prose)   # equation labels,
        prose = re.sub(r"\((?:[A-Z][\w&.]*\s)+\d{4}\)", "", prose)        # citations
        prose = re.sub(r"\b(NIPS|RecSys) \d{4}", "", prose)                # and venues
        for number in re.findall(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?", prose):
            assert number in seen + following, \
                f"{number!r} in the prose is printed nowhere above:\n{prose}"
        for title in re.findall(r"\*([^*]+\(\d{4}\))\*", cell.source):
            title = " ".join(title.split())                   # a title may wrap in the source
            assert title in seen, f"{title!r} is named in the prose but shown nowhere above"


def test_the_claims_printed_by_the_notebook_hold(executed):
    printed = "".join(_text(o) for c in executed.cells if c.cell_type == "code"
                      for o in c.outputs)
    rises = re.search(r"steps that raise the recorded loss, per seed: \{([^}]*)\}", printed)
    counts = [int(v) for v in re.findall(r":\s*(\d+)", rises[1])]
    assert len(counts) == 3 and not any(counts)
    literal = [float(v) for v in re.findall(r"differ by at most ([\d.e+-]+) of their largest "
                                            r"entry", printed)]
    assert len(literal) == 2 and max(literal) < 1e-9
    steps = re.search(r"literal updates and loss: steps that raise it (\d+) in the first (\d+); "
                      r"at step \d+ ([\d.]+), recorded ([\d.]+)", printed)
    assert steps and int(steps[1]) == 0 and int(steps[2]) == 1000
    assert float(steps[3]) == float(steps[4])
    clip = re.search(r"in all (\d+) steps: pixels whose H-denominator fell below the floor "
                     r"\[([\d, ]*)\], pixels 0 in every image \[([\d, ]*)\]; Z-denominators "
                     r"below it: (\d+)", printed)
    assert clip and int(clip[1]) == 1000 and int(clip[4]) == 0
    assert set(re.findall(r"\d+", clip[2])) <= set(re.findall(r"\d+", clip[3]))
    ratio = float(re.search(r"ratio of the median losses, ours / scikit-learn: ([\d.]+)",
                            printed)[1])
    assert 0.95 < ratio < 1.05
    largest = re.search(r"largest share of all of user 1's scores: row (\d+) \((\d+)%\), whose "
                        r"term here is ([\d.]+)", printed)
    assert largest and float(largest[3]) < 0.01


def test_every_superlative_in_the_prose_is_asserted(executed):
    """Where an answer says largest, most, every, never or none, a code cell between
    the previous markdown cell and it asserts something (the claim is checked, not read)."""
    last_code = []
    for cell in executed.cells:
        if cell.cell_type == "code":
            last_code.append(cell.source)
            continue
        prose = _prose(cell)
        if re.search(r"\b(largest|most|every|never|none)\b", prose) and "**Answer" in prose:
            assert any("assert " in source for source in last_code), prose[:120]
        last_code = []


def test_no_internal_names_in_the_notebook():
    """The notebook's own cells name no private function, registry, model key or our
    internal bookkeeping; the module source it displays is the modules' business."""
    notebook = nbformat.read(ROOT / "nmf.ipynb", as_version=4)
    forbidden = re.compile(r"(?<![\w.])_[a-z]\w*\(|\bregistry\b|REGISTRY|\bseeds? 00\d|"
                           r"\bissue \d|nmf_masked|nnls_als|biased_nmf")
    for cell in notebook.cells:
        source = cell.source if cell.cell_type == "markdown" else cell.source
        assert not forbidden.search(source), forbidden.search(source)[0]


def test_the_functions_the_sheet_asks_for_are_shown_as_code_in_the_html(executed, tmp_path):
    notebook = tmp_path / "nmf.ipynb"
    nbformat.write(executed, notebook)
    page = tmp_path / "nmf.html"
    export_html.export(notebook, page)
    html = page.read_text()
    blocks = re.findall(r'<div style="background: #f5f5f5[^"]*font-family: monospace[^"]*">'
                        r'<div class="highlight"><pre style="font-family: monospace(.*?)</pre>',
                        html, re.S)
    for name in ("non_negative", "recommend_movies"):
        assert any(re.search(rf">def</span>(<span[^>]*>\s*</span>|\s)*<span[^>]*>{name}</span>", block)
                   for block in blocks), f"def {name}( is not shown as a code block"


def test_the_html_page_needs_no_network(executed, tmp_path):
    notebook = tmp_path / "nmf.ipynb"
    nbformat.write(executed, notebook)
    page = tmp_path / "nmf.html"
    export_html.export(notebook, page)
    html = page.read_text()
    assert not re.search(r"""(?:src|href)=["']https?://""", html), "a resource from the network"
    assert html.count("<math") >= 15 and "$$" not in html
    assert 'alt=""' not in html
