"""Tests of ``make spark`` and ``make spark-scale``: lab/commands/spark.py,
lab/commands/spark_scale.py and lab/models/spark.py's SparkALS.

Anywhere (no Java, no pyspark needed): the Java check and its exit status, ``--check-java``
importing only the standard library, SparkALS's parameters and their mapping to Spark's
ALS, its environment, the Makefile's order (Java first).  Where pyspark imports and Java 17+
runs (the environment of ``make spark``, ``.venv-spark``): SparkALS fitted on a small problem, its
scores against Spark's own predictions, its fold-in against Spark's last user step."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab import factorizations
from lab.factorizations.biased import BIAS_L2
from lab.commands import spark as command
from lab.models.spark import SparkALS
from scripts import ROOT
from needs import needs_spark

#: The command line ``make spark`` runs, from the repository root.
COMMAND = [sys.executable, "-m", "lab.commands.spark"]


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
    with pytest.raises(command.JavaMissing, match=r"JAVA_HOME is .*/bin/java is not an exec"):
        command.check_java({"JAVA_HOME": str(tmp_path), "PATH": str(tmp_path)})


@pytest.mark.parametrize("line, major", [('openjdk version "11.0.2" 2019-01-15', 11),
                                         ('java version "1.8.0_292"', 8)])
def test_java_older_than_17_is_refused_with_its_version(tmp_path, line, major):
    java = fake_java(tmp_path / "jdk", line)
    with pytest.raises(command.JavaMissing) as caught:
        command.check_java({"JAVA_HOME": str(tmp_path / "jdk")})
    assert str(caught.value).startswith(f"{java} is Java {major}, but Spark 4 needs Java 17")


def test_java_17_is_accepted_and_described(tmp_path):
    java = fake_java(tmp_path / "jdk", 'openjdk version "17.0.15" 2025-04-15')
    assert command.check_java({"JAVA_HOME": str(tmp_path / "jdk")}) == f"Java 17.0.15 ({java})"
    # without JAVA_HOME, the java found first on PATH
    assert command.check_java({"PATH": str(java.parent)}) == f"Java 17.0.15 ({java})"


def test_java_without_a_version_is_refused(tmp_path):
    fake_java(tmp_path / "jdk", "no version here")
    with pytest.raises(command.JavaMissing, match="did not report a version"):
        command.check_java({"JAVA_HOME": str(tmp_path / "jdk")})


def test_check_java_imports_only_the_standard_library():
    # with or without a Java here: what matters is what was imported to find out
    # (what site's .pth files loaded at start-up, e.g. an editable install's finder, is not
    # counted)
    probe = ("import sys\nbefore = set(sys.modules)\nfrom lab.commands import spark as command\n"
             "code = command.main(['--check-java'])\n"
             "tops = {name.split('.')[0] for name in set(sys.modules) - before}\n"
             "print(code, sorted(tops - set(sys.stdlib_module_names) - {'lab'}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    code, extra = result.stdout.split(" ", 1)
    assert code in {"0", "2"}
    assert extra.strip() == "[]"


def test_nnls_als_settings_map_to_spark_keywords():
    params = {"l2": 0.12, "n_iter": 20, "num_components": 20, "random_state": 3}
    model = SparkALS(**params)
    assert model.spark_params() == {
        "rank": 20, "regParam": 0.12, "maxIter": 20, "nonnegative": True, "seed": 3,
        "userCol": "user", "itemCol": "item", "ratingCol": "rating",
        "coldStartStrategy": "nan"}
    assert model.non_negative


def test_spark_als_takes_every_setting_of_nnls_als_and_the_switch():
    """make spark hands Spark the settings chosen for nnls_als: each candidate of nnls_als's
    grid is a valid SparkALS, non-negative unless switched off."""
    from sklearn.model_selection import ParameterGrid

    from lab.models.als import NNLSALS

    for params in ParameterGrid(NNLSALS.grid):
        assert SparkALS(**params).params == {**NNLSALS(**params).params, "nonnegative": True}
    unconstrained = SparkALS(nonnegative=False)
    assert unconstrained.non_negative is False and unconstrained.params["nonnegative"] is False
    assert SparkALS().non_negative is True and SparkALS.non_negative is True   # the default
    assert unconstrained.spark_params()["nonnegative"] is False


def test_importing_the_model_first_gives_the_registered_class():
    # lab.models imports lab.models.spark to register it: the other order must work too
    probe = ("from lab.models.spark import SparkALS\nimport lab.models, lab.models.spark\n"
             "print(lab.models.REGISTRY.get('spark_als', SparkALS) is SparkALS "
             "is lab.models.spark.SparkALS)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_checks_java_before_building_the_spark_environment(tmp_path):
    # a copy of what the recipe needs, so nothing here can touch the real .venv-spark
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "requirements-spark.txt",
                 "pyproject.toml", "lab/__init__.py", "lab/commands/__init__.py",
                 "lab/commands/shell.py", "lab/commands/spark.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run([shutil.which("make"), "-s", ".venv-spark/.installed",
                             f"PYTHON={sys.executable}"], cwd=tmp_path,
                            env={"PATH": str(tmp_path / "lab" / "commands")}, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0].startswith("error: Spark needs Java")
    assert not (tmp_path / ".venv-spark").exists()


# --- with pyspark and Java: Spark's ALS fitted -------------------------------------------------


@pytest.fixture(scope="module")
def planted(planted_stars):
    """60 users x 40 movies, 60 % of the cells rated, from a rank-3 non-negative model; user
    1000 and movie 1000 are in the index without a rating."""
    ratings = planted_stars(n_users=60, n_movies=40, rank=3, density=0.6)
    from lab.ratings import RatingIndex
    index = RatingIndex(np.r_[np.arange(1, 61), 1000], np.r_[np.arange(1, 41), 1000])
    return ratings, index


@pytest.fixture(scope="module")
def spark_fits(planted):
    from lab.models.spark import stop_spark

    ratings, index = planted
    fits = {nonnegative: SparkALS(num_components=3, l2=0.1, n_iter=10, random_state=0,
                                  nonnegative=nonnegative).fit(ratings, index)
            for nonnegative in (True, False)}
    yield fits
    stop_spark()


@needs_spark
def test_scores_are_sparks_own_predictions(planted, spark_fits):
    ratings, index = planted
    model = spark_fits[True]
    assert model.scores().shape == index.shape == (61, 41)
    pairs = model.model_.transform(model.model_.userFactors.selectExpr("id as user")
                                   .crossJoin(model.model_.itemFactors.selectExpr("id as item")))
    users, items, predictions = np.array(pairs.select("user", "item", "prediction").collect()).T
    ours = model.result_.predict(users.astype(int), items.astype(int))
    np.testing.assert_allclose(ours, predictions, rtol=1e-5, atol=1e-5)
    assert len(predictions) == 60 * 40
    # the user and movie without a training rating have zero factors
    assert not model.scores()[60].any() and not model.scores()[:, 40].any()
    assert model.result_.Z.min() >= 0 and model.result_.H.min() >= 0
    # user 1000 is outside the index: the bias baseline of every rating model
    b = factorizations.biases(model.rated_, bias_l2=BIAS_L2)
    assert model.predict([1, 1000], [1, 1]).tolist() == pytest.approx(
        [model.scores()[0, 0], b.mu + b.item_bias[0]], rel=1e-12)


@needs_spark
@pytest.mark.parametrize("nonnegative", [True, False])
def test_fold_in_is_sparks_last_user_step(planted, spark_fits, nonnegative):
    ratings, _ = planted
    model = spark_fits[nonnegative]
    for user in (1, 17, 60):
        mine = ratings[ratings["user id"] == user]
        query = dict(zip(mine["movie id"].tolist(), mine["rating"].astype(int).tolist()))
        folded = model.fold_in(query)
        np.testing.assert_allclose(folded.to_numpy(), model.scores()[user - 1], atol=2e-5)
    if not nonnegative:
        assert model.result_.Z.min() < 0 or model.result_.H.min() < 0


@needs_spark
def test_the_session_is_reused_and_a_fit_is_reproducible(planted, spark_fits):
    from lab.models import spark as spark_model

    ratings, index = planted
    session = spark_model.spark_session()
    again = SparkALS(num_components=3, l2=0.1, n_iter=10, random_state=0).fit(ratings, index)
    assert spark_model.spark_session() is session
    np.testing.assert_array_equal(again.result_.Z, spark_fits[True].result_.Z)
    assert not again.recommend(1, n=5).index.isin(ratings.loc[ratings["user id"] == 1,
                                                              "movie id"]).any()


def test_the_scale_comparison_builds_ratings_and_reads_one_iteration(fake_now):
    """lab.commands.spark_scale: a sparse matrix's cells become ratings with ids from 1
    (lab.commands.synthetic.ratings_frame); a system's fit of k iterations costing set-up +
    k * step on a fake clock gives back step, the set-up and the first fit; both systems get
    the same rank, penalty and seed."""
    import scipy.sparse as sp
    from lab.commands import spark_scale as scale
    from lab.commands.synthetic import ratings_frame
    X = sp.csr_matrix(([4.0, 2.0, 5.0], ([0, 2, 2], [1, 0, 3])), shape=(3, 4))
    frame = ratings_frame(X)
    assert frame.sort_values(["user id", "movie id"]).values.tolist() == [
        [1, 2, 4.0], [3, 1, 2.0], [3, 4, 5.0]]
    seen = []

    class Fake:
        def __init__(self, n_iter, **settings):
            seen.append(settings)
            self.n_iter = n_iter

        def fit(self, ratings):
            return fake_now(2.0 + 0.5 * self.n_iter, self)

    timing = scale.time_system(Fake, frame, extra=2, repeat=1)
    assert timing == {"first_fit_seconds": 2.5, "seconds_per_iteration": 0.5,
                      "setup_seconds": 2.0}
    assert all(s == scale.SETTINGS for s in seen)
