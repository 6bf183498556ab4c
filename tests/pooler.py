"""A throwaway PgBouncer in front of the suite's PostgreSQL, for the tests of pooled connections.

PgBouncer comes from the distribution's package (`.ci/run` installs it when it can); without it
these tests skip and say why. It refuses to run as root, so as root it runs as the `postgres`
system user (or `nobody`) from a temporary directory that user may read. Trust authentication,
one database entry named like the target database, a free port from `tests.ports`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.ports import free_port

START_TIMEOUT = 10.0
PORT_ATTEMPTS = 5


def pgbouncer_binary() -> str | None:
    """Where pgbouncer is installed, or None."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
    )


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return user
    return None


class PgBouncer:
    """One PgBouncer process; `dsn` reaches the target database through it."""

    def __init__(
        self,
        target_dsn: str,
        *,
        mode: str = "transaction",
        pool_size: int = 20,
        ignore_options: bool = False,
        max_client_conn: int = 2000,
    ) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError("pgbouncer is not installed")
        self.binary = binary
        self.target = conninfo_to_dict(target_dsn)
        self.dbname = str(self.target.get("dbname") or "postgres")
        self.user = str(self.target.get("user") or "postgres")
        self.mode = mode
        self.pool_size = pool_size
        self.ignore_options = ignore_options
        self.max_client_conn = max_client_conn
        self.root = Path(tempfile.mkdtemp(prefix="pgqtop-pgbouncer-"))
        self.root.chmod(0o777)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return make_conninfo(
            "", host="127.0.0.1", port=self.port, dbname=self.dbname, user=self.user
        )

    def _config(self) -> Path:
        host = str(self.target.get("host") or "127.0.0.1")
        port = str(self.target.get("port") or "5432")
        server = f"host={host} port={port} dbname={self.dbname} user={self.user}"
        ignored = "extra_float_digits" + (",options" if self.ignore_options else "")
        (self.root / "users.txt").write_text(f'"{self.user}" ""\n')
        config = self.root / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{self.dbname} = {server}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.root / 'users.txt'}\n"
            f"pool_mode = {self.mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            f"max_client_conn = {self.max_client_conn}\n"
            f"ignore_startup_parameters = {ignored}\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
            f"pidfile = {self.root / 'pgbouncer.pid'}\n"
            "server_reset_query = DISCARD ALL\n"
        )
        for path in self.root.iterdir():
            path.chmod(0o666)
        return config

    def start(self) -> None:
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            config = self._config()
            user = _run_as()
            self._process = subprocess.Popen(
                [self.binary, str(config)],
                cwd=self.root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                user=user,
            )
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"pgbouncer did not start: {self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(psycopg.Error):
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # shut down at once, closing every connection
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "pgbouncer.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pgbouncer(
    target_dsn: str, *, mode: str = "transaction", pool_size: int = 20, ignore_options: bool = False
) -> Iterator[PgBouncer]:
    """A started PgBouncer for the block, stopped and deleted afterwards."""
    bouncer = PgBouncer(target_dsn, mode=mode, pool_size=pool_size, ignore_options=ignore_options)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.close()
