"""What every scenario of a run shares: protos, templates, the mock, channels, options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grpc import aio

from ..mock.hub import SessionHub
from ..mock.server import MockServer
from ..protos import ProtoRegistry
from ..templating import Templates

DEFAULT_SCENARIO_TIMEOUT = 120.0


@dataclass(frozen=True)
class RunOptions:
    vars: Mapping[str, Any] = field(default_factory=dict)  # --var / --vars-file
    targets: Mapping[str, str] = field(default_factory=dict)  # --target NAME=HOST:PORT
    workers: int = 16
    fail_fast: bool = False
    keep_sessions: bool = False  # --sessions-db: keep every session's record
    default_timeout: float = DEFAULT_SCENARIO_TIMEOUT


class RunContext:
    def __init__(
        self,
        registry: ProtoRegistry,
        mock: MockServer,
        options: RunOptions,
        templates: Templates | None = None,
    ) -> None:
        self.registry = registry
        self.mock = mock
        self.options = options
        self.templates = templates or mock.templates
        self.env = dict(os.environ)
        self._channels: dict[str, aio.Channel] = {}

    @property
    def hub(self) -> SessionHub:
        return self.mock.hub

    def address(self, target: str) -> str:
        """``mock``, a ``--target`` name, or ``host:port`` as it is."""
        if target == "mock":
            return f"127.0.0.1:{self.mock.port}"
        return self.options.targets.get(target, target)

    def channel(self, address: str) -> aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = aio.insecure_channel(address)
            self._channels[address] = channel
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
