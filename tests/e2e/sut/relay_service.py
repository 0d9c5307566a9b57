"""A system under test for the end-to-end tests: Front.Ask asks Back.Lookup (the mock).

It forwards the caller's ``x-mock-session`` to Back, as a service under test should. Flags:
``--port N`` (required), ``--health`` (serve grpc.health.v1), ``--fail-at-start CODE``
(print a line and exit), ``--pid-file F``, ``--back ADDR`` (default: $BACK_ADDR, else
$SCENARIO_RUN_MOCK_ADDRESS).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from concurrent import futures
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "protos"))
protos, services = grpc.protos_and_services("relay/relay.proto")

FORWARDED = ("x-mock-session", "x-gripmock-session")


class Front(services.FrontServicer):  # type: ignore[name-defined,misc]
    def __init__(self, back: str) -> None:
        self.back = back
        self.stub = services.BackStub(grpc.insecure_channel(back))

    def Ask(self, request, context):
        if request.exit_code:
            print(f"relay: exiting with code {request.exit_code} as asked", flush=True)
            os._exit(request.exit_code)
        metadata = [(k, v) for k, v in context.invocation_metadata() if k in FORWARDED]
        session = dict(metadata).get("x-mock-session", "")
        try:
            answer = self.stub.Lookup(request, metadata=metadata, timeout=5)
        except grpc.RpcError as exc:
            context.abort(exc.code(), f"Back.Lookup failed: {exc.details()}")
        return protos.Answer(text=answer.text, session=session, mock_address=self.back)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--health", action="store_true")
    parser.add_argument("--fail-at-start", type=int, default=0)
    parser.add_argument("--pid-file")
    parser.add_argument("--back")
    args = parser.parse_args()
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    if args.fail_at_start:
        print("relay: cannot start: the configuration is broken", flush=True)
        sys.exit(args.fail_at_start)
    back = args.back or os.environ.get("BACK_ADDR") or os.environ["SCENARIO_RUN_MOCK_ADDRESS"]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    services.add_FrontServicer_to_server(Front(back), server)
    if args.health:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        checker = health.HealthServicer()
        checker.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"relay: serving on 127.0.0.1:{args.port}, asking {back}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0.5))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
