"""A throwaway PostgreSQL server for tests and benchmarks: initdb into a temporary folder, trust auth, 127.0.0.1
on a free port, stopped and deleted at the end. Independent of ``qa`` (tests and ``benchmarks/`` both use it).

    with ThrowawayPostgres() as pg:
        print(pg.conninfo)        # dbname=qa host=127.0.0.1 port=54321 user=qa
        pg.stop(); pg.start()     # an outage and a recovery, for fault tests

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (Debian's package creates
it), else ``nobody``. ``python tools/pg_throwaway.py`` starts one and prints its conninfo until Ctrl+C.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed (``make postgres`` installs them)."""


def find_bin_dir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: ``$PG_BIN``, Debian's newest /usr/lib/postgresql/*/bin, or PATH."""
    named = os.environ.get("PG_BIN")
    candidates = [named] if named else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
                              "or PATH: install Debian's `postgresql` (make postgres) or set PG_BIN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """The unprivileged user to run the server as when we are root, else ``None``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


class ThrowawayPostgres:
    """One private PostgreSQL cluster; :attr:`conninfo` is a libpq key/value string for database ``dbname``."""

    def __init__(self, dbname: str = "qa", user: str = "qa", port: int | None = None) -> None:
        self.bin_dir = find_bin_dir()
        self.dbname, self.user = dbname, user
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="qa-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "server.log"
        self._as = _run_as()
        self._initialised = False

    @property
    def conninfo(self) -> str:
        return f"dbname={self.dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self._as, "--", *args] if self._as else list(args)

    def _call(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()} {log}")

    def _init(self) -> None:
        self.socket_dir.mkdir()
        if self._as:
            entry = pwd.getpwnam(self._as)
            os.chmod(self.root, 0o755)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._call(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user, "-A", "trust",
                   "-E", "UTF8", "--no-sync", "--locale=C")
        self._initialised = True

    def start(self) -> ThrowawayPostgres:
        """Start the server (initialising the cluster and the database the first time) and wait until it accepts."""
        first = not self._initialised
        if first:
            self._init()
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._call(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
                   "-w", "-t", "60", "start")
        if first:
            self._call(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                       self.dbname)
        return self

    def create_database(self, name: str) -> str:
        """A new empty database on this server; its conninfo."""
        self._call(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return f"dbname={name} host=127.0.0.1 port={self.port} user={self.user}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends open sessions; ``immediate`` is a crash)."""
        self._call(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def close(self) -> None:
        """Stop the server if it runs and delete its folder."""
        try:
            if self._initialised and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    with ThrowawayPostgres() as pg:
        print(pg.conninfo, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
