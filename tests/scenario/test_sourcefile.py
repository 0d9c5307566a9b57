"""Reading users' files: size limit, binary files, bytes that are not UTF-8."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scenario_runner.errors import ScenarioFileError
from scenario_runner.scenario.sourcefile import MAX_FILE_BYTES, read_source


def _error(path: Path) -> ScenarioFileError:
    with pytest.raises(ScenarioFileError) as info:
        read_source(path, "shown.yaml")
    return info.value


def test_text_is_read_and_a_byte_order_mark_dropped(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes("\ufeffname: café\n".encode())
    assert read_source(path, "a.yaml") == "name: café\n"


def test_a_file_over_the_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: 50 MiB on disk costs nothing
        handle.seek(50 * 1024 * 1024 - 1)
        handle.write(b"\n")
    started = time.perf_counter()
    error = _error(path)
    assert time.perf_counter() - started < 1
    assert str(error.location) == "shown.yaml:1:1"
    assert "50 MiB" in error.message and "10 MiB" in error.message
    assert MAX_FILE_BYTES == 10 * 1024 * 1024


def test_bytes_that_are_not_utf8_are_reported_where_they_are(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: ok\nnote: é x\n".encode() + b"city: M\xfcnchen\n")
    error = _error(path)
    assert str(error.location) == "shown.yaml:3:8"
    assert "not UTF-8 text: byte 0xfc" in error.message


def test_a_binary_file_is_named_so(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    error = _error(path)
    assert "binary file" in error.message or "not UTF-8" in error.message
    path.write_bytes(b"name: a\nx: \0\0\n")
    error = _error(path)
    assert "binary file" in error.message
    assert str(error.location) == "shown.yaml:2:4"


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    error = _error(tmp_path / "nope.yaml")
    assert "cannot read the file: No such file or directory" in error.message
