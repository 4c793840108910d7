"""Execute a notebook top to bottom into a new file; the source is never modified.

    python tools/execute_notebook.py nmf.ipynb build/nmf.ipynb --kernel nmf-ex08

The executed copy is written to a temporary name beside the output and renamed
only when every cell succeeded, so a failing cell leaves no stale result and
the command exits non-zero naming the cell.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(source: Path, output: Path, kernel: str, timeout: int) -> None:
    notebook = nbformat.read(source, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=timeout,  # per cell, in seconds
        resources={"metadata": {"path": str(source.resolve().parent)}},
    )
    client.execute()
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    try:
        execute(args.source, args.output, args.kernel, args.timeout)
    except CellExecutionError as error:
        print(f"error: a cell of {args.source} failed; {args.output} was not written.\n{error}",
              file=sys.stderr)
        return 1
    print(f"executed {args.source} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
