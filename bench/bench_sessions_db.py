"""What ``--sessions-db`` costs a run: the runner benchmark's 1,000 scenarios with every
session written to a SQLite file, against the same run without it, alternated.

    python bench/bench_sessions_db.py [--scenarios 1000] [--files 20] [--rounds 7]

Each run with the database writes a new file (the sessions of a run are kept in it: 1,000
sessions, 7,000 events). Target: ≤ 1.2× the run without it.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
from pathlib import Path

from _package import byte_compile
from _suites import command_line, run_scenario_run, write_suite

TARGET = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(command_line())
    print(byte_compile())
    temp = Path(tempfile.mkdtemp(prefix="bench-sessions-db-"))
    try:
        root = write_suite(temp / "suite", args.scenarios, args.files)
        run_scenario_run(root)  # warm-up (caches)
        with_db, without = [], []
        for n in range(args.rounds):
            database = temp / f"sessions-{n}.db"
            with_db.append(run_scenario_run(root, "--sessions-db", str(database)))
            without.append(run_scenario_run(root))
        with sqlite3.connect(temp / "sessions-0.db") as check:
            sessions = check.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            events = check.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        if sessions != args.scenarios:
            raise SystemExit(f"expected {args.scenarios} sessions kept, found {sessions}")
        with_s, without_s = statistics.median(with_db), statistics.median(without)
        print(f"without --sessions-db: {without_s:.3f} s")
        print(f"with --sessions-db:    {with_s:.3f} s  ({sessions} sessions, {events} events kept)")
        print(f"ratio with / without: {with_s / without_s:.2f}x  (target <= {TARGET:g}x)")
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
