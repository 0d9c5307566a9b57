"""Runner throughput: 1,000 generated scenarios through ``scenario-run`` vs the same 2,000
unary calls made by a bare grpc.aio client against a bare grpc.aio echo server in one
process, at the same concurrency, both timed from process launch to exit, in the same run.

    python bench/bench_runner.py [--scenarios 1000] [--workers 50] [--rounds 9]
                                 [--layouts 1000,20,1]

Each scenario: 2 stubs, 2 unary calls, 1 verify. The suite is laid out three ways: one file
per scenario, 20 files, and one file of 1,000 documents. Rounds alternate the bare baseline
and every layout; medians are reported. Target: scenario-run ≤ 1.5× the bare time in the
20-file and the one-file layout (the issue's); the 1,000-file layout is held to it too.

The runner's calls reach its embedded mock through a Unix socket (Linux); the bare client
calls over loopback TCP. ``--tcp-layouts`` (default: the 20-file one) are also run with
``SCENARIO_RUN_LOCAL_SOCKET=0``, every call over TCP as the bare one's, in the same rounds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _package import byte_compile
from _suites import bare_process, command_line, run_scenario_run, write_suite

TARGET = 1.5
TCP_ONLY = {"SCENARIO_RUN_LOCAL_SOCKET": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--layouts", default="1000,20,1", help="files per suite, comma-separated")
    parser.add_argument(
        "--tcp-layouts", default="20", help="layouts also run over TCP only ('' for none)"
    )
    args = parser.parse_args()
    print(command_line())
    print(byte_compile())
    layouts = [min(args.scenarios, int(n)) for n in args.layouts.split(",")]
    temp = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    try:
        roots = {n: write_suite(temp / f"files-{n}", args.scenarios, n) for n in layouts}
        for root in roots.values():
            run_scenario_run(root, "--workers", str(args.workers))  # warm-up (compile cache)
        tcp = [min(args.scenarios, int(n)) for n in args.tcp_layouts.split(",") if n]
        tcp = [n for n in tcp if n in roots]
        calls = 2 * args.scenarios
        base: list[float] = []
        ours: dict[int, list[float]] = {n: [] for n in layouts}
        over_tcp: dict[int, list[float]] = {n: [] for n in tcp}
        for _ in range(args.rounds):
            base.append(bare_process(calls, args.workers)[0])
            for n, root in roots.items():
                ours[n].append(run_scenario_run(root, "--workers", str(args.workers)))
            for n in tcp:
                over_tcp[n].append(
                    run_scenario_run(roots[n], "--workers", str(args.workers), env=TCP_ONLY)
                )
        base_s = statistics.median(base)
        print(f"bare grpc.aio, {calls} calls, process launch to exit: {base_s:.3f} s")
        worst = 0.0
        ratios: dict[int, float] = {}
        for n in layouts:
            ours_s = statistics.median(ours[n])
            ratios[n] = ours_s / base_s
            worst = max(worst, ours_s / base_s)
            print(
                f"scenario-run, {args.scenarios} scenarios in {n:>4} file(s): {ours_s:.3f} s"
                f"  ratio {ours_s / base_s:.2f}x"
            )
        for n in tcp:
            tcp_s = statistics.median(over_tcp[n])
            print(
                f"  the same, every call over TCP (SCENARIO_RUN_LOCAL_SOCKET=0), {n:>4} file(s):"
                f" {tcp_s:.3f} s  ratio {tcp_s / base_s:.2f}x"
            )
        targeted = [ratios[n] for n in (20, 1) if n in ratios]
        if targeted:
            print(
                f"ratio scenario-run / bare, 20 files and one file: {max(targeted):.2f}x"
                f"  (target <= {TARGET}x)"
            )
        print(f"ratio scenario-run / bare, worst layout: {worst:.2f}x  (target <= {TARGET}x)")
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
