"""The notebook's display helpers: what the HTML page will show."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import presentation  # noqa: E402


def test_tables_left_align_text_format_numbers_and_have_stable_ids():
    frame = pd.DataFrame({"title": ["Heat (1995)", "Fargo (1996)"], "score": [3.14159, np.nan]})
    html = presentation.table_style(frame, {"score": "{:.2f}"}).to_html()
    assert "3.14<" in html and ">-<" in html and "3.14159" not in html
    assert re.search(r"#T_table-\d+_row0_col0[^{]*\{\s*text-align: left;", html)
    assert "col1" not in re.findall(r"#T_table-\d+_(row\d_col\d)[^{]*\{\s*text-align", html)[0]


def test_figures_need_a_description():
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alt must describe the figure in words"):
        presentation.show_figure(fig, "plot")


def test_code_is_shown_without_its_docstring(monkeypatch):
    shown = []
    monkeypatch.setattr(presentation, "display", lambda thing: shown.append(thing.data))
    presentation.show_code(presentation.show_table)
    assert shown[0].startswith("```python\ndef show_table(") and '"""' not in shown[0]
    assert "display(table_style(frame, formats))" in shown[0]

