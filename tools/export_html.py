"""Export an executed notebook as one HTML page that a browser shows without network.

    python tools/export_html.py build/nmf.ipynb build/nmf.html

Math in markdown cells (``$...$`` inline, ``$$...$$`` displayed) is turned into
MathML here, at export time, by latex2mathml; browsers render MathML themselves,
so the page loads no MathJax (nor any other script) from a CDN.  Figures keep the
alt text their cells gave them (``display(..., metadata={"image/png": {"alt":
...}})``).  The page is written under a temporary name and renamed when done.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from latex2mathml.converter import convert
from nbconvert import HTMLExporter

from lab.commands.shell import write_atomically

TEMPLATES = Path(__file__).resolve().parent / "templates"
# code spans and blocks are left alone; then $$display$$, then $inline$ (which may wrap
# onto the next line, but not across a blank line)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)((?:[^$\n]|\n(?!\s*\n))+?)(?<![\\$])\$")


def math_to_mathml(markdown: str) -> str:
    """``markdown`` with every ``$...$`` and ``$$...$$`` outside code replaced by MathML."""
    def math(text: str) -> str:
        text = _DISPLAY.sub(lambda m: "\n\n" + convert(m[1].strip(), display="block") + "\n\n",
                            text)
        return _INLINE.sub(lambda m: convert(m[1].strip()), text)

    pieces = _CODE.split(markdown)
    return "".join(piece if i % 2 else math(piece) for i, piece in enumerate(pieces))


def export(notebook_path: Path, output: Path) -> None:
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = math_to_mathml(cell.source)
    exporter = HTMLExporter(template_name="handin", extra_template_basedirs=[str(TEMPLATES)])
    html, _ = exporter.from_notebook_node(notebook)
    write_atomically(output, lambda temporary: temporary.write_text(html, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    export(args.notebook, args.output)
    print(f"wrote {args.output} (math as MathML, no network needed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
