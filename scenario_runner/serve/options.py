"""``scenario-run serve`` options: the command line, checked and frozen."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..config import CONFIG_FILE, ConfigFile, as_list, read_config_file
from ..durations import parse_duration
from ..errors import ConfigError

DEFAULT_GRPC = "127.0.0.1:4770"
DEFAULT_HTTP = "127.0.0.1:4771"
DEFAULT_SESSION_TTL = 60.0
TOKEN_ENV = "SCENARIO_RUN_ADMIN_TOKEN"


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, option: str) -> Address:
        """``HOST:PORT`` (``[::1]:4770`` for IPv6); ``ConfigError`` naming the option."""
        host, sep, port_text = text.strip().rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
            raise ConfigError(f"{option} expects HOST:PORT (e.g. 127.0.0.1:4770), got {text!r}")
        return cls(host, int(port_text))

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def show(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port if port is None else port}"


@dataclass(frozen=True)
class ServeOptions:
    grpc: Address
    http: Address
    protos: tuple[Path, ...]
    import_paths: tuple[Path, ...]
    stubs: tuple[Path, ...]
    session_ttl: float  # seconds; 0: sessions never expire
    store: str  # "memory", "sqlite:///FILE" or "postgresql://USER@HOST:PORT/DB"
    cache_dir: Path | None = Path(".scenario-run/cache")
    workers: int = 1  # processes sharing the ports and the store
    admin_token: str | None = None  # the bearer token the admin API asks for (None: none)
    reuse_port: bool = False  # bind with SO_REUSEPORT (the ports are shared)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # bad options: exit 2, as every command
        self.print_usage(sys.stderr)
        raise ConfigError(message)


def parse_options(args: Sequence[str]) -> ServeOptions:
    parser = _Parser(
        prog="scenario-run serve",
        description="A standalone gRPC mock server shared by many test processes, each "
        "isolated by its session, with GripMock's HTTP admin API.",
    )
    # No defaults here: a value not given comes from scenario-run.yaml, then from DEFAULTS.
    parser.add_argument("--grpc", metavar="HOST:PORT", help=f"default: {DEFAULT_GRPC}")
    parser.add_argument("--http", metavar="HOST:PORT", help=f"default: {DEFAULT_HTTP}")
    parser.add_argument("--protos", action="append", metavar="DIR|FILE", help="default: protos/")
    parser.add_argument("-I", "--import-path", dest="import_paths", action="append", metavar="DIR")
    parser.add_argument("--stubs", action="append", metavar="DIR", help="global GripMock stubs")
    parser.add_argument("--session-ttl", metavar="DURATION", help="default: 60s; 0: never")
    parser.add_argument(
        "--store",
        metavar="memory|sqlite:///FILE|postgresql://USER@HOST:PORT/DB",
        help="default: memory",
    )
    parser.add_argument(
        "--workers", metavar="N", help="processes sharing the ports and the store (default: 1)"
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get(TOKEN_ENV) or None,
        metavar="TOKEN",
        help=f"the admin API asks for 'Authorization: Bearer TOKEN' (default: ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        default=None,
        help="bind both ports with SO_REUSEPORT, so several serve processes share them",
    )
    parser.add_argument("--version", action="version", version=f"scenario-run {__version__}")
    namespace = parser.parse_args(list(args))
    return build(with_config(vars(namespace), read_config_file(Path(CONFIG_FILE))))


DEFAULTS: dict[str, Any] = {
    "grpc": DEFAULT_GRPC,
    "http": DEFAULT_HTTP,
    "session_ttl": "60s",
    "store": "memory",
    "workers": "1",
}
# scenario-run.yaml: what its `serve:` section may set (either spelling), and the top-level
# keys serve shares with a run.
_SERVE_KEYS = ("grpc", "http", "session_ttl", "store", "workers", "reuse_port")
_SHARED_KEYS = ("protos", "import_paths", "stubs")


def with_config(given: dict[str, Any], config: ConfigFile) -> dict[str, Any]:
    """The command line over ``scenario-run.yaml`` over :data:`DEFAULTS`."""
    section = config.get("serve") or {}
    from_file = {key.replace("-", "_"): value for key, value in section.items()}
    merged = dict(given)
    for key in _SERVE_KEYS:  # the schema has checked the file's types
        if merged.get(key) is None:
            merged[key] = from_file.get(key, DEFAULTS.get(key))
    for key in _SHARED_KEYS:
        if not merged.get(key):
            merged[key] = [str(item) for item in as_list(config.get(key))]
    return merged


def build(values: dict[str, Any]) -> ServeOptions:
    try:
        ttl = parse_duration(values["session_ttl"])
    except ValueError as exc:
        raise ConfigError(f"--session-ttl: {exc}") from exc
    http = Address.parse(values["http"], "--http")
    token = values.get("admin_token") or None
    if not http.is_loopback and not token:
        raise ConfigError(
            f"--http {values['http']}: an admin API beyond loopback needs --admin-token TOKEN "
            f"(or ${TOKEN_ENV})"
        )
    store = str(values["store"])
    check_store(store)
    workers_text = str(values.get("workers") or "1")
    if not workers_text.isdigit() or int(workers_text) < 1:
        raise ConfigError(
            f"--workers expects a number of processes (1 or more), got {workers_text!r}"
        )
    workers = int(workers_text)
    if workers > 1 and store == "memory":
        raise ConfigError(
            "--workers N needs a store the processes share: "
            "--store sqlite:///FILE or --store postgresql://USER@HOST:PORT/DB"
        )
    return ServeOptions(
        grpc=Address.parse(values["grpc"], "--grpc"),
        http=http,
        protos=tuple(Path(p) for p in values.get("protos") or ["protos"]),
        import_paths=tuple(Path(p) for p in values.get("import_paths") or ()),
        stubs=tuple(Path(p) for p in values.get("stubs") or ()),
        session_ttl=ttl,
        store=store,
        workers=workers,
        reuse_port=bool(values.get("reuse_port")) or workers > 1,
        admin_token=token,
    )


SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def check_store(store: str) -> None:
    if store == "memory" or (store.startswith(SQLITE_PREFIX) and store[len(SQLITE_PREFIX) :]):
        return
    if store.startswith(POSTGRES_PREFIXES):
        if not store.split("://", 1)[1].strip("/"):
            raise ConfigError(f"--store {store}: expected postgresql://USER@HOST:PORT/DB")
        return
    raise ConfigError(
        f"--store expects memory, sqlite:///FILE or postgresql://USER@HOST:PORT/DB, got {store!r}"
    )


def port_in_use(address: Address, reuse_port: bool = False) -> str | None:
    """Why ``address`` cannot be bound (e.g. the port is in use), or None when it can.

    gRPC prints its own log lines when a bind fails; trying first keeps the message ours.
    """
    if address.port == 0:
        return None
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {address.host!r}: {exc.strerror}"
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def bind_http(address: Address, reuse_port: bool = False) -> socket.socket:
    """The admin API's listening socket (bound here, so a port in use is our message);
    with ``reuse_port``, other processes may listen on the same port (SO_REUSEPORT)."""
    infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(where)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock
