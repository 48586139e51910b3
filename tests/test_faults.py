"""Faults: the database goes away during traffic, a worker dies in the middle of a task. Acknowledged
writes survive, the API answers 503 with a JSON body while the database is down and recovers by itself,
and pending lifecycle work completes afterwards. (Redis going away: tests/lifecycle/test_worker.py.)"""

import os
import signal
import time
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.embedded import EmbeddedPostgres
from lifecycle import services as lifecycle
from lifecycle import tasks as lifecycle_tasks
from lifecycle.models import StrategyExecution
from tests.conftest import start_celery_worker
from tests.factories import MemorySpaceFactory, make_session
from tests.fakes import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)
EMBEDDED_DATABASE = "DATABASE_URL" not in os.environ
EVENT = {"body": {"content": "kept"}, "emitter": {"type": "user", "id": "u"}}


@pytest.mark.skipif(not EMBEDDED_DATABASE, reason="stops and restarts the embedded PostgreSQL; an external "
                                                  "DATABASE_URL is not ours to stop")
def test_database_restart_during_traffic(live_server, api_key, space):
    session = make_session(space)
    url = f"{live_server.url}/api/v2/memory/{space.id}/sessions/{session.id}/events/"
    http = requests.Session()
    http.headers["Authorization"] = f"Token {api_key}"
    acknowledged = [http.post(url, json=EVENT, timeout=10).json()["sequenceId"] for _ in range(5)]

    postgres = EmbeddedPostgres(settings.DATA_DIR)
    connection.close()
    postgres.stop()
    try:
        for _ in range(3):
            started = time.monotonic()
            down = http.post(url, json=EVENT, timeout=30)
            assert time.monotonic() - started < 10  # an answer, not a hang
            assert down.status_code == 503 and down.headers["Content-Type"] == "application/json"
            assert "database" in down.json()["detail"]
        assert http.get(f"{live_server.url}/ready", timeout=10).status_code == 503
    finally:
        postgres.ensure_running()

    recovered = http.post(url, json=EVENT, timeout=10)  # no restart of the web process needed
    assert recovered.status_code == 201
    acknowledged.append(recovered.json()["sequenceId"])
    stored = [event["sequenceId"] for event in http.get(url, timeout=10).json()["items"]]
    assert stored == acknowledged == list(range(6))


def test_a_worker_killed_mid_task_leaves_the_work_to_the_next_one(api, user, settings, tmp_path, monkeypatch):
    from config.celery import app

    # Workers of this test only, on a queue of their own: the run's shared worker must not take the task.
    queue = f"faults-{os.getpid()}"
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    settings.LIFECYCLE_STALE_RUNNING_SECONDS = 5
    # The stale limit must exceed the time limit (solo workers do not enforce it; the settings check it).
    limits = {"LIFECYCLE_STALE_RUNNING_SECONDS": "5", "TASK_SOFT_TIME_LIMIT_SECONDS": "3",
              "TASK_TIME_LIMIT_SECONDS": "4"}
    with FakeOpenAI() as fake:
        space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake.base_url)
        session = make_session(space, strategies=[{"type": "extract_memories", "trigger": {"eventCount": 1}}])
        fake.hang_next(seconds=60)  # the first worker gets stuck in the LLM call
        fake.script({"facts": ["Likes jazz"]}, {"memory": [{"id": "0", "text": "Likes jazz", "event": "ADD"}]})
        first = start_celery_worker(tmp_path / "first.log", queue, **limits)
        try:
            api.post(f"/api/v2/memory/{space.id}/sessions/{session.id}/events/",
                     {"body": {"content": "I like jazz"}, "emitter": {"type": "user", "id": "u"}}, format="json")
            wait_until(lambda: StrategyExecution.objects.filter(session=session, status="running").exists())
            wait_until(lambda: len(fake.requests) == 1)  # it is inside the LLM call that hangs
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        second = start_celery_worker(tmp_path / "second.log", queue, **limits)
        try:
            # The worker judges staleness by the real clock: wait until the dead worker's claim is 5 s old.
            claimed_at = StrategyExecution.objects.get(session=session).updated_at
            time.sleep(max(0.0, (claimed_at + timedelta(seconds=6) - timezone.now()).total_seconds()))
            report = lifecycle.sweep()
            assert len(report.republished) == 1  # the execution of the dead worker
            lifecycle_tasks.publish_executions(report.republished)
            wait_until(lambda: StrategyExecution.objects.filter(session=session, status="succeeded").exists())
        finally:
            second.terminate()
            second.wait(timeout=30)
    execution = StrategyExecution.objects.get(session=session)
    assert execution.attempts == 2
    assert space.memories.get().memory == "Likes jazz"


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")
