"""The service under test, started the way production starts it, and stopped afterwards.

1. PostgreSQL: `DATABASE_URL` when set, else an embedded PostgreSQL + pgvector of its own under `.data/bench`
   (never the development data in `.data`); likewise Redis: `REDIS_URL`, else an embedded one there.
2. `manage.py migrate`, then `manage.py create_api_key bench-user --tenant bench` (the key is its last line).
3. The Procfile's web process (gunicorn), on 127.0.0.1 and a free port, with `WEB_CONCURRENCY` workers (default 4),
   until `/ready` answers 200. Its output goes to `.data/bench/gunicorn.log`.

Whatever happens (an error, Ctrl-C), gunicorn and the embedded PostgreSQL and Redis this run started are
stopped.

`running_worker(server)` adds the Procfile's worker process (Celery) on the same database and Redis, for a
benchmark that needs one (bench.lifecycle); it is stopped when the benchmark leaves it.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from config.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data" / "bench"
GUNICORN_LOG = DATA_DIR / "gunicorn.log"
WORKER_LOG = DATA_DIR / "celery-worker.log"
READY_TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 120  # gunicorn's own --timeout


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:<port>
    api_key: str
    workers: int
    database: str  # "embedded" or "DATABASE_URL"
    database_url: str  # for benchmarks that also work in process (bench.memory)
    redis_url: str = ""  # the broker the server publishes to (bench.lifecycle runs a Celery worker on it)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Token {self.api_key}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=REQUEST_TIMEOUT_SECONDS)

    def async_client(self, connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=REQUEST_TIMEOUT_SECONDS,
                                 limits=limits)


def setup_django(server: Server, **environment: str) -> None:
    """This process's Django settings made the server's (its database, broker and DATA_DIR, so its model
    files too), then django.setup(): a benchmark working in process starts no embedded service of its own."""
    import logging

    import django

    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": server.database_url,
                       "DATA_DIR": str(DATA_DIR), **environment})
    if server.redis_url:
        os.environ["REDIS_URL"] = server.redis_url
    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request


@contextmanager
def running_server() -> Iterator[Server]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(DATA_DIR)}
    workers = int(env.get("WEB_CONCURRENCY", "4"))
    database = "DATABASE_URL" if env.get("DATABASE_URL") else "embedded"
    embedded = redis = gunicorn = None
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        if database == "embedded":
            embedded = EmbeddedPostgres(DATA_DIR)
            env["DATABASE_URL"], started = embedded.ensure_running()
            if not started:
                embedded = None  # another bench run's server: not ours to stop
        if not env.get("REDIS_URL"):  # else every process of the service would start it, and none stop it
            redis = EmbeddedRedis(DATA_DIR)
            env["REDIS_URL"], started = redis.ensure_running()
            if not started:
                redis = None
        manage("migrate", "--noinput", env=env)
        # The benchmark database follows the configured embedder (EMBEDDER=minilm-int8 make bench), as an
        # operator would after changing it; the benchmarks leave no memories behind, so this is quick.
        manage("reembed", "--if-changed", env=env)
        api_key = manage("create_api_key", "bench-user", "--tenant", "bench", env=env).splitlines()[-1]
        port = free_port()
        web = procfile()["web"]  # exactly what `make run` starts
        env.update(PORT=str(port), WEB_CONCURRENCY=str(workers),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
        with open(GUNICORN_LOG, "w") as log:
            gunicorn = subprocess.Popen(
                ["sh", "-c", web],
                env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches only us; we stop gunicorn ourselves, in order
            )
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, gunicorn)
        print(f"Server: gunicorn, {workers} workers, on {url}; database: {database}; log {GUNICORN_LOG}",
              flush=True)
        yield Server(url=url, api_key=api_key, workers=workers, database=database,
                     database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"])
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        if redis is not None:
            redis.stop()
        if embedded is not None:
            embedded.stop()


@contextmanager
def running_worker(server: Server) -> Iterator[subprocess.Popen]:
    """The Procfile's `worker` line (Celery) on the server's database and Redis, until the block is left (an
    error and Ctrl-C included). Ready once its log says so; its output goes to `.data/bench/celery-worker.log`."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(DATA_DIR),
           "DATABASE_URL": server.database_url, "REDIS_URL": server.redis_url,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    worker = None
    try:
        with open(WORKER_LOG, "w") as log:
            worker = subprocess.Popen(
                ["sh", "-c", procfile()["worker"]],
                env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while " ready." not in WORKER_LOG.read_text():
            if worker.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {worker.returncode}:\n"
                                   f"{WORKER_LOG.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker was not ready within {READY_TIMEOUT_SECONDS} s; "
                                   f"see {WORKER_LOG}")
            time.sleep(0.2)
        print(f"Celery worker (Procfile worker line) ready; log {WORKER_LOG}", flush=True)
        yield worker
    finally:
        if worker is not None:
            stop_group(worker)


def procfile() -> dict[str, str]:
    lines = (BASE_DIR / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def manage(*args: str, env: dict) -> str:
    """Run a management command; its stdout, or a RuntimeError with its stderr."""
    result = subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip()


def wait_ready(url: str, gunicorn: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if gunicorn.poll() is not None:
            log = GUNICORN_LOG.read_text()[-3000:]
            raise RuntimeError(f"gunicorn exited with {gunicorn.returncode}:\n{log}")
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"{url}/ready did not answer 200 within {READY_TIMEOUT_SECONDS} s")


def stop_gunicorn(gunicorn: subprocess.Popen) -> None:
    """SIGTERM to the process group (the shell running the Procfile line, gunicorn's master and workers);
    SIGKILL to it if that hangs."""
    stop_group(gunicorn)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group of a Procfile line started in a session of its own (the shell, the
    master and its children); SIGKILL to it if that hangs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
