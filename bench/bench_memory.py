"""Memory of a long-lived mock: 10,000 live sessions with 10 answered calls each (100,000
``mock_call`` events), in one process, the calls made over real gRPC.

    python bench/bench_memory.py [--sessions 10000] [--calls 10] [--concurrency 50]

The mock answers every call with one global stub (so what grows is the sessions and their
history, not stubs); its protos come from the compile cache, as on any start but the first
(a first start also loads protoc: about 12 MB more). The process's resident set (``VmRSS``)
is read before the sessions are opened, once every call was made, and once every session
was read as the runner reads it (its calls and its whole event log, which makes the
``mock_call`` events). Each request is different (the session's name and the call's
number), as in real suites. Target: ≤ 100 MB resident with every session read.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from pathlib import Path

from _suites import PROTO, command_line
from grpc import aio

from scenario_runner import collector
from scenario_runner.mock.backend import EmbeddedMock
from scenario_runner.mock.stubs import build_stub
from scenario_runner.protos import compile_protos

TARGET_MB = 100.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS in /proc/self/status (Linux only)")


def message(text: str) -> bytes:
    data = text.encode()
    return b"\n" + bytes([len(data)]) + data


async def run(sessions: int, calls: int, concurrency: int, folder: Path) -> None:
    collector.tune()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.proto").write_text(PROTO)
    cache = folder / "cache"
    # As a mock started a second time finds its protos compiled: protoc (about 12 MB once
    # loaded) is run by a child, and this process reads the compiled set from the cache.
    warm = "from pathlib import Path; from scenario_runner.protos import compile_protos as c; "
    warm += f"c([Path({str(folder)!r})], cache_dir=Path({str(cache)!r}))"
    subprocess.run([sys.executable, "-c", warm], check=True)
    registry = compile_protos([folder], cache_dir=cache)
    assert "grpc_tools.protoc" not in sys.modules, "protoc was loaded: the cache was not used"
    method = registry.find_call("bench.Echo/Say")
    assert method is not None
    stub = build_stub(
        {"service": "bench.Echo", "method": "Say", "output": {"data": {"text": "pong", "n": 1}}},
        method,
        registry,
        is_global=True,
    )
    mock = EmbeddedMock(registry, global_stubs=[stub])
    await mock.start()
    ids = [f"scenario-{n}-0123456789ab" for n in range(sessions)]
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    async with aio.insecure_channel(mock.address) as channel:
        say = channel.unary_unary("/bench.Echo/Say")
        queue = iter(ids)

        async def worker() -> None:
            for session_id in queue:
                await mock.open_session(session_id, {})
                header = (("x-mock-session", session_id),)
                for n in range(calls):
                    await say(message(f"ping {session_id} {n}"), metadata=header, timeout=10)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    made = time.perf_counter() - started
    gc.collect()
    after_calls = rss_mb()
    events = 0
    for session_id in ids:
        answered = await mock.calls(session_id)
        assert len(answered) == calls, (session_id, len(answered))
        events += len(await mock.hub.events(session_id))
    gc.collect()
    after_reads = rss_mb()
    total = sessions * calls
    print(f"{sessions} live sessions x {calls} calls = {total} mock_call events ({made:.1f} s)")
    print(f"resident before the sessions:        {before:7.1f} MB")
    print(f"resident once every call was made:   {after_calls:7.1f} MB")
    print(f"resident once every session was read: {after_reads:7.1f} MB ({events} events)")
    print(
        f"per event, every session read: {(after_reads - before) * 1024 * 1024 / total:,.0f} bytes"
    )
    print(f"resident, every session read: {after_reads:.1f} MB  (target <= {TARGET_MB:g} MB)")
    await mock.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(command_line())
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        asyncio.run(run(args.sessions, args.calls, args.concurrency, Path(folder)))


if __name__ == "__main__":
    main()
