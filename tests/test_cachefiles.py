"""A cache folder kept bounded: only its own entries, oldest first, down to half."""

from __future__ import annotations

import os
from pathlib import Path

from scenario_runner.cachefiles import prune


def _entry(path: Path, age: int) -> Path:
    path.write_bytes(b"")
    os.utime(path, (1_000_000 + age, 1_000_000 + age))
    return path


def test_nothing_goes_below_the_limit(tmp_path: Path) -> None:
    entries = [_entry(tmp_path / f"{n}.pb", n) for n in range(4)]
    prune(tmp_path, (".pb",), 4)
    assert all(p.exists() for p in entries)


def test_past_the_limit_the_oldest_go_until_half_is_left(tmp_path: Path) -> None:
    entries = [_entry(tmp_path / f"{n}.pb", n) for n in range(7)]
    other = _entry(tmp_path / "notes.txt", 0)
    (tmp_path / "folder.pb").mkdir()
    prune(tmp_path, (".pb",), 6)
    assert [p.exists() for p in entries] == [False] * 4 + [True] * 3
    assert other.exists() and (tmp_path / "folder.pb").is_dir()


def test_a_missing_folder_is_no_error(tmp_path: Path) -> None:
    prune(tmp_path / "nowhere", (".pb",), 1)
