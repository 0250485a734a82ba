"""A throw-away PostgreSQL server for the distributed-search tests.

`postgres_url` (session fixture) runs initdb into a temporary folder, starts the server with
pg_ctl on a free loopback port (its unix socket in the same folder, nothing system-wide), creates
a database, yields a SQLAlchemy URL and stops the server at the end.

initdb and postgres refuse to run as root, so as root (this machine, some CI runners) they run as
the unprivileged user `nobody` through runuser (or su), with the folder handed to that user.
Without the server binaries the tests skip, unless DLA_EXPLORER_REQUIRE_POSTGRES=1 (CI) makes
that a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

RUN_AS = "nobody"


def find_bin() -> Path | None:
    """The folder of initdb/pg_ctl: on PATH or in /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", RUN_AS, "--", *argv]
    return ["su", RUN_AS, "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="dla-pg-"))
        self.data, self.port = self.root / "data", _free_port()
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            _as_user([str(self.bindir / argv[0]), *argv[1:]]),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )
        if result.returncode:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()} {tail}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=50"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "dla")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/dla"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def require_bin() -> Path:
    """The server binaries' folder; skips the test without them, or fails it when required."""
    bindir = find_bin()
    if bindir is None:
        message = (
            "PostgreSQL server binaries not found (initdb on PATH or "
            "/usr/lib/postgresql/*/bin); install the 'postgresql' package"
        )
        if os.environ.get("DLA_EXPLORER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (DLA_EXPLORER_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    return bindir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    server = PostgresServer(require_bin())
    try:
        yield server.start()
    finally:
        server.stop()
