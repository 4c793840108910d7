"""The hand-in build: pinned environment, clean notebook, zip, notebook execution."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from scripts import ROOT, execute_notebook, make_zip
from sources import imported, top_level

PIN = re.compile(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-]+)\s*$")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if match := PIN.match(line.split("#")[0]):
            found[match[1].lower()] = match[2]
    return found


def test_conda_installs_the_pip_files_instead_of_repeating_their_pins():
    conda = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in conda and "- -r requirements-dev.txt" in conda
    assert pins(ROOT / "environment.yml") == {}
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_requirement_is_pinned_exactly(name):
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or PIN.match(line) or line == "-r requirements.txt", \
            f"not an exact pin: {line!r}"


def test_the_hand_in_requirements_are_what_the_notebook_and_modules_import():
    """requirements.txt (shipped in the zip) lists exactly the third-party packages that
    nmf.ipynb, nmf_core.py and recommender.py import, plus jupyter to open the notebook."""
    sources = [cell.source for cell in nbformat.read(ROOT / "nmf.ipynb", as_version=4).cells
               if cell.cell_type == "code"]
    sources += [(ROOT / f"{name}.py").read_text() for name in ("nmf_core", "recommender")]
    packages = set().union(*map(top_level, sources))
    distribution = {"sklearn": "scikit-learn", "IPython": "jupyter"}
    ours = {"nmf_core", "recommender"}
    third_party = {distribution.get(name, name) for name in packages
                   if name not in sys.stdlib_module_names and name not in ours}
    assert set(pins(ROOT / "requirements.txt")) == third_party | {"jupyter"}


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name in ("requirements.txt", "requirements-dev.txt"):
        for package, pinned in pins(ROOT / name).items():
            assert version(package) == pinned, \
                f"{package} {version(package)} installed, {pinned} pinned"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(ROOT / "nmf.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert dirty == [], f"code cells {dirty} carry outputs: clear them before committing"


def test_zip_holds_exactly_the_given_files_flat(tmp_path):
    files = []
    for name in ("nmf.ipynb", "nmf.html", "nmf_core.py", "recommender.py"):
        (tmp_path / "src" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "src" / name).write_text(f"content of {name}")
        files.append(tmp_path / "src" / name)
    archive = tmp_path / "ex08.zip"
    make_zip.make_zip(archive, files)
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["nmf.html", "nmf.ipynb", "nmf_core.py", "recommender.py"]
        assert zf.read("nmf_core.py") == b"content of nmf_core.py"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_zip_refuses_data_and_leaves_the_old_archive(tmp_path):
    archive = tmp_path / "ex08.zip"
    archive.write_bytes(b"previous archive")
    data_file = tmp_path / "u.data"
    data_file.write_text("1\t1\t1\t1\n")
    with pytest.raises(ValueError, match="MovieLens data"):
        make_zip.make_zip(archive, [data_file])
    with pytest.raises(FileNotFoundError, match="run `make`"):
        make_zip.make_zip(archive, [tmp_path / "missing.html"])
    assert archive.read_bytes() == b"previous archive"


def kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "nmf-ex08" if "nmf-ex08" in KernelSpecManager().find_kernel_specs() else "python3"


def small_notebook(path: Path, source: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 6 * 7\nprint(x)"),
                      nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, path)
    return path


def test_failing_cell_exits_nonzero_and_writes_nothing(tmp_path):
    source = small_notebook(tmp_path / "bad.ipynb", "raise ValueError('cell two fails')")
    output = tmp_path / "build" / "bad.ipynb"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "execute_notebook.py"), str(source), str(output),
         "--kernel", kernel_name(), "--timeout", "120"],
        capture_output=True, text=True)
    assert result.returncode == 1
    assert "cell two fails" in result.stderr
    assert not output.exists() and not list(output.parent.glob(".*tmp"))


def test_executed_copy_has_outputs_and_the_source_is_untouched(tmp_path):
    source = small_notebook(tmp_path / "good.ipynb", "print(x + 1)")
    before = source.read_bytes()
    output = tmp_path / "build" / "good.ipynb"
    execute_notebook.execute(source, output, kernel_name(), 120)
    executed = nbformat.read(output, as_version=4)
    assert [c.outputs[0]["text"] for c in executed.cells] == ["42\n", "43\n"]
    assert source.read_bytes() == before


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed (the README's "
                    "route without make)")
def test_make_help_lists_every_target():
    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for target in ("all", "data", "notebook", "html", "zip", "figures", "test", "bench",
                   "evaluate", "peers", "spark", "spark-scale", "clean", "distclean"):
        assert re.search(rf"make {target}\s+\S", result.stdout), \
            f"make {target} missing:\n{result.stdout}"


def _local_imports(notebook: Path) -> set[str]:
    """The project modules (``*.py`` beside the notebook) that its code cells import."""
    names = set().union(*(top_level(cell.source)
                          for cell in nbformat.read(notebook, as_version=4).cells
                          if cell.cell_type == "code"))
    return {name for name in names if (notebook.parent / f"{name}.py").is_file()}


def _imports_of_module(name: str) -> set[str]:
    return {n for n in imported((ROOT / f"{name}.py").read_text()) if (ROOT / f"{n}.py").is_file()}


def test_the_zip_carries_exactly_the_modules_the_notebook_needs():
    """The Makefile's MODULES hold the notebook's imports and what those import in turn:
    the two ground-floor modules, which import nothing else of the project."""
    needed = set(_local_imports(ROOT / "nmf.ipynb"))
    queue = list(needed)
    while queue:
        for other in _imports_of_module(queue.pop()) - needed:
            needed.add(other)
            queue.append(other)
    makefile = (ROOT / "Makefile").read_text()
    modules = re.search(r"^MODULES\s*:=\s*(.+)$", makefile, re.M)[1].split()
    assert sorted(modules) == sorted(f"{name}.py" for name in needed)
    rule = re.search(r"^ex08\.zip:(.*)$", makefile, re.M)[1]
    assert "$(MODULES)" in rule and "requirements.txt" in rule and "ml-100k" not in rule


def test_heartbeat_speaks_during_silence_and_keeps_the_exit_status():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "with_heartbeat.py"), "--every",
                          "0.5", "waiting", "--", sys.executable, "-c",
                          "import time; print('begin', flush=True); time.sleep(1.6); "
                          "print('end'); raise SystemExit(3)"],
                         capture_output=True, text=True, timeout=60)
    lines = run.stdout.splitlines()
    assert run.returncode == 3
    assert lines[0] == "begin" and lines[-1] == "end"
    assert 2 <= sum(line.startswith("  ... still waiting (") for line in lines) <= 3


def test_math_becomes_mathml_outside_code():
    from scripts import export_html

    markdown = ("Inline $a_i + b$ and a wrapped $x\n= y$; code `$not math$`;\n\n"
                "$$\\frac{1}{2}$$\n\n```\n$still code$\n```")
    html = export_html.math_to_mathml(markdown)
    assert html.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">') == 2
    assert html.count('display="block"') == 1 and "<mfrac>" in html
    assert "`$not math$`" in html and "$still code$" in html


def test_data_check_names_the_file_that_differs(tmp_path):
    from scripts import get_movielens as gm

    folder = tmp_path / "ml-100k"
    folder.mkdir()
    for name in gm.EXPECTED_SHA256:
        (folder / name).write_text("not the data")
    run = subprocess.run([sys.executable, str(ROOT / "data" / "get_movielens.py"), "--check",
                          "--target", str(folder)], capture_output=True, text=True)
    assert run.returncode == 1
    assert re.search(r"u\.data has SHA-256 [0-9a-f]{64}, expected 06416e59", run.stderr)
    assert "Run `make data`" in run.stderr


def test_figures_are_written_by_name_and_stale_ones_removed(tmp_path):
    import base64

    from scripts import export_figures

    png = base64.b64encode(b"\x89PNG fake").decode()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    metadata = {"image/png": {"alt": "a", "name": "loss-curve"}}
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png},
                                           metadata=metadata)]
    notebook.cells = [cell]
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "old-figure.png").write_bytes(b"stale")
    written = export_figures.export(tmp_path / "nb.ipynb", folder)
    assert [p.name for p in written] == ["loss-curve.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["loss-curve.png"]
    assert (folder / "loss-curve.png").read_bytes() == b"\x89PNG fake"
    cell.outputs[0].metadata["image/png"]["name"] = "Figure 1"
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    with pytest.raises(ValueError, match=r"cell 1 shows a figure without a valid name "
                                         r"\(got 'Figure 1'\)"):
        export_figures.export(tmp_path / "nb.ipynb", folder)


def test_the_hand_in_names_nothing_the_zip_does_not_hold():
    """The zipped files mention no make target, test, lab module or project file they
    do not ship (MovieLens' own files and folder are the data, not ours)."""
    shipped = [ROOT / "nmf_core.py", ROOT / "recommender.py", ROOT / "requirements.txt"]
    texts = [path.read_text() for path in shipped]
    texts += [cell.source for cell in nbformat.read(ROOT / "nmf.ipynb", as_version=4).cells]
    forbidden = re.compile(r"`make|\bmake (all|data|notebook|html|zip|figures|test|bench|evaluate|"
                           r"peers|spark|clean)\b|Makefile|\blab\b|tests/|tools/|get_movielens|"
                           r"README|requirements-dev|evaluation\.py|factorizations")
    for text in texts:
        assert not forbidden.search(text), forbidden.search(text)[0]
