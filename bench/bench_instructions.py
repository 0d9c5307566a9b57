"""Instructions, not seconds: what a scenario of the runner benchmark's shape costs the CPU,
counted by valgrind's callgrind, against the two bare grpc.aio calls it makes.

    python bench/bench_instructions.py [--small 50] [--large 300]

Wall-clock figures on a shared VM swing by 10-25 % from one run to the next; instruction
counts of the same run repeat within 0.1 %, so a change of 1 % in the work a scenario does
shows. Both sides run in one process under callgrind (``SCENARIO_RUN_PROCESSES=1``; gRPC's
threads are counted too): scenario-run on a suite of ``small`` and of ``large`` scenarios
(2 stubs, 2 unary calls, 1 verify each, in one file, caches warm), the bare client and
server of ``bench_runner.py`` making ``2 × small`` and ``2 × large`` calls. The difference
between the two sizes, divided by the difference in scenarios, is the cost of one scenario
(or of two bare calls); what is left of the small run is the start-up.

Callgrind counts user-space instructions only: system calls (the transport's reads and
writes) are not in these figures, nor are waits. Needs ``valgrind`` on the PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _package import byte_compile
from _suites import command_line, run_scenario_run, write_suite

HERE = Path(__file__).resolve().parent


def instructions(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """User-space instructions the command executes, every thread of it."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "-q", *command],
            cwd=cwd,
            env={**os.environ, "GRPC_VERBOSITY": "NONE", **env},
            check=True,
            capture_output=True,
        )
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        if summary is None:
            raise SystemExit(f"no summary line in {out}")
        return int(summary.group(1))


def scenario_run(root: Path) -> int:
    command = [sys.executable, "-m", "scenario_runner.cli", "scenarios", "-q"]
    return instructions(command, root, {"SCENARIO_RUN_PROCESSES": "1"})


def bare(calls: int) -> int:
    code = (
        f"import asyncio, sys; sys.path.insert(0, {str(HERE)!r}); import _suites; "
        f"asyncio.run(_suites.bare({calls}, 50))"
    )
    return instructions([sys.executable, "-c", code], HERE, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--large", type=int, default=300)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    print(command_line())
    print(byte_compile())
    temp = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    try:
        roots = {n: write_suite(temp / f"s{n}", n, 1) for n in (args.small, args.large)}
        for root in roots.values():
            env = {"SCENARIO_RUN_PROCESSES": "1"}
            run_scenario_run(root, env=env)  # compiles the protos, fills the document cache
            run_scenario_run(root, env=env)  # marks the file checked
        ours = {n: scenario_run(root) for n, root in roots.items()}
        theirs = {n: bare(2 * n) for n in roots}
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    extra = args.large - args.small
    per_scenario = (ours[args.large] - ours[args.small]) / extra
    per_pair = (theirs[args.large] - theirs[args.small]) / extra
    our_start = ours[args.small] - per_scenario * args.small
    bare_start = theirs[args.small] - per_pair * args.small
    print(f"scenario-run: {per_scenario / 1e6:.3f} M instructions a scenario")
    print(f"bare grpc.aio: {per_pair / 1e6:.3f} M instructions for its 2 calls")
    print(f"ratio a scenario / 2 bare calls: {per_scenario / per_pair:.2f}x")
    print(
        f"start-up and end (the rest of the {args.small}-scenario run): "
        f"{our_start / 1e6:.0f} M against the bare script's {bare_start / 1e6:.0f} M"
        f" ({our_start / bare_start:.2f}x)"
    )


if __name__ == "__main__":
    main()
