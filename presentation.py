"""How the notebook shows figures, tables and code: the same look everywhere, reproducibly.

* :func:`show_figure` displays a matplotlib figure as a PNG with a text description (alt
  text) that the HTML export keeps;
* :func:`show_table` displays a DataFrame with its text columns left-aligned, fixed number
  formats and a fixed HTML id, so two runs give the same page;
* :func:`show_code` displays the source of functions of the modules, docstrings left out.
"""

from __future__ import annotations

import inspect
import io
import itertools
import re

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, Markdown, display

_TABLES = itertools.count(1)


def show_figure(fig, alt: str, dpi: int = 100) -> None:
    """Display ``fig`` as a PNG with ``alt`` as its text description, then close it."""
    if not isinstance(alt, str) or len(alt.split()) < 5:
        raise ValueError(f"alt must describe the figure in words (5 or more); got {alt!r}.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    display(Image(buffer.getvalue()), metadata={"image/png": {"alt": alt}})


def table_style(frame: pd.DataFrame, formats: dict | None = None):
    """The Styler :func:`show_table` displays: text left-aligned, ``formats`` applied,
    missing values as "-", an id that depends only on how many tables came before."""
    text = [column for column in frame.columns
            if not pd.api.types.is_numeric_dtype(frame[column])]
    left = [("text-align", "left")]
    return (frame.style.format(formats or {}, na_rep="-")
            .set_uuid(f"table-{next(_TABLES)}")
            .set_properties(subset=text, **{"text-align": "left"})
            .set_table_styles({column: [{"selector": "th", "props": left}] for column in text}))


def show_table(frame: pd.DataFrame, formats: dict | None = None) -> None:
    """Display ``frame`` as :func:`table_style` makes it."""
    display(table_style(frame, formats))


def show_code(*functions) -> None:
    """Display the source of ``functions`` as they stand in their modules, docstrings left out."""
    sources = [re.sub(r'\n    """.*?"""\n', "\n", inspect.getsource(f), count=1, flags=re.S)
               for f in functions]
    display(Markdown("```python\n" + "\n\n".join(sources) + "```"))
