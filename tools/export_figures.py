"""Write each figure of an executed notebook to a folder, as a PNG named for what it shows.

    python tools/export_figures.py build/nmf.ipynb figures

A figure's name is the ``name`` its cell gave it in the output's metadata
(``display(Image(...), metadata={"image/png": {"alt": ..., "name": "choosing-m"}})``);
an unnamed figure is refused, so that no file is named by its position.  Each file
is written under a temporary name and renamed; files of figures the notebook no
longer shows are removed.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path

import nbformat

from lab.commands.shell import write_atomically

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def figures(notebook) -> dict[str, bytes]:
    """``{name: PNG bytes}`` of every figure output, in notebook order."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if "image/png" not in output.get("data", {}):
                continue
            name = output.get("metadata", {}).get("image/png", {}).get("name", "")
            if not _NAME.match(name):
                raise ValueError(f"cell {index + 1} shows a figure without a valid name "
                                 f"(got {name!r}); give it one in lower-case words joined by "
                                 "hyphens, e.g. show_figure(fig, 'choosing-m', alt).")
            if name in found:
                raise ValueError(f"two figures are named {name!r}; names must be unique.")
            found[name] = base64.b64decode(output["data"]["image/png"])
    return found


def export(notebook_path: Path, folder: Path) -> list[Path]:
    images = figures(nbformat.read(notebook_path, as_version=4))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in images.items():
        path = folder / f"{name}.png"
        write_atomically(path, lambda temporary, data=data: temporary.write_bytes(data))
        written.append(path)
    for stale in set(folder.glob("*.png")) - set(written):
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    written = export(args.notebook, args.folder)
    print(f"wrote {len(written)} figures to {args.folder}/: "
          + ", ".join(path.name for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
