"""Databases two Open WebUI processes can share, for the quota end-to-end test.

`SQLite` is one file both processes open through `DATABASE_URL`. `PostgreSQL` is
a private server from Debian's packages (`/usr/lib/postgresql/<version>/bin`),
started for the test: its own data directory, 127.0.0.1 on a free port, its unix
socket in the same temporary directory, trust authentication, fsync off.

initdb and postgres refuse to run as root; under root (the test command's
container, CI) they run as the `postgres` system user, in a directory under /tmp
that user owns (pytest's own tmp dirs are 0700 root, closed to it).

Both offer `url` (what Open WebUI's `DATABASE_URL` gets) and `query(sql, params)`
(rows as tuples, `?` placeholders), which the test uses to read the ledger table
behind Open WebUI's back.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from scripts.owui.process import free_port

PG_USER = "postgres"
PG_DATABASE = "openwebui"


class SQLite:
    """One database file, shared by every process given `url`."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path.resolve()}"  # four slashes: absolute path

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.path, timeout=30) as connection:
            return connection.execute(sql, params).fetchall()

    def stop(self) -> None:
        pass


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (with initdb), or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: (
            int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0
        ),
    )
    return found[-1].parent if found else None


class PostgreSQLError(RuntimeError):
    """initdb or the server failed; the message holds the command's output."""


class PostgreSQL:
    """A private PostgreSQL server; `start()` it, `stop()` it (removes its files)."""

    name = "postgresql"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def start(self) -> PostgreSQL:
        self.root = Path(tempfile.mkdtemp(prefix="openwebui-pg-"))
        (self.root / "socket").mkdir()
        if os.geteuid() == 0:  # initdb refuses root: the files belong to postgres
            account = pwd.getpwnam(PG_USER)
            for path in (self.root, self.root / "socket"):
                os.chown(path, account.pw_uid, account.pw_gid)
        try:
            self._run(
                "initdb",
                *("-D", str(self.root / "data"), "-U", PG_USER, "-A", "trust"),
                *("-E", "UTF8", "--no-locale"),
            )
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-k {self.root / 'socket'} -c fsync=off -c max_connections=200"
            )
            self._run(
                "pg_ctl",
                *("start", "-w", "-t", "60", "-D", str(self.root / "data")),
                *("-l", str(self.log_path), "-o", options),
            )
            self.query(f"CREATE DATABASE {PG_DATABASE}", database="postgres")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            self._run(
                "pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.root / "data")
            )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def query(
        self, sql: str, params: tuple = (), database: str = PG_DATABASE
    ) -> list[tuple]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=PG_USER,
            dbname=database,
            autocommit=True,
        ) as connection:
            cursor = connection.execute(sql.replace("?", "%s"), params or None)
            return cursor.fetchall() if cursor.description else []

    def _run(self, program: str, *args: str) -> Any:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_USER, "--", *command]
        result = subprocess.run(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = ""
            if self.root is not None and self.log_path.exists():
                log = self.log_path.read_text(errors="replace")[-3000:]
            raise PostgreSQLError(
                f"{' '.join(command)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{log}"
            )
        return result
