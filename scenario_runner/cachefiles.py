"""Keeping a cache folder bounded: past a number of entries, the older half goes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path


def prune(folder: Path, suffixes: Sequence[str], max_entries: int) -> None:
    """Past ``max_entries`` files ending with one of ``suffixes`` in ``folder``, remove the
    older ones (by modification time) until half of that number is left. Anything else in
    the folder is left alone; a file another process removed first is no error."""
    endings = tuple(suffixes)
    try:
        with os.scandir(folder) as found:
            cached = [e for e in found if e.name.endswith(endings) and e.is_file()]
            entries = [(e.stat().st_mtime, e.path) for e in cached]
    except OSError:
        return
    if len(entries) <= max_entries:
        return
    entries.sort()
    for _, path in entries[: len(entries) - max_entries // 2]:
        with contextlib.suppress(OSError):
            os.unlink(path)
