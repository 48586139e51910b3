"""`make run`: everything the service needs, in the foreground, until Ctrl-C.

1. The embedded PostgreSQL (when DATABASE_URL is unset) and Redis (when REDIS_URL is unset), under DATA_DIR.
2. Migrations, and a first API key when none exists (printed once).
3. The processes of the Procfile under honcho: gunicorn on 127.0.0.1:$PORT (default 8000), a Celery worker
   and Celery beat.
Ctrl-C (or SIGTERM) stops the processes, then the embedded services this run started.
"""

import fcntl
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, check=True, cwd=BASE_DIR)


def _refuse_a_port_in_use(port: int) -> None:
    """Else "Serving on" is printed, the worker and beat start, and gunicorn retries for five seconds before
    all stop. SO_REUSEADDR as gunicorn binds: a port of a run just stopped (TIME_WAIT) is free to it."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"Port {port} on 127.0.0.1 is in use: set PORT to a free port.") from None


def _refuse_a_second_run(data_dir: Path):
    """Else a second `make run` on the same DATA_DIR (on another PORT) starts its own worker and beat beside the
    first's, sharing its embedded services and beat's schedule file, and loses its database and Redis when the
    first one, which started them, stops. Returns the locked file, to close once everything has stopped."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "run.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        raise SystemExit(f"`make run` is already running on {data_dir} (pid {lock.read().strip()}): stop it first, "
                         f"or give this one a DATA_DIR of its own.") from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def main() -> int:
    from config.embedded import EmbeddedPostgres, EmbeddedRedis
    from config.env import env_int

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the Procfile's commands live in the venv
    # The Procfile's shell hands these to gunicorn and Celery, which would fail on a bad one with a traceback,
    # or run with no worker at all (WEB_CONCURRENCY=0), after the embedded services had started.
    port = env_int("PORT", 8000, maximum=65535)
    env["PORT"] = str(port)
    for variable in ("WEB_CONCURRENCY", "WEB_THREADS", "CELERY_CONCURRENCY"):
        env_int(variable, 1)
    data_dir = Path(env.get("DATA_DIR", BASE_DIR / ".data")).resolve()
    run_lock = _refuse_a_second_run(data_dir)
    _refuse_a_port_in_use(port)
    ours = []  # embedded services this run started, to stop at the end (another run's are not ours)
    for variable, service, label in (("DATABASE_URL", EmbeddedPostgres(data_dir), "PostgreSQL + pgvector"),
                                     ("REDIS_URL", EmbeddedRedis(data_dir), "Redis")):
        if not env.get(variable):
            env[variable], started = service.ensure_running()
            ours += [service] if started else []
            print(f"Embedded {label}: data in {data_dir}", flush=True)

    honcho = None

    def stop(signum, frame):
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        try:
            manage("migrate", "--noinput", env=env)
            manage("bootstrap", env=env)
        except subprocess.CalledProcessError as failed:  # it has said why; its caller's traceback adds nothing
            print(f"`manage.py {failed.cmd[2]}` failed (exit status {failed.returncode}): not started.",
                  file=sys.stderr, flush=True)
            return failed.returncode
        base = f"http://127.0.0.1:{port}"
        print(f"\nServing on {base}/  ·  API docs {base}/schema/swagger-ui/  ·  admin {base}/admin/\n"
              f"Ctrl-C stops everything.\n", flush=True)
        honcho = subprocess.Popen(
            [str(BIN / "honcho"), "start", "-f", str(BASE_DIR / "Procfile"), "-d", str(BASE_DIR), "-p", str(port)],
            env=env,
        )
        while True:
            try:
                return honcho.wait()
            except KeyboardInterrupt:
                continue  # the terminal sent SIGINT to honcho too; wait for it to stop its processes
    finally:
        for service in reversed(ours):
            service.stop()
        if ours:
            print("Embedded services stopped.", flush=True)
        run_lock.close()  # only now may another run start on this DATA_DIR


if __name__ == "__main__":
    sys.exit(main())
