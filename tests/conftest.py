import pytest

from tests.factories import MemorySpaceFactory, UserFactory, client_with_key, make_api_key, make_session


def pytest_unconfigure(config):
    """Stop the embedded PostgreSQL and Redis if this test run is the one that started them."""
    from config.embedded import stop_those_started_here

    stop_those_started_here()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def api_key(user):
    return make_api_key(user)


@pytest.fixture
def other_user(db):
    """A user of another tenant."""
    return UserFactory()


@pytest.fixture
def other_api_key(other_user):
    return make_api_key(other_user)


@pytest.fixture
def api(api_key):
    """The in-process HTTP client, authenticated as `user`."""
    return client_with_key(api_key)


@pytest.fixture
def other_api(other_api_key):
    return client_with_key(other_api_key)


@pytest.fixture
def recorded_embedder(db):
    """The embedder the test database's embedding column records (as migrated), put back after the test: a
    comment on a column outlives the flush of a transactional test."""
    from mem0_compat.vector_column import column_embedder, record_embedder

    recorded = column_embedder()
    yield recorded
    record_embedder(recorded)


@pytest.fixture
def connection_dropped_after(db):
    """For tests that break the database connection (tests/database_faults.py): the next test gets a new one,
    whatever happened."""
    from django.db import connection

    yield
    connection.close()


@pytest.fixture
def space(user):
    return MemorySpaceFactory(owner=user)


@pytest.fixture
def session(space):
    return make_session(space)


@pytest.fixture
def dr(live_server, api_key):
    """The real `datarobot` client package, pointed at a live server started for the test."""
    import datarobot

    datarobot.Client(token=api_key, endpoint=f"{live_server.url}/api/v2")
    return datarobot


def service_environment(**overrides: str) -> dict:
    """The environment of a process of the service that a test starts: this one's, with the test database
    and this run's Redis, then `overrides`."""
    import os

    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL, **overrides}


def start_celery_worker(log_path, queue=None, pool="solo", **env_overrides):
    """A real Celery worker process on the test database and this run's queue (or `queue`). Its log goes to
    `log_path` (also its `.log_path` attribute). The caller stops it. The solo pool runs tasks in the worker
    process itself; "prefork", the pool of the Procfile's worker, enforces the time limits."""
    import os
    import subprocess
    import sys
    import time

    from django.conf import settings

    queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
    env = service_environment(CONN_MAX_AGE="0", CELERY_QUEUE=queue, LLM_MODEL="", LLM_BASE_URL="", **env_overrides)
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", pool, "--loglevel", "INFO",
             "--queues", queue, "--hostname", f"tests-{os.getpid()}-{queue}-%i@%h",
             "--without-gossip", "--without-mingle"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    worker.log_path = log_path
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.kill()
            raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, tmp_path_factory):
    """One real Celery worker for the whole run; stopped after the tests."""
    worker = start_celery_worker(tmp_path_factory.mktemp("celery") / "worker.log")
    yield worker
    worker.terminate()
    worker.wait(timeout=30)
