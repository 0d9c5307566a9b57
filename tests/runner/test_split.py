"""Cutting a suite into per-process shares by bytes, files into pieces between documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_runner.runner.split import (
    BYTES_PER_PROCESS,
    LENT_PIECES,
    Named,
    Part,
    needs_whole_load,
    process_share,
    split,
    split_shares,
)
from scenario_runner.scenario.yamlsource import load_documents

DOC = "name: scenario {i}\nsteps:\n  - call: a.B/C\n    request: {{text: value-{i}}}\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def many(count: int, start: int = 0, head: str = "") -> str:
    return head + "---\n".join(DOC.format(i=i) for i in range(start, start + count))


def documents_of(path: Path, parts: list[Part]) -> list[tuple[int, object, tuple[int, int]]]:
    """(index, value, position of the name) of each document the pieces give, as loaded."""
    text = path.read_text()
    found = []
    for part in parts:
        docs = load_documents(
            part.text(text), "f.yaml", lines=text.splitlines(), first_index=part.first
        )
        assert len(docs) == part.count
        found += [(d.index, d.value, d.position(("name",))) for d in docs]
    return found


def test_one_file_of_many_documents_is_cut_into_one_piece_per_process(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", many(100))
    shares = split([(0, path)], 2)
    assert len(shares) == 2
    parts = [part for share in shares for part in share]
    assert [p.whole for p in parts] == [False, False]
    assert sum(p.count for p in parts) == 100
    assert abs(parts[0].count - 50) <= 1, "the cut is near the middle"
    whole = [
        (d.index, d.value, d.position(("name",))) for d in load_documents(path.read_text(), "f")
    ]
    assert documents_of(path, parts) == whole, "indexes, values and positions as in the file"


@pytest.mark.parametrize(
    "head",
    ["", "---\n", "# a comment first\n---\n", "\n\n---\n", "---\n---\n"],
    ids=["no-marker", "marker", "comment", "blank-lines", "empty-document"],
)
def test_pieces_agree_with_the_whole_file_whatever_comes_first(tmp_path: Path, head: str) -> None:
    path = write(tmp_path, "big.yaml", many(40, head=head))
    parts = [part for share in split([(0, path)], 3) for part in share]
    assert len(parts) == 3
    whole = [
        (d.index, d.value, d.position(("name",))) for d in load_documents(path.read_text(), "f")
    ]
    assert documents_of(path, parts) == whole


def test_files_stay_whole_when_the_cut_falls_between_them(tmp_path: Path) -> None:
    files = [(i, write(tmp_path, f"s{i}.yaml", many(5, start=5 * i))) for i in range(4)]
    shares = split(files, 2)
    assert shares == [
        [Part(0, files[0][1]), Part(1, files[1][1])],
        [Part(2, files[2][1]), Part(3, files[3][1])],
    ]


def test_a_file_across_the_cut_is_cut_the_rest_stay_whole(tmp_path: Path) -> None:
    files = [(i, write(tmp_path, f"s{i}.yaml", many(9, start=9 * i))) for i in range(3)]
    shares = split(files, 2)
    assert [[(p.index, p.whole) for p in share] for share in shares] == [
        [(0, True), (1, False)],
        [(1, False), (2, True)],
    ]
    first, second = shares[0][1], shares[1][0]
    assert (first.first, first.count, second.first, second.count) in ((0, 4, 4, 5), (0, 5, 5, 4))


@pytest.mark.parametrize(
    "text",
    [
        many(10) + "...\n",  # an end marker: a bare document may follow it
        "%YAML 1.2\n---\n" + many(10),  # a directive
        many(10).replace("\n", "\u2028"),  # a line break YAML counts and Python too
        "\ufeff" + many(10),  # a byte order mark
    ],
    ids=["end-marker", "directive", "line-separator", "bom"],
)
def test_unusual_files_are_never_cut(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "odd.yaml", text)
    parts = [part for share in split([(0, path)], 2) for part in share]
    assert parts == [Part(0, path)]


def test_a_file_with_one_document_stays_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "one.yaml", DOC.format(i=1) * 1)
    assert split([(0, path)], 2) == [[Part(0, path)]]


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["windows", "old-mac"])
def test_other_line_breaks_are_cut_like_unix_ones(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(many(20).replace("\n", newline).encode())
    parts = [part for share in split([(0, path)], 2) for part in share]
    assert len(parts) == 2
    whole = [
        (d.index, d.value, d.position(("name",))) for d in load_documents(path.read_text(), "f")
    ]
    assert documents_of(path, parts) == whole


def test_small_suites_run_in_one_process() -> None:
    assert process_share(0, 2) == 1
    assert process_share(BYTES_PER_PROCESS - 1, 2) == 1
    assert process_share(BYTES_PER_PROCESS, 2) == 2
    assert process_share(100 * BYTES_PER_PROCESS, 2) == 2, "never more than the cores"
    assert process_share(100 * BYTES_PER_PROCESS, 1) == 1


def test_cut_files_are_loaded_whole_when_a_piece_cannot_tell_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", many(10))
    other = write(tmp_path, "other.yaml", many(10))
    pieces = [Part(0, path, 0, 30, 1, 0, 2), Part(0, path, 30, None, 5, 2, 2)]
    fine = [Named(0, i, f"s{i}") for i in range(4)]
    assert needs_whole_load(pieces, fine, set()) == set()
    assert needs_whole_load(pieces, fine, {0}) == {0}, "a piece could not be read alone"
    assert needs_whole_load(pieces, [], set()) == {0}, "nothing at all: let the file say why"
    clash = [Named(0, 0, "same"), Named(0, 3, "same")]
    assert needs_whole_load(pieces, clash, set()) == {0}, "a name in two pieces"
    within = [Named(0, 0, "same"), Named(0, 1, "same"), Named(0, 2, "x")]
    assert needs_whole_load(pieces, within, set()) == set(), "a piece checks its own names"
    whole_file = [Part(1, other)]
    assert needs_whole_load(whole_file, [], {1}) == set(), "whole files were loaded whole"


def test_one_file_in_shares_lends_the_last_sixth_of_each_and_loads_as_the_file(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "big.yaml", many(240))
    shares = split_shares([(0, path)], 2)
    assert len(shares) == 2
    # One part for what a share keeps, one for what it lends: adjacent pieces are joined.
    assert [(len(s.parts), s.lent) for s in shares] == [(2, 1), (2, 1)]
    lent = [s.tail[0].count for s in shares]
    assert all(abs(count - 240 / 2 / LENT_PIECES) <= 2 for count in lent), lent
    parts = [part for share in shares for part in share.parts]
    whole = [
        (d.index, d.value, d.position(("name",))) for d in load_documents(path.read_text(), "f")
    ]
    assert documents_of(path, parts) == whole


def test_many_files_in_shares_lend_whole_files_in_order(tmp_path: Path) -> None:
    files = [(i, write(tmp_path, f"s{i:03d}.yaml", DOC.format(i=i))) for i in range(120)]
    shares = split_shares(files, 2)
    assert [p.index for s in shares for p in s.parts] == list(range(120)), "each once, in order"
    assert all(p.whole for s in shares for p in s.parts)
    assert [s.lent for s in shares] == [10, 10]
    assert [p.index for p in shares[0].tail] == list(range(50, 60))


def test_a_suite_too_small_to_cut_that_fine_lends_nothing(tmp_path: Path) -> None:
    files = [(i, write(tmp_path, f"s{i}.yaml", DOC.format(i=i))) for i in range(4)]
    shares = split_shares(files, 2)
    assert [[p.index for p in s.parts] for s in shares] == [[0, 1], [2, 3]]
    assert [s.lent for s in shares] == [0, 0] and shares[0].tail == ()
