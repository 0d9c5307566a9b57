"""A throwaway PostgreSQL cluster for the tests: ``initdb`` into a temporary folder, started
on a free loopback port with its own unix socket folder, run as a non-root user, always
stopped at the end.

The binaries are looked up on ``PATH``, with ``pg_config --bindir`` and under
``/usr/lib/postgresql/*/bin`` (Debian's layout). ``.ci/run`` installs Debian's
``postgresql`` package when none is found. Where PostgreSQL cannot be found the tests that
need it skip, saying why, except under CI (``CI=true``), where they fail: CI never skips them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "scenario"
START_TIMEOUT = 60


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            if done.returncode == 0 and done.stdout.strip():
                candidates.append(Path(done.stdout.strip()))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(item) for item in found]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _runner() -> tuple[list[str], pwd.struct_passwd | None]:
    """How to run the server's commands: as a non-root user when we are root."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            runuser = shutil.which("runuser")
            if runuser:
                return [runuser, "-u", name, "--"], user
            return ["su", name, "-s", "/bin/sh", "-c"], user  # pragma: no cover
    raise RuntimeError("running as root and no non-root user (postgres, nobody) to run as")


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    prefix: list[str]

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run SQL as the cluster's superuser (over TCP, with psycopg)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    _names = itertools.count(1)

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "immediate") -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]
        subprocess.run(self._wrap(command), capture_output=True, text=True, timeout=60, check=False)

    def restart(self) -> None:
        """Stop the server (its clients' connections drop) and start it again, same port."""
        self.stop("fast")
        self.start()

    def start(self) -> None:
        """Start the (stopped) server again, on the same port and data."""
        _start(self)

    def _wrap(self, command: list[str]) -> list[str]:
        if self.prefix and self.prefix[0] == "su":  # pragma: no cover
            return [*self.prefix, " ".join(command)]
        return [*self.prefix, *command]


def start_cluster() -> Cluster:
    """initdb and start a cluster; RuntimeError saying why when it cannot be done."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL is not installed (no initdb on PATH, from pg_config, or under "
            "/usr/lib/postgresql/*/bin); .ci/run installs Debian's postgresql package"
        )
    prefix, user = _runner()
    root = Path(tempfile.mkdtemp(prefix="scenario-run-pg-"))
    (root / "socket").mkdir()
    if user is not None:
        for path in (root, root / "socket"):
            os.chown(path, user.pw_uid, user.pw_gid)
    cluster = Cluster(bindir, root, free_port(), prefix)
    initdb = [
        str(bindir / "initdb"),
        "-D",
        str(cluster.data),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
    ]
    done = subprocess.run(
        cluster._wrap(initdb), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
    try:
        _start(cluster)
    except RuntimeError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


def _start(cluster: Cluster) -> None:
    root, bindir = cluster.root, cluster.bindir
    options = (
        f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    start = [
        str(bindir / "pg_ctl"),
        "-D",
        str(cluster.data),
        "-o",
        options,
        "-l",
        str(root / "server.log"),
        "-w",
        "-t",
        str(START_TIMEOUT),
        "start",
    ]
    done = subprocess.run(
        cluster._wrap(start),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 30,
        check=False,
        start_new_session=True,  # the server is not in pytest's process group
    )
    if done.returncode != 0:
        log = (
            (root / "server.log").read_text(errors="replace")
            if (root / "server.log").exists()
            else ""
        )
        cluster.stop()
        raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A started cluster, stopped and removed at the end; skips (fails under CI) when
    PostgreSQL is not installed."""
    try:
        cluster = start_cluster()
    except FileNotFoundError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs PostgreSQL: {exc}")
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
