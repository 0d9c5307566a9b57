"""Run options: command line over ``scenario-run.yaml`` over defaults. Frozen once built."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, Location

CONFIG_FILE = "scenario-run.yaml"


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
    targets: Mapping[str, str] = field(default_factory=dict)
    stubs: tuple[Path, ...] = ()
    sessions_db: Path | None = None
    verbosity: int = 0
    cache_dir: Path | None = Path(".scenario-run/cache")


# Keys of scenario-run.yaml (either spelling) → Options fields.
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
    "cache_dir": "cache_dir",
}


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of ``scenario-run.yaml`` keyed by option name; {} when there is none."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = Location(str(path), mark.line + 1, mark.column + 1) if mark else Location(str(path))
        raise ConfigError(f"invalid YAML: {exc.problem}", location=where) from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of option: value", location=Location(str(path), 1, 1))
    settings: dict[str, Any] = {}
    for key, value in data.items():
        name = _CONFIG_KEYS.get(str(key).replace("-", "_"))
        if name is None:
            known = ", ".join(sorted({k.replace("_", "-") for k in _CONFIG_KEYS}))
            raise ConfigError(
                f"unknown option {key!r} (options: {known})", location=Location(str(path))
            )
        settings[name] = value
    return settings


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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"--vars-file: cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"--vars-file {path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"--vars-file {path}: expected a mapping of name: value")
    return data


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_options(cli: Mapping[str, Any], config: Mapping[str, Any]) -> Options:
    """Merge: a command-line value wins over the file's; unset values keep the defaults."""

    def pick(name: str) -> Any:
        value = cli.get(name)
        if value not in (None, [], ()):
            return value
        return config.get(name)

    values: dict[str, Any] = {}
    for name in ("paths", "protos", "import_paths", "stubs"):
        items = _as_list(pick(name))
        if items:
            values[name] = tuple(Path(str(p)) for p in items)
    for name in ("junit_xml", "sessions_db", "cache_dir"):
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
    for name in ("tags", "skip_tags"):
        values[name] = tuple(str(t) for t in _as_list(pick(name)))
    values["fail_fast"] = bool(cli.get("fail_fast") or config.get("fail_fast"))
    variables: dict[str, Any] = {}
    for source in (config, cli):  # file first, then the command line on top
        if source.get("vars_file"):
            variables.update(read_vars_file(Path(str(source["vars_file"]))))
        raw = source.get("vars")
        if isinstance(raw, Mapping):
            variables.update(raw)
        elif raw:
            variables.update(parse_pairs(_as_list(raw), "--var"))
    values["vars"] = variables
    targets: dict[str, str] = {}
    for source in (config, cli):
        raw = source.get("targets")
        if isinstance(raw, Mapping):
            targets.update({str(k): str(v) for k, v in raw.items()})
        elif raw:
            targets.update(parse_pairs(_as_list(raw), "--target"))
    values["targets"] = targets
    quiet = cli.get("quiet") or config.get("quiet")
    verbose = cli.get("verbose") or config.get("verbose")
    values["verbosity"] = -1 if quiet else (1 if verbose else 0)
    if os.environ.get("SCENARIO_RUN_NO_CACHE"):
        values["cache_dir"] = None
    known = {f.name for f in fields(Options)}
    return Options(**{k: v for k, v in values.items() if k in known})
