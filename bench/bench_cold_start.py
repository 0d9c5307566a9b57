"""Cold start: one scenario end to end through ``scenario-run`` vs a bare interpreter that
only imports the libraries it is built on, measured in the same run.

    python bench/bench_cold_start.py [--runs 15]

Baseline: ``python -c "import grpc, grpc_tools.protoc, yaml, jsonschema, jinja2"``.
Target: scenario-run ≤ 1.6× the baseline. The proto compile cache is warm (as on a second
run); a separate line reports the first, cold-cache run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _package import byte_compile

REPO = Path(__file__).resolve().parents[1]
BASELINE = "import grpc, grpc_tools.protoc, yaml, jsonschema, jinja2"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"$ python bench/bench_cold_start.py --runs {args.runs}")
    print(byte_compile())
    root = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    try:
        shutil.copytree(REPO / "protos", root / "protos")
        (root / "scenarios").mkdir()
        shutil.copy(REPO / "scenarios" / "greeter" / "say_hello.yaml", root / "scenarios")
        ours_cmd = [
            sys.executable,
            "-m",
            "scenario_runner.cli",
            "scenarios",
            "-q",
            "-k",
            "known user",
        ]
        base_cmd = [sys.executable, "-c", BASELINE]
        first = timed(ours_cmd, root)  # cold compile cache
        ours, base = [], []
        for _ in range(args.runs):
            base.append(timed(base_cmd, root))
            ours.append(timed(ours_cmd, root))
        ours_s, base_s = statistics.median(ours), statistics.median(base)
        print(f"baseline imports:           {base_s * 1000:7.1f} ms (median of {args.runs})")
        print(f"scenario-run, one scenario: {ours_s * 1000:7.1f} ms (median of {args.runs})")
        print(f"first run, protoc not cached: {first * 1000:5.1f} ms")
        print(f"ratio scenario-run / baseline: {ours_s / base_s:.2f}x  (target <= 1.6x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
