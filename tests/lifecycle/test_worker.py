"""Lifecycle strategies run by a real Celery worker process on a real Redis: triggers fire on time (a clock
the test controls for ttl/idle), extraction feeds the memory engine, failures are retried, and a Redis
outage loses nothing."""

import os
import time
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings

from config.time_limits import LEFT_RUNNING
from lifecycle import services, tasks
from lifecycle.models import StrategyExecution
from mem0_compat.models import Memory
from sessions_app.models import Session
from sessions_app.services import event_append_batch
from tests.conftest import start_celery_worker
from tests.database_faults import database_going_away, going_away_after
from tests.factories import MemorySpaceFactory, make_session
from tests.fakes import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)
EVENT = {"body": {"content": "hello"}, "emitter": {"type": "user", "id": "u1"}}


def wait_until(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def deleted(session) -> bool:
    return Session.objects.get(pk=session.pk).deleted_at is not None


def append(api, session, *contents, emitter=None):
    events = [{"body": {"content": c}, "emitter": emitter or EVENT["emitter"]} for c in contents]
    response = api.post(f"/api/v2/memory/{session.space_id}/sessions/{session.id}/events/batch/",
                        {"events": events}, format="json")
    assert response.status_code == 201, response.content
    return response


def test_event_count_fires_after_the_triggering_append_only(celery_worker_process, api, space):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"eventCount": 3}}])
    append(api, session, "one", "two")
    time.sleep(1)
    assert not StrategyExecution.objects.exists() and not deleted(session)
    append(api, session, "three")
    wait_until(lambda: deleted(session), what="the soft delete")
    execution = StrategyExecution.objects.get(session=session)
    assert (execution.status, execution.attempts, execution.result) == ("succeeded", 1, {"softDeleted": True})


def test_token_count_fires_when_the_content_reaches_the_threshold(celery_worker_process, api, space):
    # "a few words only" is 4 tokens, the long message 14: only both together reach 18
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"tokenCount": 18}}])
    append(api, session, "a few words only")
    time.sleep(1)
    assert not deleted(session)
    append(api, session, "and now a much longer message that certainly takes the total over twenty tokens")
    wait_until(lambda: deleted(session), what="the soft delete")


def test_ttl_fires_through_the_sweep_on_a_controlled_clock(celery_worker_process, space):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"ttl": 86400}}])
    early = services.sweep(now=session.created_at + timedelta(hours=23))
    assert early.fired == []
    due = services.sweep(now=session.created_at + timedelta(hours=24))
    tasks.publish_executions(due.fired)
    wait_until(lambda: deleted(session), what="the soft delete")


def test_extract_memories_feeds_the_engine_and_the_mem0_client_finds_them(celery_worker_process, live_server,
                                                                           api, api_key, space):
    from mem0 import MemoryClient

    session = make_session(space, participants=["alice"], strategies=[
        {"type": "extract_memories", "trigger": {"eventCount": 2}, "opts": {"softDelete": True}}])
    append(api, session, "I deploy on Fridays using ArgoCD")
    append(api, session, "Noted, Fridays with ArgoCD.", emitter={"type": "agent", "id": "bot"})
    wait_until(lambda: StrategyExecution.objects.filter(session=session, status="succeeded").exists(),
               what="the extraction")
    assert deleted(session)
    client = MemoryClient(host=f"{live_server.url}/api/v2/memory/{space.id}", api_key=api_key)
    hits = client.search("when do we deploy", filters={"AND": [{"user_id": "alice"}, {"run_id": str(session.id)}]})
    assert "ArgoCD" in hits["results"][0]["memory"]


def test_extract_memories_honours_scope_options_and_keeps_the_session(celery_worker_process, api, space):
    session = make_session(space, strategies=[{"type": "extract_memories", "trigger": {"eventCount": 1},
                                               "opts": {"userId": "carol", "agentId": "helper",
                                                        "softDelete": False}}])
    append(api, session, "My favourite color is green")
    wait_until(lambda: StrategyExecution.objects.filter(session=session, status="succeeded").exists(),
               what="the extraction")
    memory = Memory.objects.get(space=space)
    assert (memory.user_id, memory.agent_id, memory.run_id) == ("carol", "helper", str(session.id))
    assert not deleted(session)


def test_a_failing_extraction_is_retried_then_succeeds(celery_worker_process, api, user):
    with FakeOpenAI() as fake:
        space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake.base_url)
        session = make_session(space, strategies=[{"type": "extract_memories", "trigger": {"eventCount": 1}}])
        fake.fail_next(500, times=2)  # the whole first attempt fails (the OpenAI client retries once)
        fake.script({"facts": ["Likes jazz"]}, {"memory": [{"id": "0", "text": "Likes jazz", "event": "ADD"}]})
        append(api, session, "I like jazz")
        wait_until(lambda: StrategyExecution.objects.filter(session=session, status__in=["succeeded", "failed"])
                   .exists(), what="the execution to finish")
    execution = StrategyExecution.objects.get(session=session)
    assert (execution.status, execution.attempts) == ("succeeded", 2)
    assert Memory.objects.get(space=space).memory == "Likes jazz"


@pytest.mark.skipif(not settings.EMBEDDED_REDIS_STARTED and "REDIS_URL" in __import__("os").environ,
                    reason="stops and restarts the embedded Redis; an external REDIS_URL is not ours to stop")
def test_redis_down_loses_no_execution(celery_worker_process, api, space, caplog):
    from config.embedded import EmbeddedRedis

    redis = EmbeddedRedis(settings.DATA_DIR)
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"eventCount": 1}}])
    redis.stop()
    try:
        append(api, session, "written while the broker is down")  # the API keeps answering
        assert api.get(f"/api/v2/memory/{space.id}/sessions/{session.id}/events/").json()["total"] == 1
    finally:
        url, _ = redis.ensure_running()
    assert url == settings.REDIS_URL
    assert "could not publish" in caplog.text
    time.sleep(1)
    assert not deleted(session) and not StrategyExecution.objects.exists()
    report = services.sweep()  # the periodic sweep, once Redis is back
    assert len(report.fired) == 1
    tasks.publish_executions(report.fired)
    wait_until(lambda: deleted(session), timeout=90, what="the soft delete after Redis came back")


def test_a_soft_delete_fired_with_an_extraction_lets_it_read_the_session_first(celery_worker_process, api, space):
    """"Extract, then delete" as two strategies on one trigger: they fire in one sweep, and the soft delete's
    message may well be taken first."""
    session = make_session(space, participants=["alice"], strategies=[
        {"type": "extract_memories", "trigger": {"ttl": 3600}, "opts": {"softDelete": False}},
        {"type": "soft_delete", "trigger": {"ttl": 3600}}])
    append(api, session, "I deploy on Fridays using ArgoCD")
    services.sweep(now=session.created_at + timedelta(hours=1))
    executions = StrategyExecution.objects.filter(session=session).order_by("-strategy__type")
    tasks.publish_executions([execution.pk for execution in executions])  # soft_delete first
    wait_until(lambda: StrategyExecution.objects.filter(session=session, status="succeeded").count() == 2,
               what="both executions")
    assert deleted(session)
    assert "ArgoCD" in Memory.objects.get(space=space, user_id="alice").memory
    extraction = StrategyExecution.objects.get(session=session, strategy__type="extract_memories")
    assert "skipped" not in extraction.result


def test_a_count_threshold_reached_by_a_patch_fires_without_waiting_for_the_sweep(celery_worker_process, api,
                                                                                   space):
    """An append is not the only way to reach a threshold: a PATCH gives a session with 2 events a strategy
    on 2, and an edit makes a short message long."""
    by_strategy = make_session(space)
    append(api, by_strategy, "one", "two")
    url = f"/api/v2/memory/{space.id}/sessions/{by_strategy.id}/"
    assert api.patch(url, {"lifecycleStrategies": [{"type": "soft_delete", "trigger": {"eventCount": 2}}]},
                     format="json").status_code == 200
    by_edit = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"tokenCount": 10}}])
    append(api, by_edit, "short")
    edited = api.patch(f"/api/v2/memory/{space.id}/sessions/{by_edit.id}/events/0/",
                       {"body": {"content": "now a much longer message that certainly has ten tokens"}},
                       format="json")
    assert edited.status_code == 200
    wait_until(lambda: deleted(by_strategy) and deleted(by_edit), timeout=30, what="both soft deletes")


def test_an_execution_done_as_the_database_goes_away_is_recorded_once_it_is_back(celery_worker_process, space,
                                                                                 connection_dropped_after):
    """Its end could not be recorded: the execution stayed running for LIFECYCLE_STALE_RUNNING_SECONDS (30
    minutes), then the stale takeover ran it a second time. The worker now records it seconds later."""
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"eventCount": 1}}])
    with mock.patch.object(tasks, "publish"):  # this test runs the execution itself
        event_append_batch(session=session, events=[{**EVENT, "event_type": "message"}])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    with database_going_away() as go_away, mock.patch.object(
            services, "execution_perform", going_away_after(services.execution_perform, go_away)):
        assert tasks.run_execution.apply(args=[str(execution_id)]).get() == LEFT_RUNNING
    wait_until(lambda: StrategyExecution.objects.get(pk=execution_id).status != "running", what="the late record")
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts, execution.result) == ("succeeded", 1, {"softDeleted": True})
    assert deleted(session)


@contextmanager
def time_limited_worker(tmp_path, monkeypatch, **env):
    """A worker of the Procfile's pool (prefork, which enforces the time limits), with `env`, on a queue of its
    own: the run's shared worker has the default limits."""
    from config.celery import app

    queue = f"time-limits-{os.getpid()}"
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    worker = start_celery_worker(tmp_path / "worker.log", queue, pool="prefork", CELERY_CONCURRENCY="1", **env)
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_an_attempt_over_the_time_limit_is_recorded_as_failed_and_retried(api, user, tmp_path, monkeypatch):
    """A hung LLM call holds no worker for ever (the LLM's own timeout may be long, and mem0's other providers
    have none): the soft time limit stops the attempt, which is recorded and retried like a provider failure;
    the last one ends failed, saying why."""
    with FakeOpenAI() as fake:
        space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake.base_url)
        session = make_session(space, strategies=[{"type": "extract_memories", "trigger": {"eventCount": 1}}])
        fake.hang_next(times=2, seconds=300)
        with time_limited_worker(tmp_path, monkeypatch, TASK_SOFT_TIME_LIMIT_SECONDS="1", LIFECYCLE_MAX_RETRIES="1"):
            append(api, session, "I like jazz")
            wait_until(lambda: StrategyExecution.objects.filter(session=session, status="failed").exists(),
                       what="the execution to fail")
    execution = StrategyExecution.objects.get(session=session)
    assert (execution.attempts, execution.error) == (2, "Stopped by the time limit (TASK_SOFT_TIME_LIMIT_SECONDS)")
    assert len(fake.requests) == 2  # one LLM call per attempt, each stopped


def test_an_extraction_stopped_by_the_time_limit_after_a_chunk_goes_on_without_spending_an_attempt(
        api, user, tmp_path, monkeypatch):
    """A session longer than one attempt can extract within the time limit: an attempt stopped after it had
    recorded chunks is not counted (no retry is allowed here), and the next resumes after them."""
    with FakeOpenAI() as fake:
        space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake.base_url)
        session = make_session(space, strategies=[{"type": "extract_memories", "trigger": {"eventCount": 2},
                                                   "opts": {"softDelete": False}}])
        fake.script({"facts": ["Likes jazz"]}, {"memory": [{"id": "0", "text": "Likes jazz", "event": "ADD"}]})
        fake.hang_next(seconds=300)  # the second chunk's first call
        fake.script({"facts": ["Plays the piano"]},
                    {"memory": [{"id": "1", "text": "Plays the piano", "event": "ADD"}]})
        with time_limited_worker(tmp_path, monkeypatch, TASK_SOFT_TIME_LIMIT_SECONDS="5", LIFECYCLE_MAX_RETRIES="0",
                                 LIFECYCLE_EXTRACT_CHUNK="1"):
            append(api, session, "I like jazz", "I play the piano")
            wait_until(lambda: StrategyExecution.objects.filter(session=session, status__in=["succeeded", "failed"])
                       .exists(), what="the execution to finish")
    execution = StrategyExecution.objects.get(session=session)
    assert (execution.status, execution.attempts, execution.result["events"]) == ("succeeded", 1, 2)
    assert sorted(space.memories.values_list("memory", flat=True)) == ["Likes jazz", "Plays the piano"]
