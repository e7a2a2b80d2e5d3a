"""A throwaway PostgreSQL cluster for the Pulumi CLI's self-managed ``postgres://`` backend.

:func:`postgres_cluster` runs ``initdb`` in a new temporary directory, starts the server on a free
loopback port (``listen_addresses=127.0.0.1``, its Unix socket in that directory, ``trust``
authentication, no fsync), creates the database the CLI logs into, and at the end stops the server
and removes the directory. PostgreSQL refuses to run as root: as root, ``initdb`` and ``pg_ctl`` run
as the ``postgres`` user (``runuser -u postgres -- ...``) in a directory that user owns.

The CLI creates its table itself (``pulumi_state``, or ``?table=NAME``): :meth:`PostgresCluster.url`
with a ``table`` gives each test a backend of its own on the one cluster. Locks, stacks and
checkpoints are rows of that table keyed by their bucket path (``pulumi/.pulumi/locks/...``,
``pulumi/.pulumi/stacks/...``), which :meth:`PostgresCluster.keys` lists.
"""

from __future__ import annotations

import base64
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PG_BIN_ENV",
    "PostgresCluster",
    "PostgresUnavailable",
    "find_pg_bin",
    "postgres_cluster",
]

#: Overrides where the server binaries are looked for (a directory holding initdb and pg_ctl).
PG_BIN_ENV = "DDOC_PG_BIN"
#: The superuser initdb creates, and the user the CLI logs in as (trust: no password).
USER = "pulumi"
DATABASE = "pulumi"
_SERVER_TOOLS = ("initdb", "pg_ctl")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (or not usable) on this machine."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: ``$DDOC_PG_BIN``, else next to them on PATH,
    else the newest of Debian's ``/usr/lib/postgresql/*/bin`` (and the usual source-build and RPM
    places); ``None`` when there is none."""
    candidates: list[str] = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(os.environ[PG_BIN_ENV])
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(os.path.dirname(os.path.realpath(on_path)))
        candidates.append(os.path.dirname(on_path))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True)
    candidates.append("/usr/local/pgsql/bin")
    for directory in candidates:
        if all(os.access(os.path.join(directory, tool), os.X_OK) for tool in _SERVER_TOOLS):
            return Path(directory)
    return None


def _table(backend_url: str) -> str:
    """The state table of a backend URL (``?table=NAME``, else the CLI's default)."""
    match = re.search(r"[?&]table=([a-z0-9_]+)", backend_url)
    return match.group(1) if match else "pulumi_state"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running throwaway cluster: where it lives and how the CLI reaches it."""

    bin: Path
    root: Path  # the temporary directory: data/, the socket, server.log
    port: int
    run_as: str | None  # the OS user the server runs as (None: this process's user)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, table: str | None = None) -> str:
        """The CLI's backend URL (``PULUMI_BACKEND_URL``); ``table``: a state table of its own."""
        query = "sslmode=disable" + (f"&table={table}" if table else "")
        return f"postgres://{USER}@127.0.0.1:{self.port}/{DATABASE}?{query}"

    def new_backend(self) -> str:
        """A backend URL no one else uses: the same database, a table of its own (the CLI creates it)."""
        return self.url(f"pulumi_state_{uuid.uuid4().hex[:12]}")

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run ``sql`` with ``psql`` (unaligned, tuples only) and return its output."""
        args = [str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
        args += ["-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database, "-c", sql]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def keys(self, backend_url: str, part: str = "") -> list[str]:
        """The keys (bucket paths, e.g. ``pulumi/.pulumi/locks/organization/PROJECT/STACK/ID.json``:
        the database's name comes first) stored in ``backend_url``'s table that contain ``part``;
        ``[]`` while the CLI has not created the table."""
        table = _table(backend_url)
        if self.psql(f"SELECT to_regclass('{table}') IS NOT NULL").strip() != "t":
            return []
        escaped = part.replace("'", "''")
        out = self.psql(f"SELECT key FROM {table} WHERE strpos(key, '{escaped}') > 0 ORDER BY key")
        return out.splitlines()

    def read(self, backend_url: str, part: str) -> dict[str, bytes]:
        """The files (key -> content) stored in ``backend_url``'s table whose key contains ``part``:
        the CLI stores each as ``{"data": "<base64 of the content>"}``."""
        keys = self.keys(backend_url, part)
        if not keys:
            return {}
        escaped = part.replace("'", "''")
        rows = self.psql(
            f"SELECT key, data->>'data' FROM {_table(backend_url)} WHERE strpos(key, '{escaped}') > 0 ORDER BY key"
        )
        return {key: base64.b64decode(data) for key, data in (row.split("|", 1) for row in rows.splitlines())}

    # ------------------------------------------------------------------------ the server

    def _server_cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(
            self._server_cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{log}"
            )

    def init(self) -> None:
        """``initdb``: trust authentication, superuser :data:`USER`, UTF-8."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER,
                  "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip

    def start(self) -> None:
        """``pg_ctl start`` on :attr:`port` (waits until it accepts connections), then the database."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")

    def stop(self) -> None:
        """``pg_ctl stop -m immediate`` (a throwaway cluster: nothing to flush)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")


def _owner() -> str | None:
    """``postgres`` when running as root (the server refuses root), else ``None``."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root, and PostgreSQL refuses to: no `postgres` user to run it as "
            "(apt-get install postgresql creates it)"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root without `runuser` to start PostgreSQL as `postgres`")
    return "postgres"


@contextmanager
def postgres_cluster(attempts: int = 3) -> Iterator[PostgresCluster]:
    """A started cluster in a new temporary directory, stopped and removed at the end.

    Raises :class:`PostgresUnavailable` when the binaries are missing. The port is picked free and
    bound by the server a moment later: a start that loses that race is retried on another port.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries (initdb, pg_ctl) found on PATH, in /usr/lib/postgresql/*/bin "
            f"or in ${PG_BIN_ENV}: apt-get install postgresql"
        )
    run_as = _owner()
    root = Path(tempfile.mkdtemp(prefix="ddoc-pg-"))
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = PostgresCluster(bin_dir, root, _free_port(), run_as)
    try:
        cluster.init()
        for attempt in range(attempts):
            try:
                cluster.start()
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                cluster.port = _free_port()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():  # started (even if a later step failed)
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
