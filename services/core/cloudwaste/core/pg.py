"""An embedded local PostgreSQL for the demo and the tests: initdb + pg_ctl on loopback.

Uses the server binaries already on the machine (Debian: /usr/lib/postgresql/<v>/bin). PostgreSQL
refuses to run as root, so as root every server command runs as the `postgres` system user
through runuser, and the data and socket folders are handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl: $CLOUDWASTE_PG_BINDIR, PATH, or the newest Debian install."""
    explicit = os.environ.get("CLOUDWASTE_PG_BINDIR")
    candidates = [explicit] if explicit else []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[::-1]
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
        "'postgresql' or set CLOUDWASTE_PG_BINDIR"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """A throw-away cluster in `root` listening on 127.0.0.1:`port`."""

    root: Path
    port: int = 0
    user: str = "cloudwaste"
    database: str = "cloudwaste"

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.port = self.port or free_port()
        self.bindir = find_bindir()
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise EmbeddedPostgresError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def start(self) -> EmbeddedPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if self._as_root:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise EmbeddedPostgresError("running as root needs the 'postgres' system user") from None
            for p in (self.root, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # every parent must be traversable by postgres (os.access answers for root, not for it)
            for parent in self.root.parents:
                st = parent.stat()
                if not (st.st_uid == pw.pw_uid or st.st_mode & 0o001):
                    raise EmbeddedPostgresError(
                        f"{parent} is not traversable by the postgres user (chmod o+x it, or use another folder)"
                    )
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                "initdb", "--no-sync", "-A", "trust", "-U", self.user, "-E", "UTF8", "-D", str(self.datadir)
            )
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockdir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            # keep pg_wal small: every CREATE DATABASE ... TEMPLATE is WAL-logged whole
            "-c max_wal_size=128MB -c min_wal_size=32MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-o", opts, "-l", str(self.root / "server.log"), "-w", "start"
        )
        self._create_database(self.database)
        return self

    def _create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def create_database(self, name: str) -> str:
        """A new empty database in this cluster; returns its SQLAlchemy URL."""
        self._create_database(name)
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
