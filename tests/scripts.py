"""The project's command-line scripts, loaded from their files for the tests.

``tools/`` and ``data/`` hold scripts that the Makefile runs, not packages: nothing installs
them, so the tests import them by path (and nothing edits ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(relative: str):
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module          # as a script run by `python path` would see itself
    spec.loader.exec_module(module)
    return module


execute_notebook = _load("tools/execute_notebook.py")
export_html = _load("tools/export_html.py")
export_figures = _load("tools/export_figures.py")
make_zip = _load("tools/make_zip.py")
get_movielens = _load("data/get_movielens.py")
ML_100K = get_movielens.TARGET  #: the MovieLens-100k folder `make data` fills
