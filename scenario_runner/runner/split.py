"""Divide a suite among worker processes by size, cutting a large file between documents.

Work is shared by bytes, not by files: the suite's files are laid end to end and cut into
one contiguous share per process, so one file of a thousand documents keeps every core as
busy as a thousand files do. A cut inside a file falls on a document start marker (a line
that begins with ``---``), the document nearest to the ideal cut. Such a line is always a
document boundary in YAML (a scalar cannot hold it at column 0), so each piece parses as it
would within the whole file; the pieces know the line and the index of their first document,
so every position, order and name is what loading the whole file gives.

What a piece cannot know alone (a YAML error or a name shared with another piece, which
break the whole file) is settled by the parent: such a file is loaded again in one piece
(``needs_whole_load``). Files with anything unusual (``...`` end markers, directives, odd
line breaks, a byte order mark) are never cut.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# A document start marker: `---` at the start of a line, then a space, a tab or the line's end.
_MARKER = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)
# What can make the count of documents differ from the count of markers (end markers and
# directives), or the lines YAML counts from those of the text (line breaks other than \n;
# reading a file as text makes \r\n and \r into \n). A byte order mark, to be safe.
_UNCUTTABLE = re.compile(r"^(?:\.\.\.|%)|[\x85\u2028\u2029\ufeff]", re.MULTILINE)

# Below this many bytes of scenario files per process, a second process costs more (fork,
# a second mock server, results over a pipe) than it saves. Measured with
# bench/bench_split.py: about 100 scenarios of the runner benchmark's shape.
BYTES_PER_PROCESS = 48 * 1024


@dataclass(frozen=True)
class Part:
    """A whole scenario file, or the documents of one between two character offsets."""

    index: int  # the file's index in the suite (its results' order)
    path: Path
    start: int = 0
    end: int | None = None  # None: to the end of the file
    line: int = 1  # the line ``start`` is on
    first: int = 0  # the index of its first document in the file
    count: int = 0  # how many documents it holds (when cut)

    @property
    def last(self) -> int:
        """The index after its last document."""
        return self.first + self.count

    def text(self, whole: str) -> str:
        """What to parse of the file's text: blank lines up to its first line (so every
        position the parser reports is the one in the file), then its documents."""
        return "\n" * (self.line - 1) + whole[self.start : self.end]

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # loading it reports why


def process_share(total_bytes: int, cores: int) -> int:
    """How many processes a suite of ``total_bytes`` is worth on ``cores`` cores."""
    return max(1, min(cores, 1 + total_bytes // BYTES_PER_PROCESS))


def split(
    files: Sequence[tuple[int, Path]], processes: int, sizes: Sequence[int] | None = None
) -> list[list[Part]]:
    """One list of parts per process (none empty, at most ``processes``), in suite order."""
    sizes = list(sizes) if sizes is not None else [file_size(path) for _, path in files]
    total = sum(sizes)
    if processes <= 1 or total == 0:
        return [[Part(index, path) for index, path in files]] if files else []
    share = total / processes
    shares: list[list[Part]] = [[] for _ in range(processes)]

    def owner(middle: float) -> int:
        return min(processes - 1, int(middle / share))

    position = 0
    for (index, path), size in zip(files, sizes, strict=True):
        cuts = [share * k - position for k in range(1, processes)]
        cuts = [cut for cut in cuts if 0 < cut < size]
        pieces = _cut(index, path, size, cuts) if cuts else None
        if pieces is None:
            shares[owner(position + size / 2)].append(Part(index, path))
        else:
            for piece, (start, end) in pieces:
                shares[owner(position + (start + end) / 2)].append(piece)
        position += size
    return [parts for parts in shares if parts]


# Each process's last sixth (by bytes) is lent: another process that has run out of work
# runs what is left of it (about the difference between the first and the last process to
# finish, measured with bench/bench_runner.py: up to a sixth of a run).
LENT_PIECES = 6


@dataclass(frozen=True)
class Share:
    """A process's parts, in suite order; the last ``lent`` of them a process that has run
    out of work of its own may load and help with."""

    parts: tuple[Part, ...]
    lent: int = 0

    @property
    def tail(self) -> tuple[Part, ...]:
        return self.parts[len(self.parts) - self.lent :] if self.lent else ()


def split_shares(
    files: Sequence[tuple[int, Path]], processes: int, sizes: Sequence[int] | None = None
) -> list[Share]:
    """:func:`split`, with the last ``1 / LENT_PIECES`` of each share marked lent (when the
    suite cuts into that many pieces; else nothing is lent)."""
    sizes = list(sizes) if sizes is not None else [file_size(path) for _, path in files]
    pieces = split(files, processes * LENT_PIECES, sizes) if processes > 1 else []
    if len(pieces) != processes * LENT_PIECES:
        return [Share(tuple(parts)) for parts in split(files, processes, sizes)]
    shares = []
    for k in range(processes):
        own = pieces[k * LENT_PIECES : (k + 1) * LENT_PIECES]
        head = _joined([part for piece in own[:-1] for part in piece])
        tail = _joined(own[-1])
        shares.append(Share(tuple(head + tail), len(tail)))
    return shares


def _joined(parts: Sequence[Part]) -> list[Part]:
    """Adjacent pieces of one file made one part (one read and one parse, not several)."""
    joined: list[Part] = []
    for part in parts:
        last = joined[-1] if joined else None
        if last is not None and last.index == part.index and last.end == part.start:
            joined[-1] = Part(
                last.index,
                last.path,
                start=last.start,
                end=part.end,
                line=last.line,
                first=last.first,
                count=last.count + part.count,
            )
        else:
            joined.append(part)
    return joined


def _cut(
    index: int, path: Path, size: int, cuts: Sequence[float]
) -> list[tuple[Part, tuple[float, float]]] | None:
    """The file in pieces at the markers nearest to ``cuts`` (byte offsets), each with its
    byte span; None when the file stays whole."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text or _UNCUTTABLE.search(text):
        return None
    markers = [m.start() for m in _MARKER.finditer(text)]
    scale = size / len(text)  # characters to bytes, near enough to balance the shares
    starts: list[int] = []
    for cut in cuts:
        wanted = cut / scale
        after = starts[-1] if starts else 0
        # The file's own start or end is a cut too, and the best one when it is the nearest.
        candidates = [after, *(m for m in markers if m > after), len(text)]
        best = min(candidates, key=lambda m: abs(m - wanted))
        if after < best < len(text):
            starts.append(best)
    if not starts:
        return None
    bounds = [0, *starts, len(text)]
    pieces: list[tuple[Part, tuple[float, float]]] = []
    document = 0
    for start, end in itertools.pairwise(bounds):
        count = _count(markers, start, end)
        if start == 0 and _has_content(text[: markers[0] if markers else len(text)]):
            count += 1  # the first document needs no marker
        part = Part(
            index,
            path,
            start=start,
            end=None if end == len(text) else end,
            line=text.count("\n", 0, start) + 1,
            first=document,
            count=count,
        )
        pieces.append((part, (start * scale, end * scale)))
        document += count
    return pieces


def _count(markers: Sequence[int], start: int, end: int) -> int:
    return sum(1 for m in markers if start <= m < end)


def _has_content(head: str) -> bool:
    """Whether the text before the first marker holds a document (not only comments)."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in head.splitlines())


@dataclass(frozen=True)
class Named:
    """What the parent needs of a loaded document to check a cut file."""

    file_index: int
    document: int
    name: str


def needs_whole_load(
    parts: Iterable[Part], loaded: Iterable[Named], troubled: Iterable[int]
) -> set[int]:
    """Indexes of cut files to load again in one piece: a piece could not be read as
    predicted (``troubled``), the file gave no document at all, or two pieces hold a
    scenario of the same name (each piece checks only its own)."""
    pieces: dict[int, list[Part]] = defaultdict(list)
    for part in parts:
        if not part.whole:
            pieces[part.index].append(part)
    again = {index for index in troubled if index in pieces}
    names: dict[tuple[int, str], set[int]] = defaultdict(set)
    seen: set[int] = set()
    for item in loaded:
        own = pieces.get(item.file_index)
        if own is None:
            continue
        seen.add(item.file_index)
        piece = next(
            (n for n, p in enumerate(own) if p.first <= item.document < p.last),
            -1,
        )
        names[(item.file_index, item.name)].add(piece)
    again |= {index for index in pieces if index not in seen}
    again |= {index for (index, _), held in names.items() if len(held) > 1}
    return again
