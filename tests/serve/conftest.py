"""Fixtures of the ``scenario-run serve`` tests; the helpers live in ``serve_support.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_support import Client, Served, serving

GLOBAL_STUB_FILE = """\
# A GripMock stub file, as `serve --stubs DIR` loads it.
- id: global-greeting
  service: helloworld.Greeter
  method: SayHello
  input: {equals: {name: everyone}}
  output: {data: {message: "Hello from the global stubs"}}
"""


@pytest.fixture(scope="session")
def serve_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One working directory for every server of the run (its proto cache is shared)."""
    folder = tmp_path_factory.mktemp("serve")
    (folder / "stubs").mkdir()
    (folder / "stubs" / "greeting.yaml").write_text(GLOBAL_STUB_FILE)
    return folder


@pytest.fixture(scope="module")
def server(serve_dir: Path) -> Iterator[Served]:
    """A server shared by one test module: each test uses its own session ids."""
    with serving(serve_dir, "--stubs", str(serve_dir / "stubs")) as served:
        yield served


@pytest.fixture(scope="module")
def http(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def grpc_client(server: Served) -> Iterator[Client]:
    client = Client(server.grpc)
    yield client
    client.close()
