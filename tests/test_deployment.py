"""The deployment files say what the README promises. (No Docker engine runs here, so the Docker files are read,
not run; the Procfile's web process is run.)"""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from config.embedded import free_port
from tests.conftest import service_environment

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    """The Procfile's processes: name -> command."""
    return dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)


def test_compose_runs_every_process_with_a_healthcheck():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert all("healthcheck" in service for service in services.values())
    assert "pgvector" in services["postgres"]["image"]
    for name in ("web", "worker", "beat"):
        assert services[name]["build"] == "."
        assert services[name]["environment"]["DATABASE_URL"].endswith("@postgres:5432/memory")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["ports"] == ["127.0.0.1:${PORT:-8000}:8000"]
    assert services["web"]["stop_grace_period"] == "30s"  # past gunicorn.conf.py's graceful_timeout


def test_procfile_runs_web_worker_and_beat():
    processes = procfile()
    assert set(processes) == {"web", "worker", "beat"}
    assert "127.0.0.1:$PORT" in processes["web"]
    assert "celery -A config worker" in processes["worker"] and "celery -A config beat" in processes["beat"]


def test_the_image_copies_every_app():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for app in ("config", "memoryspaces", "sessions_app", "mem0_compat", "lifecycle", "templates"):
        assert f"COPY {app} ./{app}" in dockerfile
    assert "gunicorn.conf.py" in dockerfile.split("COPY pyproject.toml")[1].splitlines()[0]


def _answers_health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False  # not listening yet


@pytest.fixture
def web_port(db, tmp_path):
    """The Procfile's web process (gunicorn, one worker, gunicorn.conf.py) on a free port, until the test ends."""
    with web_process(tmp_path) as port:
        yield port


@contextlib.contextmanager
def web_process(tmp_path, **env_overrides):
    """The Procfile's web process on 127.0.0.1 and a free port, with `env_overrides`, until the block ends."""
    port = free_port()
    env = service_environment(PORT=str(port), WEB_CONCURRENCY="1",
                              PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env_overrides)
    with open(tmp_path / "web.log", "w") as log:
        server = subprocess.Popen(["sh", "-c", procfile()["web"]], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers_health(port):
            assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "web.log").read_text()
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_the_web_process_keeps_an_idle_connection_longer_than_httpx_pools_do(web_port):
    """An httpx client (the mem0 client's) reuses an idle connection for up to 5 s. gunicorn's default closed it
    after 2 s, and a request sent as it closed failed. Here the Procfile's web process still answers on one
    connection left idle for longer than that."""
    kept = http.client.HTTPConnection("127.0.0.1", web_port, timeout=10)
    for pause in (0, httpx.Limits().keepalive_expiry + 1):
        time.sleep(pause)
        kept.request("GET", "/health")
        answer = kept.getresponse()
        assert (answer.status, json.loads(answer.read())) == (200, {"status": "ok"})


def test_the_web_process_takes_request_lines_of_8_kib(web_port):
    """Filters travel in query strings (the mem0 client's delete_all). gunicorn's default refused a request line
    over 4 KiB with a plain-text 414 before the API saw it; 8 KiB is what nginx takes by default."""
    url = f"http://127.0.0.1:{web_port}/health?filters=" + "x" * 7000
    answer = httpx.get(url, timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert httpx.get(url + "x" * 1200, timeout=10).status_code == 414  # a bound remains


@pytest.mark.django_db(transaction=True)  # the login is committed, for the web process to see it
def test_compose_s_web_process_takes_https_from_the_proxy_in_front_of_it(tmp_path):
    """Behind a proxy that ends TLS and says so in X-Forwarded-Proto, the browser's admin login posts from an
    https origin. gunicorn believes that header only from FORWARDED_ALLOW_IPS (127.0.0.1 by default), and in
    docker-compose.yml the proxy reaches the container from another address: the request was taken for http and
    every admin login was a 403 (CSRF: origin does not match). Here the proxy's address is 127.0.0.2."""
    import re

    from memoryspaces.models import User

    User.objects.create_superuser("operator", password="operator-password-1")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
    trusted = re.fullmatch(r"\$\{FORWARDED_ALLOW_IPS:-(.*)\}", compose["FORWARDED_ALLOW_IPS"]).group(1)
    with web_process(tmp_path, ALLOWED_HOSTS="memory.example.com,127.0.0.1", FORWARDED_ALLOW_IPS=trusted) as port:
        proxy = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                             transport=httpx.HTTPTransport(local_address="127.0.0.2"),
                             headers={"Host": "memory.example.com", "X-Forwarded-Proto": "https"})
        form = proxy.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        login = proxy.post("/admin/login/", data={"username": "operator", "password": "operator-password-1",
                                                  "csrfmiddlewaretoken": token, "next": "/admin/"},
                           headers={"Origin": "https://memory.example.com",
                                    "Referer": "https://memory.example.com/admin/login/"})
        assert (login.status_code, login.headers.get("Location")) == (302, "/admin/")
        assert proxy.get("/admin/").status_code == 200


def test_compose_s_healthcheck_passes_when_allowed_hosts_names_the_public_host(tmp_path):
    """An operator sets ALLOWED_HOSTS to the name the service is reached by. docker-compose.yml's healthcheck asks
    /ready on 127.0.0.1, which was then a 400 (DisallowedHost): the web container never became healthy. The
    loopback names are always allowed."""
    _, _, _, probe = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["healthcheck"]["test"]
    with web_process(tmp_path, ALLOWED_HOSTS="memory.example.com") as port:
        checked = subprocess.run([sys.executable, "-c", probe.replace("127.0.0.1:8000", f"127.0.0.1:{port}")],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/health", headers={"Host": "elsewhere.example"},
                         timeout=10).status_code == 400  # other names are still refused


@pytest.mark.django_db(transaction=True)  # the key is committed, for the web process to see it
def test_the_web_process_reads_a_chunked_body(web_port, api_key):
    """gunicorn hands the app a chunked body de-chunked, without a Content-Length; the API took it for {}."""
    chunks = iter([b'{"description": "sent ', b'in chunks"}'])
    answer = httpx.post(f"http://127.0.0.1:{web_port}/api/v2/memory/new/", content=chunks, timeout=10,
                        headers={"Authorization": f"Token {api_key}", "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["description"] == "sent in chunks"


def test_make_run_against_a_database_it_cannot_use_stops_with_the_reason_and_no_traceback(db):
    """`make run` with a DATABASE_URL nothing answers on: `migrate`'s system check says so in a line, and nothing
    is started."""
    env = service_environment(DATABASE_URL=f"postgres://memory@127.0.0.1:{free_port()}/memory", PORT=str(free_port()))
    result = subprocess.run([sys.executable, "-m", "config.run"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "(mem0_compat.E001) The database cannot be reached" in result.stderr
    assert "`manage.py migrate` failed (exit status 1): not started." in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_make_run_with_an_embedder_it_cannot_make_stops_with_the_reason_and_no_traceback(db):
    """It served, and every memory request of a new database was a 500 (ImproperlyConfigured)."""
    env = service_environment(EMBEDDER="nosuchprovider/model", EMBEDDING_DIMENSIONS="384", PORT=str(free_port()))
    run = subprocess.Popen([sys.executable, "-m", "config.run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:  # it serves: stop all it started
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(timeout=60)
    assert run.returncode == 1
    assert ("(mem0_compat.E003) Long-term memory cannot embed: EMBEDDER=nosuchprovider/model: unknown provider "
            "'nosuchprovider'" in err)
    assert "`manage.py migrate` failed (exit status 1): not started." in err
    assert "Traceback" not in err + out and "Serving on" not in out


@pytest.mark.parametrize(("variable", "value"), [
    ("LIFECYCLE_SWEEP_SECONDS", "a minute"),
    ("LIFECYCLE_SWEEP_SECONDS", "0"),
    ("SEARCH_TEXT_WEIGHT", "2"),
    ("SEARCH_TEXT_COMMON_SHARE", "nan"),
    ("EMBEDDING_DIMENSIONS", "-384"),
    ("DATABASE_CONNECT_TIMEOUT", "5s"),
    ("API_RATE_LIMIT", "600 per minute"),
    ("EMBEDDER", "mini-lm"),
    ("LOG_LEVEL", "LOUD"),
    ("DEBUG", "ture"),  # was taken for false, as was any word but the four it knew
    ("CONN_HEALTH_CHECKS", "enabled"),
    ("LLM_ALLOWED_HOSTS", "10.0.0.0/33"),
    ("LLM_ALLOWED_HOSTS", "http://ollama:11434"),
    ("LLM_BASE_URL", "localhost:11434"),  # no scheme: every add failed on it, not the start
    ("EMBEDDER_BASE_URL", "ftp://embedder.internal/v1"),
    ("DATABASE_URL", "mysql://app:secret@db/app"),  # a traceback from the drivers
    ("DATABASE_URL", "db.internal:5432"),
    ("REDIS_URL", "cache.internal:6379"),
    ("TASK_TIME_LIMIT_SECONDS", "600"),  # not above the soft limit (600)
    ("LIFECYCLE_STALE_RUNNING_SECONDS", "600"),  # work would be taken over from a task still running
    ("ADD_REQUEST_STALE_RUNNING_SECONDS", "660"),  # the hard limit: likewise
])
def test_a_bad_setting_stops_a_command_with_one_line_naming_it(db, variable, value):
    """Every documented variable takes a value of one kind: anything else stops the process at once, saying which
    variable and what it takes, never a traceback (nor, for API_RATE_LIMIT, a 500 on every request later)."""
    result = subprocess.run([sys.executable, "manage.py", "lifecycle_status"], cwd=ROOT, capture_output=True,
                            text=True, env=service_environment(**{variable: value}), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Environment variable {variable}={value!r}: expected "
                                                  + result.stderr.split(": expected ", 1)[1].strip()]


# Every command of ours that uses the tables, with what it needs to reach them.
DATABASE_COMMANDS = [["lifecycle_status"], ["sweep_lifecycle"], ["purge_deleted", "--older-than", "30"],
                     ["reembed"], ["bootstrap"], ["create_api_key", "ops"], ["revoke_api_key", "mem_abc"]]


@pytest.fixture
def unmigrated_database_url(db):
    """A new, empty database on the test server (as before the first `migrate`), dropped after the test."""
    import psycopg
    from django.db import connection

    settings_dict, name = connection.settings_dict, f"unmigrated_{os.getpid()}"
    server = (f"postgresql://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST']}:"
              f"{settings_dict['PORT']}")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def failing_command_line(command: list[str], **environment: str) -> str:
    """The one line of stderr of `manage.py command`, run with `environment`, which must fail (exit status 1)."""
    result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, capture_output=True, text=True,
                            env=service_environment(**environment), timeout=120)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=lambda command: command[0])
def test_a_command_on_a_database_not_migrated_says_to_migrate_in_one_line(unmigrated_database_url, command):
    """Before the first `migrate` (or after an upgrade, before it), each command ended in Django's traceback of
    its first query ("relation ... does not exist")."""
    line = failing_command_line(command, DATABASE_URL=unmigrated_database_url)
    assert line.startswith("CommandError: The database is not migrated to this version (")
    assert line.endswith("): run `manage.py migrate` first.")


@pytest.mark.parametrize("command", [["lifecycle_status"], ["create_api_key", "ops"]], ids=lambda c: c[0])
def test_a_command_on_a_database_that_does_not_answer_says_so_in_one_line(db, command):
    closed = f"postgres://nobody:secret@127.0.0.1:{free_port()}/nothing"
    line = failing_command_line(command, DATABASE_URL=closed)
    assert line.startswith("CommandError: The database does not answer (")
    assert line.endswith("): check DATABASE_URL, or start it, then run this again.")


@pytest.mark.parametrize(("variable", "value"), [("PORT", "http"), ("PORT", "70000"), ("WEB_CONCURRENCY", "0"),
                                                 ("CELERY_CONCURRENCY", "two")])
def test_make_run_with_a_bad_process_setting_stops_with_one_line_and_starts_nothing(db, variable, value):
    env = service_environment(**{"PORT": str(free_port()), variable: value})
    result = subprocess.run([sys.executable, "-m", "config.run"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"Environment variable {variable}={value!r}: expected a whole number")
    assert "Serving on" not in result.stdout


def test_gunicorn_with_a_bad_keepalive_stops_with_one_line(db):
    result = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "--check-config", "config.wsgi"],
                            cwd=ROOT, env=service_environment(WEB_KEEPALIVE="long"), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == ("Environment variable WEB_KEEPALIVE='long': expected a whole "
                                                      "number from 0 up.")
    assert "Traceback" not in result.stderr


def test_a_management_command_stops_the_embedded_services_it_started(tmp_path):
    """`manage.py …` with no DATABASE_URL or REDIS_URL and `make run` not running starts the embedded PostgreSQL
    and Redis for itself; when it ends they stop, as `make run`'s do, instead of running on in the background
    with nothing to stop them."""
    from config.embedded import EmbeddedPostgres, EmbeddedRedis

    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "manage.py", "showmigrations", "memoryspaces"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    postgres, redis = EmbeddedPostgres(tmp_path), EmbeddedRedis(tmp_path)
    try:
        assert result.returncode == 0, result.stderr
        assert "[ ] 0001_initial" in result.stdout  # it did reach the database it started
        assert postgres._running_port() is None and redis._running_port() is None
    finally:
        redis.stop()
        postgres.stop()


def test_make_run_on_a_port_in_use_says_so_in_a_line_and_starts_nothing(db):
    """Not "Serving on …" followed by gunicorn retrying for five seconds while the worker and beat start."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "config.run"], cwd=ROOT, env=service_environment(PORT=str(port)),
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Port {port} on 127.0.0.1 is in use: set PORT to a free port."
    assert "Serving on" not in result.stdout


@pytest.mark.django_db(transaction=True)  # what the run's `bootstrap` commits is flushed after the test
def test_a_second_make_run_on_the_same_data_dir_says_so_in_a_line_and_starts_nothing(tmp_path, settings):
    """It started its own worker and beat beside the first run's (on another PORT), and lost its database and
    Redis when the first one, which had started them, stopped."""
    env = service_environment(DATA_DIR=str(tmp_path), WEB_CONCURRENCY="1", CELERY_CONCURRENCY="1",
                              CELERY_QUEUE=f"{settings.CELERY_TASK_DEFAULT_QUEUE}-run")  # not this run's tasks
    first_port, second = free_port(), None
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen([sys.executable, "-m", "config.run"], cwd=ROOT, env={**env, "PORT": str(first_port)},
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not _answers_health(first_port):
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
        second = subprocess.Popen([sys.executable, "-m", "config.run"], cwd=ROOT,
                                  env={**env, "PORT": str(free_port())}, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert err.strip() == (f"`make run` is already running on {tmp_path.resolve()} (pid {first.pid}): stop it "
                               f"first, or give this one a DATA_DIR of its own.")
        assert "Serving on" not in out
        assert _answers_health(first_port)
    finally:
        for process in (second, first):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)


def test_a_test_run_leaves_the_rest_of_its_redis_alone(settings):
    """`make test` with REDIS_URL at a Redis that serves others (the machine's, a deployment's): the rate-limit
    tests emptied the whole database of the rate-limit counters (cache.clear(): FLUSHDB of database 1), whoever
    kept keys there."""
    import redis

    theirs = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    key = f"not-the-tests-{os.getpid()}"
    theirs.set(key, "kept", ex=600)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "rate_limit or never_pass_the_limit",
             "tests/test_hostile_input.py", "tests/test_openapi_conformance.py"],
            cwd=ROOT, env=service_environment(DJANGO_SETTINGS_MODULE="config.settings_test"), capture_output=True,
            text=True, timeout=240)
        assert result.returncode == 0 and result.stdout.splitlines()[-1].startswith("5 passed"), result.stdout[-3000:]
        assert theirs.get(key) == b"kept"
    finally:
        theirs.delete(key)


def test_without_secret_key_each_data_dir_gets_a_random_one_of_its_own(db, tmp_path):
    """With SECRET_KEY unset (`make run`, and docker-compose.yml unless the operator sets it) every process used
    one published string (compose: `change-me`), which signs the admin's sessions and messages; `check --deploy`
    called it insecure. Now a random key is made once under DATA_DIR, private to its owner, and every process of
    that DATA_DIR (web, worker, beat) reads the same one."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-service"]["environment"]["SECRET_KEY"] == "${SECRET_KEY:-}"
    env = service_environment(DATA_DIR=str(tmp_path), SECRET_KEY="")
    show = [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                                  "print(settings.SECRET_KEY)"]
    keys = {subprocess.run(show, cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                           timeout=120).stdout.strip() for _ in range(2)}
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert len(keys.pop()) >= 50 and (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    check = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert "security.W009" not in check.stdout + check.stderr  # the SECRET_KEY warning
    given = subprocess.run(show, cwd=ROOT, env={**env, "SECRET_KEY": "k" * 60}, capture_output=True, text=True,
                           check=True, timeout=120)
    assert given.stdout.strip() == "k" * 60


def _gunicorn_command_lines() -> dict[str, str]:
    """The gunicorn command of each way the web process is started, as a shell would run it."""
    shell, option, script = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    assert (shell, option) == ("sh", "-c")
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", "")
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    return {"Procfile": procfile()["web"], "Dockerfile": " ".join(cmd),
            "docker-compose.yml": "exec " + script.replace("$$", "$").split("exec ", 1)[1]}


@pytest.mark.parametrize("started_by", ["Procfile", "Dockerfile", "docker-compose.yml"])
def test_every_web_command_line_takes_the_documented_process_settings(db, started_by):
    """WEB_CONCURRENCY and WEB_THREADS (README), the timeouts and one embedder thread per web process were
    on the Procfile's command line only: docker-compose.yml ran 4 threads whatever WEB_THREADS said, and the
    image and compose kept gunicorn's 30 s graceful stop, past the 10 s docker waits before it kills (now 25 s,
    and compose waits 30 s). Compose's
    command also broke its line before `--no-control-socket --access-logfile -`, which gunicorn never got."""
    env = service_environment(WEB_CONCURRENCY="5", WEB_THREADS="2", PORT=str(free_port()),
                              PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("EMBEDDER_THREADS", None)
    command = _gunicorn_command_lines()[started_by]
    # docker-compose.yml's folded command kept a line break: `exec gunicorn` ran without the options after it
    assert "\n" not in command.strip()
    printed = subprocess.run(["sh", "-c", command + " --print-config"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    config = {name.strip(): value.strip() for name, value in
              (line.split(" = ", 1) for line in printed.stdout.splitlines() if " = " in line)}
    effective = {name: config[name] for name in ("workers", "threads", "timeout", "graceful_timeout",
                                                         "raw_env")}
    assert effective == {"workers": "5", "threads": "2", "timeout": "120", "graceful_timeout": "25",
                         "raw_env": "['EMBEDDER_THREADS=1']"}


def test_every_worker_command_line_takes_celery_concurrency(db):
    """CELERY_CONCURRENCY (README: 2) reached the worker of the Procfile only, on its command line; compose's
    worker ran one process per core."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]["command"]
    assert all("--concurrency" not in line for line in (" ".join(compose), procfile()["worker"]))
    show = [sys.executable, "-c", "from config.celery import app; print(app.conf.worker_concurrency)"]
    for given, expected in ((None, "2"), ("3", "3")):
        env = service_environment(**({"CELERY_CONCURRENCY": given} if given else {}))
        env.pop("CELERY_CONCURRENCY", None) if given is None else None
        shown = subprocess.run(show, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120)
        assert shown.stdout.strip() == expected
