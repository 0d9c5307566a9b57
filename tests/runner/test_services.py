"""Services the runner starts: their environment and what is said when one dies."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from scenario_runner.engine import FreePorts
from scenario_runner.errors import StartupError
from scenario_runner.runner.services import (
    MOCK_ADDRESS_ENV,
    Services,
    ServiceSpec,
    service_environment,
)


def test_the_environment_is_the_runners_plus_the_mock_and_the_services_own() -> None:
    env = service_environment({"PORT": "1", MOCK_ADDRESS_ENV: "overridden:2"}, "127.0.0.1:9")
    assert env["PORT"] == "1"
    assert env[MOCK_ADDRESS_ENV] == "overridden:2"  # the service's own env wins
    assert env["HOME"] == os.environ["HOME"]
    assert env["PYTHONUNBUFFERED"] == "1"
    if sys.prefix != sys.base_prefix:  # as if the runner's virtualenv were activated
        assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
        assert env["VIRTUAL_ENV"] == sys.prefix


def test_free_ports_are_the_same_for_the_same_name() -> None:
    ports = FreePorts()
    assert ports("a") == ports("a")
    assert ports("a") != ports("b")
    assert 0 < ports("b") < 65536


async def test_a_command_that_does_not_exist_is_a_startup_error(tmp_path: Path) -> None:
    spec = ServiceSpec("ghost", ("/nonexistent/binary", "--x"), tmp_path)
    services = Services([spec], tmp_path / "logs", "127.0.0.1:1")
    with pytest.raises(StartupError, match=r"service ghost: cannot start .*nonexistent"):
        await services.start()
    assert services.running == {}


async def test_a_command_the_system_cannot_take_is_a_startup_error(tmp_path: Path) -> None:
    spec = ServiceSpec("nul", (sys.executable, "-c", "print(1)\0"), tmp_path)
    services = Services([spec], tmp_path / "logs", "127.0.0.1:1")
    with pytest.raises(StartupError, match=r"service nul: cannot start .*null byte"):
        await services.start()
    assert services.running == {}


async def test_stop_ends_a_service_that_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    spec = ServiceSpec("stubborn", (sys.executable, "-c", code), tmp_path, stop_timeout=0.3)
    services = Services([spec], tmp_path / "logs", "127.0.0.1:1")
    await services.start()
    service = services.running["stubborn"]
    await asyncio.sleep(0.3)
    assert service.exit_code is None
    await services.stop()
    assert service.exit_code is not None and service.exit_code < 0
    assert "was killed by SIGKILL" in service.exit_text()
    assert service.last_lines() == "up"
