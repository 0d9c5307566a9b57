"""Loading speed: 1,000 scenario files read, checked against the schema and the protos, vs
the same files only parsed by PyYAML's C safe loader, measured in the same run.

    python bench/bench_load.py [--scenarios 1000] [--rounds 9]

Two suites: the runner benchmark's scenarios (2 stubs, 2 unary calls, 1 verify each, no
templates) and the same with templates, vars and saved values (what load-time template
checks look at). Both sides run under the collector settings of a run
(``scenario_runner.collector``). Rounds alternate the two sides; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _package import byte_compile  # noqa: E402

from scenario_runner.collector import run_settings  # noqa: E402
from scenario_runner.protos import compile_protos  # noqa: E402
from scenario_runner.scenario.loader import Loader, discover  # noqa: E402

PROTO = """syntax = "proto3";
package bench;
service Echo { rpc Say (Msg) returns (Msg); }
message Msg { string text = 1; int32 n = 2; }
"""
PLAIN = """name: scenario {i}
stubs:
  - service: bench.Echo
    method: Say
    input: {{equals: {{text: ping-{i}}}}}
    output: {{data: {{text: pong-{i}, n: 1}}}}
  - service: bench.Echo
    method: Say
    input: {{equals: {{text: other-{i}}}}}
    output: {{data: {{text: other-{i}, n: 2}}}}
steps:
  - call: bench.Echo/Say
    request: {{text: ping-{i}}}
    expect: {{response: {{text: pong-{i}}}}}
  - call: bench.Echo/Say
    request: {{text: other-{i}}}
    expect: {{response: {{n: 2}}}}
verify:
  - call: bench.Echo/Say
    times: 2
"""
TEMPLATED = """name: scenario {i}
vars: {{who: ping-{i}, n: 2}}
stubs:
  - service: bench.Echo
    method: Say
    input: {{equals: {{text: "{{{{ who }}}}"}}}}
    output: {{data: {{text: "pong {{{{ request.text }}}}", n: 1}}}}
  - service: bench.Echo
    method: Say
    input: {{matches: {{text: "^other-[0-9]+$"}}}}
    output: {{data: {{text: "{{{{.Request.text}}}}", n: "{{{{ n }}}}"}}}}
steps:
  - call: bench.Echo/Say
    request: {{text: "{{{{ who }}}}"}}
    expect: {{response: {{text: {{$regex: "^pong"}}}}}}
    save: {{answer: response.text}}
  - call: bench.Echo/Say
    request: {{text: "other-{i}", n: "{{{{ n }}}}"}}
    expect: {{response: {{text: "other-{i}"}}}}
verify:
  - call: bench.Echo/Say
    times: 2
    with: {{text: "{{{{ who }}}}"}}
"""


def write_suite(root: Path, template: str, count: int) -> list[Path]:
    folder = root / "scenarios"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"s{i:04d}.yaml").write_text(template.format(i=i), encoding="utf-8")
    return discover([folder])


def load_ours(loader: Loader, files: list[Path]) -> float:
    started = time.perf_counter()
    with run_settings():  # the collector settings a run loads with
        loaded = loader.load(files)
    elapsed = time.perf_counter() - started
    if loaded.broken:
        raise SystemExit(f"unexpected invalid scenario: {loaded.broken[0].errors[0]}")
    return elapsed


def load_bare(files: list[Path]) -> float:
    started = time.perf_counter()
    with run_settings():
        for file in files:
            yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"$ python bench/bench_load.py --scenarios {args.scenarios} --rounds {args.rounds}")
    print(byte_compile())
    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    here = Path.cwd()
    try:
        (root / "protos").mkdir()
        (root / "protos" / "bench.proto").write_text(PROTO, encoding="utf-8")
        os.chdir(root)
        registry = compile_protos([root / "protos"])
        for label, template in (("plain", PLAIN), ("templated", TEMPLATED)):
            files = write_suite(root / label, template, args.scenarios)
            load_ours(Loader(registry, root), files)  # warm-up: caches, imports
            ours, bare = [], []
            for _ in range(args.rounds):
                ours.append(load_ours(Loader(registry, root), files))
                bare.append(load_bare(files))
            ours_s, bare_s = statistics.median(ours), statistics.median(bare)
            print(
                f"{label:>9}: scenario-run load {ours_s * 1000:7.1f} ms, "
                f"yaml.CSafeLoader {bare_s * 1000:7.1f} ms, ratio {ours_s / bare_s:.2f}x"
            )
    finally:
        os.chdir(here)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
