"""Property tests: any scenario-run.yaml is read into options or refused with a
``ConfigError`` (exit 2 with one message), never anything else."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_runner.config import build_options, read_config_file
from scenario_runner.errors import ConfigError

KEYS = [
    "protos", "import-path", "junit-xml", "workers", "tag", "skip-tag", "shard", "fail-fast",
    "vars", "vars-file", "targets", "target", "stubs", "sessions-db", "mock-listen",
    "services", "remote", "admin", "command", "address", "ready", "startup-timeout",
    "stop-timeout", "env", "cwd", "tls", "ca", "cert", "key", "server-name", "quiet",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.text(max_size=10)
    | st.sampled_from(
        ["127.0.0.1:0", "localhost:1", "grpcs://h:1", "1/2", "3/2", "1s", "health", "port", "x"]
    )
)
values = st.recursive(
    scalars,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), c, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=5))
def test_any_config_is_options_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any]
) -> None:
    path = tmp_path_factory.mktemp("config") / "scenario-run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    try:
        options = build_options({}, read_config_file(path))
    except ConfigError as problem:
        assert problem.message
    else:
        assert options.workers >= 1
