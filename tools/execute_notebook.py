"""Execute a notebook top to bottom into a new file; the source is never modified.

    python tools/execute_notebook.py nmf.ipynb build/nmf.ipynb --kernel nmf-ex08

One line per code cell says what ran and how long it took, so a long build is
never silent.  The executed copy is written to a temporary name beside the
output and renamed only when every cell succeeded: a failing cell leaves no half-written
result (an older output is left as it was; make deletes it first) and the command exits 1
naming the cell; Ctrl-C stops it with one line (exit 130).  That line is printed here, not
by the lab's ``shell.run``: nbclient runs the cells in an asyncio loop whose SIGINT handler
must be replaced, and the process exits at once (``os._exit``) so that the kernel it
started goes with it.  The copy is made reproducible: no timing metadata, stream outputs
merged, and no ``<... at 0x7f...>`` object addresses, so two builds give byte-identical
files.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from lab.clock import now
from lab.commands.shell import write_atomically

_ADDRESS = re.compile(r"<[^<>]* at 0x[0-9a-f]+>")


def _interrupted(output: Path):
    """Ctrl-C: one line, then exit at once.  Nothing has been written yet (the copy is
    renamed into place at the very end), and the kernel exits once its parent has gone."""
    def stop(*_):
        print(f"\ninterrupted: {output} was not written.", file=sys.stderr, flush=True)
        os._exit(130)
    return stop


class _ProgressClient(NotebookClient):
    """A NotebookClient that prints one line per executed code cell and stops on Ctrl-C
    with one line (it replaces nbclient's own handler, which leaves tracebacks)."""

    on_interrupt = None

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        if self.on_interrupt is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.on_interrupt)
        start = now()
        result = await super().async_execute_cell(cell, cell_index, execution_count,
                                                  store_history)
        if cell.cell_type == "code":
            first = next((line for line in cell.source.splitlines()
                          if line.strip() and not line.startswith("#")), "")
            print(f"  cell {cell_index + 1:>3}/{len(self.nb.cells)} "
                  f"{now() - start:6.1f} s  {first[:60]}", flush=True)
        return result


def _reproducible(notebook) -> None:
    """Drop what differs between two runs of the same notebook: how a cell's printed text
    happened to be split into stream messages, and object addresses in plain-text reprs."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.outputs:
            if (output.output_type == "stream" and merged
                    and merged[-1].output_type == "stream" and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
        for output in cell.outputs:
            data = output.get("data", {})
            if len(data) > 1 and _ADDRESS.search(str(data.get("text/plain", ""))):
                del data["text/plain"]       # e.g. a pandas Styler's repr; its HTML stays


def execute(source: Path, output: Path, kernel: str, timeout: int, progress: bool = True) -> None:
    """Run every cell of ``source`` in ``kernel`` and write the executed notebook to ``output``
    (atomically; outputs made reproducible).  ``progress``: print each cell's seconds as it
    ends and stop with one line on Ctrl-C, as ``make`` shows it; off, it runs quietly (the
    tests)."""
    notebook = nbformat.read(source, as_version=4)
    client_class = _ProgressClient if progress else NotebookClient
    # the kernel's own log is silenced: its notice that a local kernel talks over
    # unencrypted TCP is noise here (what the cells print or warn reaches the outputs)
    client = client_class(notebook, kernel_name=kernel, timeout=timeout, record_timing=False,
                          extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                          resources={"metadata": {"path": str(source.resolve().parent)}})
    if progress:
        client.on_interrupt = _interrupted(output)
    client.execute()
    _reproducible(notebook)
    write_atomically(output, lambda temporary: nbformat.write(notebook, temporary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    print(f"executing {args.source} (one line per code cell)", flush=True)
    start = now()

    signal.signal(signal.SIGINT, _interrupted(args.output))       # until the kernel runs
    try:
        execute(args.source, args.output, args.kernel, args.timeout)
    except CellExecutionError as error:
        print(f"error: a cell of {args.source} failed; {args.output} was not written.\n{error}",
              file=sys.stderr)
        return 1
    print(f"executed {args.source} -> {args.output} in {now() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
