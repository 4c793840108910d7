"""Write the hand-in archive from the given files, flat, atomically.

    python tools/make_zip.py ex08.zip build/nmf.ipynb build/nmf.html nmf_core.py ...

The archive is written under a temporary name and renamed when complete, so a
failure never leaves a partial or stale ``ex08.zip``.  MovieLens files are
refused: the dataset's licence forbids redistributing them.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from lab.commands.shell import write_atomically

FORBIDDEN_SUFFIXES = (".data", ".item", ".user", ".base", ".test", ".parquet", ".brotli")


def make_zip(archive: Path, files: list[Path]) -> None:
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"two files share a name in {names}; the archive is flat")
    for f in files:
        if f.suffix in FORBIDDEN_SUFFIXES or "ml-100k" in f.parts:
            raise ValueError(f"{f} looks like MovieLens data, which must not be handed in")
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist; run `make` to build it")

    def write(temporary: Path) -> None:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, arcname=f.name)

    write_atomically(archive, write)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    make_zip(Path(argv[0]), [Path(a) for a in argv[1:]])
    print(f"wrote {argv[0]}: {', '.join(Path(a).name for a in argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
