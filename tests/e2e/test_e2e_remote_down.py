"""``--remote`` against a server that is not there: exit 2, one clear line, a valid report."""

from __future__ import annotations

import socket

from e2e_support import Project

PASSING = """
name: passes
stubs:
  - service: helloworld.Greeter
    method: SayHello
    output: {data: {message: hi}}
steps:
  - call: helloworld.Greeter/SayHello
    expect: {response: {message: hi}}
"""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_remote_mock_that_is_down_is_exit_2(project: Project) -> None:
    project.write("scenarios/a.yaml", PASSING)
    port = closed_port()
    result = project.run(
        "scenarios", "--remote", "127.0.0.1:1", "--admin", f"http://127.0.0.1:{port}"
    )
    assert result.code == 2, result.output
    assert f"the remote mock's admin API at http://127.0.0.1:{port} does not answer" in (
        result.stderr
    )
    assert "is `scenario-run serve` running there?" in result.stderr
    assert result.outcomes == {"run could not start": "error"}


def test_remote_options_are_checked(project: Project) -> None:
    project.write("scenarios/a.yaml", PASSING)
    assert "--admin needs --remote" in project.run("--admin", "http://x:1").stderr
    assert "--remote expects HOST:PORT" in project.run("--remote", "nowhere").stderr
    bad_url = project.run("--remote", "h:1", "--admin", "ftp://h")
    assert bad_url.code == 2 and "--admin expects an http:// or https:// URL" in bad_url.stderr
