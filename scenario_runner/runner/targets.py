"""Where a step's call goes: the mock, a named target, a started service, or ``host:port``.

A target is an address and, for TLS, the files to trust and to present. ``grpcs://HOST:PORT``
asks for TLS (the system's roots unless a CA is given); ``HOST:PORT`` or ``grpc://HOST:PORT``
is plaintext. Channels are opened once per run and shared by every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc import aio

from ..errors import ConfigError, Location

SECURE_SCHEME = "grpcs://"
PLAIN_SCHEME = "grpc://"


@dataclass(frozen=True)
class TlsSettings:
    """Client-side TLS: ``ca`` to trust (default: the system's roots), ``cert`` + ``key`` to
    present (mutual TLS), ``server_name`` to expect in the server's certificate."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None

    def credentials(self, where: str) -> grpc.ChannelCredentials:
        if (self.cert is None) != (self.key is None):
            raise ConfigError(f"{where}: tls needs both `cert` and `key` for mutual TLS")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, where, "ca"),
            private_key=_read(self.key, where, "key"),
            certificate_chain=_read(self.cert, where, "cert"),
        )

    def options(self) -> list[tuple[str, str]]:
        if self.server_name:
            return [("grpc.ssl_target_name_override", self.server_name)]
        return []


def _read(path: Path | None, where: str, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read tls {what} {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class Target:
    """A name a step's ``target:`` can use."""

    name: str
    address: str  # host:port
    tls: TlsSettings | None = None
    where: Location | None = None  # where it was declared (config file), for messages
    # Where this process connects when that is not ``address``: the embedded mock's local
    # socket (the same server, a cheaper way in than TCP).
    dial: str | None = None

    @classmethod
    def parse(
        cls,
        name: str,
        text: str,
        tls: TlsSettings | None = None,
        where: Location | None = None,
    ) -> Target:
        """``host:port``, ``grpc://host:port`` or ``grpcs://host:port`` (TLS)."""
        address = text.strip()
        if address.startswith(SECURE_SCHEME):
            address = address[len(SECURE_SCHEME) :]
            tls = tls or TlsSettings()
        elif address.startswith(PLAIN_SCHEME):
            address = address[len(PLAIN_SCHEME) :]
        host, sep, port = address.rpartition(":")
        if "{{" in address:
            pass  # a template, checked once rendered
        elif not sep or not host or not port.isdigit():
            shown = f"{where}: " if where else ""
            raise ConfigError(
                f"{shown}target {name!r}: expected HOST:PORT or grpcs://HOST:PORT, got {text!r}"
            )
        return cls(name, address, tls, where)

    @property
    def url(self) -> str:
        return f"{SECURE_SCHEME if self.tls else ''}{self.address}"

    @property
    def connects_to(self) -> str:
        """Where this process's channel to the target connects (``dial`` or ``address``)."""
        return self.dial or self.address


def is_address(text: str) -> bool:
    """Whether a step's ``target:`` is an address rather than a name."""
    return ":" in text


class Channels:
    """The run's client channels, one per (where they connect, TLS settings)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, TlsSettings | None], aio.Channel] = {}

    def get(self, target: Target) -> aio.Channel:
        key = (target.connects_to, target.tls)
        channel = self._open.get(key)
        if channel is None:
            channel = open_channel(target)
            self._open[key] = channel
        return channel

    async def close(self) -> None:
        for channel in self._open.values():
            await channel.close()
        self._open.clear()


def open_channel(target: Target) -> aio.Channel:
    if target.tls is None:
        return aio.insecure_channel(target.connects_to)
    credentials = target.tls.credentials(f"target {target.name!r}")
    return aio.secure_channel(target.connects_to, credentials, options=target.tls.options())
