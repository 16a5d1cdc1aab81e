"""A throw-away PostgreSQL 15 cluster on 127.0.0.1 for the store tests (Debian's initdb and
pg_ctl, run as the `postgres` user when the tests run as root: postgres refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("VOICEBOT_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ClusterError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """initdb + pg_ctl start in a temp dir; `database()` makes a fresh empty database."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="voicebot-pg-"))
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        try:
            out = subprocess.run(
                [*self._as, *args], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ClusterError(f"{args[0]}: {e}") from e
        if out.returncode:
            tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
            raise ClusterError(f"{Path(args[0]).name} failed: {' / '.join(tail)}")

    def start(self) -> Cluster:
        if not (PG_BIN / "initdb").is_file():
            raise ClusterError(
                f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing): "
                "run scripts/setup.sh (apt package postgresql)"
            )
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user,
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w",
            "-o", f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F", "start",
        )  # fmt: skip
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def database(self) -> str:
        """A new empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                      "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
