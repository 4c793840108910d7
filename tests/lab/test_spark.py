"""Tests of lab/spark/run_spark.py (``make spark``) that need neither Java nor pyspark: the Java
check and its exit status, the parameter mapping to Spark's ALS, the RMSE with Spark's
cold-start NaNs replaced by the fallback baseline, and the Makefile's order (Java first)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.spark import run_spark

ROOT = Path(__file__).resolve().parents[2]
#: The command line ``make spark`` runs, from the repository root.
COMMAND = [sys.executable, "-m", "lab.spark.run_spark"]


def fake_java(home: Path, version_line: str) -> Path:
    """A JAVA_HOME whose bin/java answers ``-version`` with ``version_line`` on stderr."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n", encoding="utf-8")
    java.chmod(0o755)
    return java


def test_without_java_the_check_exits_2_with_one_line_naming_the_remedy(tmp_path):
    # PATH holds only an empty folder and JAVA_HOME is unset: no java anywhere
    result = subprocess.run([*COMMAND, "--check-java"], cwd=ROOT,
                            env={"PATH": str(tmp_path)}, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: Spark needs Java, but there is no `java` on PATH")
    assert "JAVA_HOME is not set" in lines[0]
    assert "apt-get install openjdk-17-jre-headless" in lines[0]


def test_without_java_the_comparison_itself_stops_before_importing_spark(tmp_path):
    result = subprocess.run([*COMMAND, "--folds", "1"], cwd=ROOT,
                            env={"PATH": str(tmp_path)}, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_java_home_without_a_java_is_named(tmp_path):
    with pytest.raises(run_spark.JavaMissing, match=r"JAVA_HOME is .*/bin/java is not an exec"):
        run_spark.check_java({"JAVA_HOME": str(tmp_path), "PATH": str(tmp_path)})


@pytest.mark.parametrize("line, major", [('openjdk version "11.0.2" 2019-01-15', 11),
                                         ('java version "1.8.0_292"', 8)])
def test_java_older_than_17_is_refused_with_its_version(tmp_path, line, major):
    java = fake_java(tmp_path / "jdk", line)
    with pytest.raises(run_spark.JavaMissing) as caught:
        run_spark.check_java({"JAVA_HOME": str(tmp_path / "jdk")})
    assert str(caught.value).startswith(f"{java} is Java {major}, but Spark 4 needs Java 17")


def test_java_17_is_accepted_and_described(tmp_path):
    java = fake_java(tmp_path / "jdk", 'openjdk version "17.0.15" 2025-04-15')
    assert run_spark.check_java({"JAVA_HOME": str(tmp_path / "jdk")}) == f"Java 17.0.15 ({java})"
    # without JAVA_HOME, the java found first on PATH
    assert run_spark.check_java({"PATH": str(java.parent)}) == f"Java 17.0.15 ({java})"


def test_java_without_a_version_is_refused(tmp_path):
    fake_java(tmp_path / "jdk", "no version here")
    with pytest.raises(run_spark.JavaMissing, match="did not report a version"):
        run_spark.check_java({"JAVA_HOME": str(tmp_path / "jdk")})


def test_nnls_als_settings_map_to_spark_keywords():
    params = {"l2": 0.12, "n_iter": 20, "num_components": 20, "random_state": 3}
    assert run_spark.spark_als_params(params) == {
        "rank": 20, "regParam": 0.12, "maxIter": 20, "nonnegative": True, "seed": 0,
        "userCol": "user", "itemCol": "item", "ratingCol": "rating",
        "coldStartStrategy": "nan"}


def test_settings_without_a_spark_counterpart_are_refused():
    with pytest.raises(ValueError, match="no Spark ALS counterpart for fill"):
        run_spark.spark_als_params({"fill": 0, "l2": 0.1, "n_iter": 20, "num_components": 10})


def test_rmse_replaces_cold_start_nans_by_the_baseline_then_clips():
    predicted = [4.0, math.nan, 6.0, math.nan]
    fallback = [1.0, 3.5, 2.0, 0.0]      # used only where predicted is NaN
    actual = [5, 3, 4, 2]
    # [4, 3.5, 6 -> 5, 0 -> 1] minus actual: -1, 0.5, 1, -1
    assert run_spark.rmse_with_fallback(predicted, fallback, actual) == pytest.approx(
        math.sqrt((1 + 0.25 + 1 + 1) / 4))
    # no NaN: the baseline plays no part
    assert run_spark.rmse_with_fallback([3.0, 4.0], [1.0, 1.0], [4, 4]) == pytest.approx(
        math.sqrt(0.5))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_checks_java_before_building_the_spark_environment(tmp_path):
    # a copy of what the recipe needs, so nothing here can touch the real .venv-spark
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "lab/__init__.py",
                 "lab/spark/__init__.py", "lab/spark/requirements.txt", "lab/spark/run_spark.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run([shutil.which("make"), "-s", ".venv-spark/.installed",
                             f"PYTHON={sys.executable}"], cwd=tmp_path,
                            env={"PATH": str(tmp_path / "lab" / "spark")}, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0].startswith("error: Spark needs Java")
    assert not (tmp_path / ".venv-spark").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_help_lists_spark():
    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    assert "make spark" in result.stdout
    assert "ALS(nonnegative=True)" in result.stdout
