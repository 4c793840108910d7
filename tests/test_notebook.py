"""End to end: nmf.ipynb runs top to bottom on the real MovieLens-100k."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import execute_notebook
from test_build import kernel_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "data" / "ml-100k" / "u.data").is_file(),
                    reason="run `make data` first")
def test_notebook_runs_top_to_bottom(tmp_path):
    output = tmp_path / "nmf.ipynb"
    execute_notebook.execute(ROOT / "nmf.ipynb", output, kernel_name(), timeout=900)
    executed = nbformat.read(output, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "100,000 ratings by 943 users of 1682 movies" in printed
    assert "digits:  1797 images x 64 pixels" in printed
    # every figure the notebook saves is also shown inline (the HTML needs them)
    shown = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    saved = sum(c.source.count(".savefig(") for c in code)
    assert saved >= 8 and shown >= saved, (shown, saved)
    # no warning leaks into the hand-in (it would also show this machine's paths)
    stderr = [o.text for c in code for o in c.outputs if o.get("name") == "stderr"]
    assert stderr == []
