"""Per-scenario marginal cost: what one more one-call scenario costs a run, against what one
more call costs a bare grpc.aio client and server in one process, at the same concurrency.

    python bench/bench_marginal.py [--small 1000] [--large 5000] [--per-file 50]
                                   [--workers 50] [--rounds 5]

scenario-run: (time of LARGE one-call scenarios − time of SMALL) ÷ (LARGE − SMALL), each a
whole run (launch to exit) of files of ``--per-file`` documents; startup, compiling and
the report's fixed part cancel out. Bare: the same difference for LARGE and SMALL calls
(launch to exit too). Rounds alternate the four runs; medians are reported. Target:
scenario-run's marginal cost ≤ 2× the bare one.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _package import byte_compile
from _suites import ONE_CALL, bare_process, command_line, run_scenario_run, write_suite

TARGET = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=5000)
    parser.add_argument("--per-file", type=int, default=50)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(command_line())
    print(byte_compile())
    temp = Path(tempfile.mkdtemp(prefix="bench-marginal-"))
    sizes = (args.small, args.large)
    try:
        roots = {
            n: write_suite(temp / f"n{n}", n, max(1, n // args.per_file), ONE_CALL) for n in sizes
        }
        for root in roots.values():
            run_scenario_run(root, "--workers", str(args.workers))  # warm-up (caches)
        ours: dict[int, list[float]] = {n: [] for n in sizes}
        base: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(args.rounds):
            for n in sizes:
                base[n].append(bare_process(n, args.workers)[0])
                ours[n].append(run_scenario_run(roots[n], "--workers", str(args.workers)))
        extra = args.large - args.small
        ours_m = (statistics.median(ours[args.large]) - statistics.median(ours[args.small])) / extra
        base_m = (statistics.median(base[args.large]) - statistics.median(base[args.small])) / extra
        for n in sizes:
            print(
                f"{n:>6}: scenario-run {statistics.median(ours[n]):.3f} s, "
                f"bare grpc.aio {statistics.median(base[n]):.3f} s"
            )
        print(f"marginal cost of a one-call scenario: {ours_m * 1e6:7.1f} µs")
        print(f"marginal cost of a bare call:         {base_m * 1e6:7.1f} µs")
        print(f"ratio scenario-run / bare: {ours_m / base_m:.2f}x  (target <= {TARGET:g}x)")
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
