"""Parsed documents kept between runs: the same documents as parsing gives, never stale."""

from __future__ import annotations

from pathlib import Path

from scenario_runner.errors import Location
from scenario_runner.scenario.yamlsource import DocumentCache, SourceDocument, load_documents

TEXT = """name: first
steps:
  - call: a.B/C
    request: {text: "x", n: 2, when: 2024-01-01, ok: true, none: null}
---
name: second
tags: [a, b]
"""


def view(documents: list[SourceDocument]) -> list[tuple[object, ...]]:
    return [(d.file, d.index, d.value, d.marks, d.key_marks, list(d.lines)) for d in documents]


def test_a_cached_file_gives_what_parsing_gives(tmp_path: Path) -> None:
    cache = DocumentCache(tmp_path / "documents")
    parsed = load_documents(TEXT, "s.yaml")
    first = load_documents(TEXT, "s.yaml", cache=cache)
    assert len(list((tmp_path / "documents").iterdir())) == 1
    again = load_documents(TEXT, "other/s.yaml", cache=cache)
    assert view(first) == view(parsed)
    assert view(again) == [("other/s.yaml", *row[1:]) for row in view(parsed)]
    assert again[0].locate(("steps", 0, "request")) == Location("other/s.yaml", 4, 14)


def test_a_changed_text_or_first_index_is_parsed_again(tmp_path: Path) -> None:
    cache = DocumentCache(tmp_path)
    load_documents(TEXT, "s.yaml", cache=cache)
    changed = load_documents(TEXT.replace("second", "third"), "s.yaml", cache=cache)
    assert changed[1].value["name"] == "third"
    shifted = load_documents(TEXT, "s.yaml", cache=cache, first_index=5)
    assert [d.index for d in shifted] == [5, 6]
    assert len(list(tmp_path.iterdir())) == 3


def test_a_damaged_entry_is_parsed_again_and_rewritten(tmp_path: Path) -> None:
    cache = DocumentCache(tmp_path)
    load_documents(TEXT, "s.yaml", cache=cache)
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(b"\x00not marshal")
    assert view(load_documents(TEXT, "s.yaml", cache=cache)) == view(load_documents(TEXT, "s.yaml"))
    assert entry.read_bytes() != b"\x00not marshal"


def test_a_folder_that_cannot_be_written_only_costs_the_shortcut(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = DocumentCache(blocker / "documents")  # a folder below a file: never writable
    assert view(load_documents(TEXT, "s.yaml", cache=cache)) == view(load_documents(TEXT, "s.yaml"))


def test_past_its_limit_the_cache_removes_its_older_half_on_the_first_write(
    tmp_path: Path,
) -> None:
    import os

    old_names = [f"{n:040x}.marshal" for n in range(12)]
    for n, name in enumerate(old_names):
        old = tmp_path / name
        old.write_bytes(b"")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    (tmp_path / "notes.txt").write_text("not an entry")
    cache = DocumentCache(tmp_path, max_entries=10)
    load_documents(TEXT, "s.yaml", cache=cache)  # the 13th entry, the newest
    left = sorted(p.name for p in tmp_path.iterdir())
    assert "notes.txt" in left
    entries = [name for name in left if name.endswith(".marshal")]
    assert len(entries) == 5  # half the limit: the newest four old ones and this run's
    assert [e for e in entries if e in old_names] == old_names[8:]
    assert view(load_documents(TEXT, "s.yaml", cache=cache)) == view(load_documents(TEXT, "s.yaml"))
    # A second write in the same process does not scan the folder again.
    load_documents(TEXT.replace("second", "third"), "s.yaml", cache=cache)
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".marshal"]) == 6


def test_under_its_limit_the_cache_keeps_everything(tmp_path: Path) -> None:
    cache = DocumentCache(tmp_path, max_entries=10)
    for n in range(4):
        load_documents(TEXT.replace("second", f"v{n}"), "s.yaml", cache=cache)
    assert len(list(tmp_path.iterdir())) == 4


def test_a_cached_document_finds_every_position_before_and_after_unpacking(
    tmp_path: Path,
) -> None:
    cache = DocumentCache(tmp_path)
    parsed = load_documents(TEXT, "s.yaml")
    load_documents(TEXT, "s.yaml", cache=cache)
    cached = load_documents(TEXT, "s.yaml", cache=cache)
    paths = [path for doc in parsed for path in (*doc.marks, *doc.key_marks)]
    paths += [("steps", 0, "request", "missing", "deeper"), ("nowhere",)]
    for fresh, kept in zip(parsed, cached, strict=True):
        # shallow paths first (answered without unpacking), then deep ones, then keys
        for key in (False, True):
            for path in sorted(set(paths), key=len):
                assert kept.position(path, key=key) == fresh.position(path, key=key), path
    assert view(cached) == view(parsed)


def test_damaged_packed_positions_fall_back_on_the_shallow_ones() -> None:
    document = SourceDocument(
        "s.yaml", 0, {}, {(): (1, 1), ("steps", 0): (3, 5)}, packed=b"\x00not marshal"
    )
    assert document.position(("steps", 0, "request", "name")) == (3, 5)
    assert document.position(("steps", 0), key=True) == (3, 5)
    assert document.key_marks == {}
