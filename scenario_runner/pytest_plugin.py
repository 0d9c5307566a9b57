"""The pytest plugin: a ``mock_server`` fixture, one mock session per test.

One mock per test process (embedded, or the running ``serve`` given by
``scenario_run_remote`` / ``--scenario-run-remote``), one session per test named after the
test's node id. Safe under pytest-xdist: every worker has its own embedded mock, or its own
sessions on the shared remote one.

Settings (``pytest.ini`` / ``[tool.pytest.ini_options]``, or the command line, which wins):

    scenario_run_protos        = protos            --scenario-run-protos DIR
    scenario_run_import_paths  = third_party       --scenario-run-import-path DIR
    scenario_run_stubs         = stubs             --scenario-run-stubs DIR
    scenario_run_remote        = localhost:4770    --scenario-run-remote HOST:PORT
    scenario_run_admin         = http://localhost:4771   --scenario-run-admin URL
    scenario_run_ttl           = 60s               --scenario-run-ttl DURATION
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the SDK (and gRPC) is imported only when a test uses the fixture
    from .sdk import Mock, MockHost

# (setting, ini type, command-line flag, help)
_SETTINGS = (
    ("protos", "linelist", "--scenario-run-protos", "where the .proto files are (default: protos)"),
    ("import_paths", "linelist", "--scenario-run-import-path", "an extra proto import root"),
    ("stubs", "string", "--scenario-run-stubs", "a folder of GripMock stubs for every test"),
    ("remote", "string", "--scenario-run-remote", "HOST:PORT of a running `scenario-run serve`"),
    ("admin", "string", "--scenario-run-admin", "its admin API URL (default: http://HOST:4771)"),
    ("ttl", "string", "--scenario-run-ttl", "how long the server keeps an idle session (60s)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scenario-run", "scenario-run mock server")
    for name, kind, flag, text in _SETTINGS:
        parser.addini(f"scenario_run_{name}", text, type=kind)  # type: ignore[arg-type]
        action = "append" if kind == "linelist" else "store"
        group.addoption(flag, dest=f"scenario_run_{name}", action=action, help=text)


def _setting(config: pytest.Config, name: str) -> Any:
    given = config.getoption(f"scenario_run_{name}")
    if given:
        return given
    value = config.getini(f"scenario_run_{name}")
    if isinstance(value, list):
        return [str(config.rootpath / item) for item in value] or None
    return value or None


@pytest.fixture(scope="session")
def scenario_run_host(pytestconfig: pytest.Config) -> Iterator[MockHost]:
    """The one mock of this test process (see the module's docstring for its settings)."""
    from .durations import parse_duration
    from .sdk import MockHost, SdkError

    stubs = _setting(pytestconfig, "stubs")
    problem = None
    try:
        host = MockHost(
            protos=_setting(pytestconfig, "protos") or ["protos"],
            import_paths=_setting(pytestconfig, "import_paths") or [],
            stubs=Path(str(stubs)) if stubs else None,
            remote=_setting(pytestconfig, "remote"),
            admin=_setting(pytestconfig, "admin"),
        )
    except SdkError as exc:
        problem = str(exc)
    if problem is not None:  # the settings are wrong: say so, without a traceback
        pytest.fail(f"scenario-run mock_server: {problem}", pytrace=False)
    ttl = _setting(pytestconfig, "ttl")
    host.default_ttl = parse_duration(ttl) if ttl else 60.0
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def mock_server(scenario_run_host: MockHost, request: pytest.FixtureRequest) -> Iterator[Mock]:
    """This test's mock session: its stubs answer only this test; removed after it."""
    from .ids import random_hex
    from .templating import slugify

    name = f"{slugify(request.node.nodeid)[:80]}-{random_hex(6)}"
    with scenario_run_host.session(name, scenario_run_host.default_ttl) as mock:
        yield mock
