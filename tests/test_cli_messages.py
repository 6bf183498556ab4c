"""The command line says one right thing: `verify` on a database without pgqtop says to
install it (not also to upgrade), and an address that answers with something other than
PostgreSQL is reported as unreachable at host:port, not as a malformed connection string."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pgqtop.config import ObjectNames
from tests.test_cli_admin import cli


def test_verify_on_a_database_without_pgqtop_says_install_only(
    capsys: pytest.CaptureFixture[str], dsn: str
) -> None:
    code, out, err = cli(capsys, "verify", "--dsn", dsn, "--prefix", "tnothinghere")
    assert code == 1
    assert "not installed" in out and "run `pgqtop install`" in out
    assert "upgrade" not in err + out


def test_verify_on_an_installed_schema_still_passes(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, _, err = cli(capsys, "verify", "--dsn", dsn, "--prefix", names.prefix)
    assert code == 0, err


@pytest.fixture
def not_postgres() -> Iterator[int]:
    """A port that answers like a web server: whatever it is, it is not PostgreSQL."""
    server = socket.create_server(("127.0.0.1", 0))
    port: int = server.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    yield port
    server.close()


def test_an_address_without_postgresql_is_unreachable_not_malformed(
    capsys: pytest.CaptureFixture[str], not_postgres: int
) -> None:
    dsn = f"postgresql://ops:s3cret-pw@127.0.0.1:{not_postgres}/db"
    code, _, err = cli(capsys, "status", "--dsn", dsn)
    assert code != 0
    line = err.strip()
    assert f"127.0.0.1:{not_postgres} is unreachable" in line, line
    assert "malformed" not in line and "s3cret-pw" not in line
    assert len(line.splitlines()) == 1
