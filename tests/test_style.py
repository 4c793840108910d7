"""The code's style: ruff finds nothing (pycodestyle's rules, its blank-line rules
included, and pyflakes'; lines of at most 100 columns; pyproject.toml's ``[tool.ruff]``) in
the modules, the lab, the tests, the tools and the notebook's code."""

import subprocess
import sys

from scripts import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
