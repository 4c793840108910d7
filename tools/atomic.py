"""The one way the build writes a file: through a temporary file beside it, then renamed.

Whatever stops the writer (an error, Ctrl-C), the old file or none is left, never half a
file; the temporary file is removed.  The tools import it as a sibling script
(``python tools/<tool>.py`` puts ``tools/`` first on the path).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` on a temporary file in ``path``'s folder (made if missing),
    then ``os.replace`` it onto ``path``; if ``write`` raises, delete the temporary file and
    leave ``path`` as it was.  Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
