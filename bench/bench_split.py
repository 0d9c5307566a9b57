"""Where a second process starts to pay: suites of growing size (the runner benchmark's
scenarios, in one file) run in one process and in two, alternated round by round.

    python bench/bench_split.py [--sizes 25,50,100,200,400] [--rounds 5]

Prints, per size, the median time of each and the ratio two ÷ one, and the bytes of the
suite: ``runner/split.py``'s ``BYTES_PER_PROCESS`` (a second process once a suite has that
many bytes of scenario files) is chosen from where the ratio drops below 1.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _package import byte_compile
from _suites import command_line, run_scenario_run, write_suite

from scenario_runner.runner.split import BYTES_PER_PROCESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,50,100,200,400")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(command_line())
    print(byte_compile())
    sizes = [int(n) for n in args.sizes.split(",")]
    temp = Path(tempfile.mkdtemp(prefix="bench-split-"))
    try:
        roots = {n: write_suite(temp / f"n{n}", n, 1) for n in sizes}
        runs: dict[tuple[int, int], list[float]] = {}
        for root in roots.values():
            run_scenario_run(root)  # warm-up (caches)
        for _ in range(args.rounds):
            for n, root in roots.items():
                for processes in (1, 2):
                    env = {"SCENARIO_RUN_PROCESSES": str(processes)}
                    runs.setdefault((n, processes), []).append(run_scenario_run(root, env=env))
        print(f"BYTES_PER_PROCESS = {BYTES_PER_PROCESS:,}")
        for n, root in roots.items():
            size = sum(p.stat().st_size for p in (root / "scenarios").glob("*.yaml"))
            one = statistics.median(runs[(n, 1)])
            two = statistics.median(runs[(n, 2)])
            print(
                f"{n:>5} scenarios ({size:>7,} bytes): one process {one:.3f} s, "
                f"two {two:.3f} s, two / one {two / one:.2f}"
            )
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
