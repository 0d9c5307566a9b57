"""What every scenario of a run shares: protos, templates, the mock, targets, options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grpc import aio

from ..mock.backend import MockBackend
from ..protos import ProtoRegistry
from ..templating import Templates
from .services import RunningService, Services
from .targets import Channels, Target, is_address

DEFAULT_SCENARIO_TIMEOUT = 120.0
MOCK_TARGET = "mock"


@dataclass(frozen=True)
class RunOptions:
    vars: Mapping[str, Any] = field(default_factory=dict)  # --var / --vars-file
    targets: Mapping[str, Target] = field(default_factory=dict)  # names a step's target uses
    workers: int = 16
    fail_fast: bool = False
    keep_sessions: bool = False  # --sessions-db: keep every session's record
    default_timeout: float = DEFAULT_SCENARIO_TIMEOUT


class RunContext:
    def __init__(
        self,
        registry: ProtoRegistry,
        mock: MockBackend,
        options: RunOptions,
        templates: Templates | None = None,
        services: Services | None = None,
    ) -> None:
        self.registry = registry
        self.mock = mock
        self.options = options
        self.templates = templates or Templates()
        self.services = services
        self.env = dict(os.environ)
        self.mock_target = Target(MOCK_TARGET, mock.address, dial=mock.local_address)
        self._channels = Channels()

    def target(self, name: str) -> Target | None:
        """``mock``, a target or service name, or ``host:port`` / ``grpcs://host:port`` as it
        is; None for a name nobody declared."""
        if name == MOCK_TARGET:
            return self.mock_target
        known = self.options.targets.get(name)
        if known is not None:
            return known
        return Target.parse(name, name) if is_address(name) else None

    def service(self, name: str) -> RunningService | None:
        """The started service behind a target name, if it is one."""
        return self.services.get(name) if self.services is not None else None

    def channel(self, target: Target) -> aio.Channel:
        return self._channels.get(target)

    async def close(self) -> None:
        await self._channels.close()
