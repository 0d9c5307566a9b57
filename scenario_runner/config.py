"""Run options: command line over ``scenario-run.yaml`` over defaults. Frozen once built.

The config file is checked against ``schemas/config.schema.json`` with the same position-aware
messages as scenario files. Values that depend on the running mock (``{{ mock.address }}``
in services, targets and vars) stay templates here; the run engine renders them once the
mock listens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .durations import parse_duration
from .errors import ConfigError, Location, ScenarioFileError
from .runner.select import Shard
from .runner.services import ServiceSpec
from .runner.targets import PLAIN_SCHEME, Target, TlsSettings
from .scenario.schema import validate_config
from .scenario.sourcefile import read_source
from .scenario.yamlsource import PathKey, SourceDocument, load_documents

CONFIG_FILE = "scenario-run.yaml"
DEFAULT_MOCK_LISTEN = "127.0.0.1:0"


def default_workers() -> int:
    return 16


@dataclass(frozen=True)
class Options:
    paths: tuple[Path, ...] = (Path("scenarios"),)
    protos: tuple[Path, ...] = (Path("protos"),)
    import_paths: tuple[Path, ...] = ()
    junit_xml: Path = Path("reports/junit.xml")
    workers: int = field(default_factory=default_workers)
    keyword: str | None = None
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    shard: str | None = None
    fail_fast: bool = False
    vars: Mapping[str, Any] = field(default_factory=dict)
    targets: Mapping[str, Target] = field(default_factory=dict)
    stubs: tuple[Path, ...] = ()
    sessions_db: Path | None = None
    verbosity: int = 0
    cache_dir: Path | None = Path(".scenario-run/cache")
    mock_listen: str = DEFAULT_MOCK_LISTEN
    services: tuple[ServiceSpec, ...] = ()
    remote: str | None = None  # HOST:PORT of a running `serve` (its gRPC side)
    admin: str | None = None  # its admin API, http://HOST:PORT

    @property
    def report_dir(self) -> Path:
        """The JUnit report's folder, where service logs go too."""
        return self.junit_xml.parent


# Keys of scenario-run.yaml (with "-" or "_") → Options fields (or what build_options reads).
_CONFIG_KEYS = {
    "paths": "paths",
    "protos": "protos",
    "import_path": "import_paths",
    "import_paths": "import_paths",
    "junit_xml": "junit_xml",
    "workers": "workers",
    "k": "keyword",
    "keyword": "keyword",
    "tag": "tags",
    "tags": "tags",
    "skip_tag": "skip_tags",
    "skip_tags": "skip_tags",
    "shard": "shard",
    "fail_fast": "fail_fast",
    "var": "vars",
    "vars": "vars",
    "vars_file": "vars_file",
    "target": "targets",
    "targets": "targets",
    "stubs": "stubs",
    "sessions_db": "sessions_db",
    "quiet": "quiet",
    "verbose": "verbose",
    "mock_listen": "mock_listen",
    "services": "services",
    "remote": "remote",
    "admin": "admin",
    "serve": "serve",  # read by `scenario-run serve` (serve/options.py), not by a run
}


@dataclass
class ConfigFile:
    """What ``scenario-run.yaml`` says, keyed by option name, and where it says it."""

    settings: dict[str, Any] = field(default_factory=dict)
    document: SourceDocument | None = None
    folder: Path = Path(".")

    def get(self, name: str) -> Any:
        return self.settings.get(name)

    def locate(self, *path: str | int) -> Location | None:
        """Where the entry at ``path`` is written (its key)."""
        return self.document.locate(path, key=True) if self.document is not None else None


def read_config_file(path: Path) -> ConfigFile:
    """The settings of ``scenario-run.yaml``; empty when there is none."""
    if not path.is_file():
        return ConfigFile()
    shown = str(path)
    try:
        documents = load_documents(read_source(path, shown), shown)
    except ScenarioFileError as exc:
        raise _config_error(exc) from exc
    documents = [d for d in documents if d.value is not None]
    if not documents:
        return ConfigFile(folder=path.parent)
    if len(documents) > 1:
        raise ConfigError("expected one YAML document", location=documents[1].locate(()))
    document = _normalized(documents[0])
    errors = validate_config(document)
    if errors:
        raise _config_error(errors[0])
    settings = {_CONFIG_KEYS[key.replace("-", "_")]: value for key, value in document.value.items()}
    return ConfigFile(settings, document, path.parent)


def _normalized(document: SourceDocument) -> SourceDocument:
    """Top-level keys spelled with ``-`` (``import_path`` → ``import-path``), marks kept."""
    if not isinstance(document.value, dict):
        return document  # the schema says what is wrong
    renamed = {
        (key.replace("_", "-") if isinstance(key, str) else key): value
        for key, value in document.value.items()
    }

    def rekeyed(marks: dict[PathKey, tuple[int, int]]) -> dict[PathKey, tuple[int, int]]:
        return {
            (
                (path[0].replace("_", "-"), *path[1:])
                if path and isinstance(path[0], str)
                else path
            ): mark
            for path, mark in marks.items()
        }

    return SourceDocument(
        document.file,
        document.index,
        renamed,
        rekeyed(document.marks),
        document.lines,
        rekeyed(document.key_marks),
    )


def _config_error(error: ScenarioFileError) -> ConfigError:
    return ConfigError(
        error.message, location=error.location, path=error.path, snippet=error.snippet
    )


def parse_pairs(values: Sequence[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` items → dict; ``ConfigError`` naming the bad item."""
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} expects KEY=VALUE, got {item!r}")
        result[key.strip()] = value
    return result


def read_vars_file(path: Path) -> dict[str, Any]:
    """The variables of ``--vars-file`` (one YAML mapping), read as scenario files are."""
    shown = str(path)
    try:
        documents = load_documents(read_source(path, shown), shown)
    except ScenarioFileError as exc:
        raise ConfigError(
            f"--vars-file: {exc.message}", location=exc.location, snippet=exc.snippet
        ) from exc
    values = [d for d in documents if d.value is not None]
    if len(values) > 1:
        raise ConfigError("--vars-file: expected one YAML document", location=values[1].locate(()))
    data = values[0].value if values else {}
    if not isinstance(data, dict):
        where = values[0].locate(()) if values else Location(shown)
        raise ConfigError("--vars-file: expected a mapping of name: value", location=where)
    return data


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_options(cli: Mapping[str, Any], config: ConfigFile | None = None) -> Options:
    """Merge: a command-line value wins over the file's; unset values keep the defaults."""
    config = config or ConfigFile()

    def pick(name: str) -> Any:
        value = cli.get(name)
        if value not in (None, [], ()):
            return value
        return config.get(name)

    values: dict[str, Any] = {}
    for name in ("paths", "protos", "import_paths", "stubs"):
        items = as_list(pick(name))
        if items:
            values[name] = tuple(Path(str(p)) for p in items)
    for name in ("junit_xml", "sessions_db"):
        item = pick(name)
        if item:
            values[name] = Path(str(item))
    workers = pick("workers")
    if workers is not None:
        try:
            values["workers"] = int(workers)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"--workers expects a number, got {workers!r}") from exc
        if values["workers"] < 1:
            raise ConfigError("--workers must be at least 1")
    for name in ("keyword", "shard"):
        if pick(name) is not None:
            values[name] = str(pick(name))
    if "shard" in values:
        Shard.parse(values["shard"])  # a bad --shard is refused by every command
    for name in ("tags", "skip_tags"):
        values[name] = tuple(str(t) for t in as_list(pick(name)))
    values["fail_fast"] = bool(cli.get("fail_fast") or config.get("fail_fast"))
    variables: dict[str, Any] = {}
    for source in (config.settings, cli):  # file first, then the command line on top
        if source.get("vars_file"):
            variables.update(read_vars_file(Path(str(source["vars_file"]))))
        raw = source.get("vars")
        if isinstance(raw, Mapping):
            variables.update(raw)
        elif raw:
            variables.update(parse_pairs(as_list(raw), "--var"))
    values["vars"] = variables
    services = _services(config)
    values["services"] = services
    values["targets"] = _targets(cli, config, services)
    listen = pick("mock_listen")
    if listen:
        values["mock_listen"] = check_listen(str(listen), "--mock-listen")
    values.update(remote_options(pick("remote"), pick("admin")))
    quiet = cli.get("quiet") or config.get("quiet")
    verbose = cli.get("verbose") or config.get("verbose")
    values["verbosity"] = -1 if quiet else (1 if verbose else 0)
    if os.environ.get("SCENARIO_RUN_NO_CACHE"):
        values["cache_dir"] = None
    known = {f.name for f in fields(Options)}
    return Options(**{k: v for k, v in values.items() if k in known})


def check_listen(text: str, what: str) -> str:
    """``HOST:PORT`` to listen on (port 0: any free port); ``ConfigError`` otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{what} expects HOST:PORT (port 0: any free port), got {text!r}")
    return f"{host or '127.0.0.1'}:{port}"


def remote_options(remote: Any, admin: Any) -> dict[str, str]:
    """``--remote HOST:PORT`` and ``--admin URL`` (default: ``http://HOST:4771``)."""
    if not remote:
        if admin:
            raise ConfigError("--admin needs --remote HOST:PORT (the served mock's gRPC side)")
        return {}
    host, sep, port = str(remote).strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--remote expects HOST:PORT, got {remote!r}")
    url = str(admin or f"http://{host}:4771").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--admin expects an http:// or https:// URL, got {admin!r}")
    return {"remote": f"{host}:{port}", "admin": url}


def _targets(
    cli: Mapping[str, Any], config: ConfigFile, services: Sequence[ServiceSpec]
) -> dict[str, Target]:
    """Config targets, then the services' addresses, then ``--target`` (which wins)."""
    merged: dict[str, Target] = {}
    raw = config.get("targets")
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            where = config.locate("targets", name)
            if isinstance(value, Mapping):
                tls = _tls(value.get("tls"), config.folder)
                merged[str(name)] = Target.parse(str(name), str(value["address"]), tls, where)
            else:
                merged[str(name)] = Target.parse(str(name), str(value), None, where)
    elif raw:
        for name, text in parse_pairs(as_list(raw), "targets").items():
            merged[name] = Target.parse(name, text, None, config.locate("targets"))
    for service in services:
        target = service.target
        if target is None:
            continue
        if service.name in merged or service.name == "mock":
            raise ConfigError(
                f"service {service.name!r} has the name of a target: a step's `target:` "
                "could not tell them apart",
                location=service.where,
            )
        merged[service.name] = target
    for name, text in parse_pairs(as_list(cli.get("targets")), "--target").items():
        # A new address for a target the file declares with TLS keeps its TLS settings,
        # unless it says grpc:// (plaintext) outright.
        before = merged.get(name)
        target = Target.parse(name, text)
        if before is not None and before.tls is not None and not text.startswith(PLAIN_SCHEME):
            target = Target(name, target.address, before.tls, before.where)
        merged[name] = target
    if "mock" in merged:
        raise ConfigError("'mock' is the embedded mock's own name; give the target another name")
    return merged


def _tls(raw: Any, folder: Path) -> TlsSettings | None:
    if not isinstance(raw, Mapping):
        return None

    def path(key: str) -> Path | None:
        value = raw.get(key)
        return folder / str(value) if value else None

    server_name = raw.get("server-name", raw.get("server_name"))
    return TlsSettings(path("ca"), path("cert"), path("key"), server_name or None)


def _services(config: ConfigFile) -> tuple[ServiceSpec, ...]:
    raw = config.get("services")
    if not isinstance(raw, Mapping):
        return ()
    specs = []
    for name, entry in raw.items():

        def get(key: str, entry: Mapping[str, Any] = entry) -> Any:
            return entry.get(key, entry.get(key.replace("-", "_")))

        where = config.locate("services", name)
        command = get("command")
        argv: str | tuple[str, ...] = (
            command if isinstance(command, str) else tuple(str(part) for part in command)
        )
        address = get("address")
        ready = get("ready") or ("port" if address else "none")
        if ready != "none" and not address:
            raise ConfigError(
                f"service {name!r}: `ready: {ready}` needs the `address` it serves on",
                location=where,
            )
        specs.append(
            ServiceSpec(
                name=str(name),
                command=argv,
                cwd=config.folder / str(get("cwd") or "."),
                env=_service_env(config, str(name), get("env") or {}),
                address=str(address) if address else None,
                ready=str(ready),
                startup_timeout=_seconds(get("startup-timeout"), 30.0),
                stop_timeout=_seconds(get("stop-timeout"), 5.0),
                tls=_tls(get("tls"), config.folder),
                where=where,
            )
        )
    return tuple(specs)


def _service_env(config: ConfigFile, service: str, raw: Mapping[Any, Any]) -> dict[str, str]:
    """A service's ``env`` as text; ``ConfigError`` at a name or value no process can be
    given (the operating system refuses them when the service starts)."""
    env: dict[str, str] = {}
    for key, value in raw.items():
        name, text = str(key), _env_text(value)
        problem = None
        if not name:
            problem = "a variable needs a name"
        elif "=" in name:
            problem = "a variable's name cannot hold '='"
        elif "\0" in name or "\0" in text:
            problem = "a variable cannot hold a NUL character"
        if problem:
            message = f"service {service!r}: env {name!r}: {problem}"
            if config.document is None:
                raise ConfigError(message)
            path = ("services", service, "env", key)
            raise _config_error(config.document.error(message, path, key=True))
        env[name] = text
    return env


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _seconds(value: Any, default: float) -> float:
    return default if value is None else parse_duration(value)
