"""`async_mode` adds run on a real Celery worker process: the answer is PENDING at once, the status route
follows the request to SUCCEEDED, and a provider failure (or an embedder awaiting `reembed`) is retried with
backoff before it succeeds."""

import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from config.celery import app
from config.time_limits import LEFT_RUNNING
from mem0_compat import selectors, services
from mem0_compat.models import AddRequest, Memory
from tests.conftest import start_celery_worker
from tests.database_faults import (
    LOSE_THE_CONNECTION,
    ON_A_STANDBY,
    database_going_away,
    fails_once_with,
    going_away_after,
    kept_unpublished,
)
from tests.factories import MemorySpaceFactory
from tests.fakes import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_status(api, space, event_id, wanted, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/api/v2/memory/{space.id}/v1/event/{event_id}/").json()
        if status["status"] in wanted:
            return status
        time.sleep(0.2)
    raise AssertionError(f"still {status['status']} after {timeout} s")


def add_async(api, space, text):
    response = api.post(f"/api/v2/memory/{space.id}/v3/memories/add/",
                        {"messages": [{"role": "user", "content": text}], "user_id": "alice", "infer": False,
                         "async_mode": True}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    return response.json()["event_id"]


def test_an_async_add_is_done_by_the_worker(celery_worker_process, api, space):
    event_id = add_async(api, space, "Queued: likes jazz")
    status = wait_for_status(api, space, event_id, {"SUCCEEDED", "FAILED"})
    assert status["status"] == "SUCCEEDED", status
    assert [r["memory"] for r in status["results"]] == ["Queued: likes jazz"]
    assert Memory.objects.filter(space=space, memory="Queued: likes jazz").exists()


def test_a_failing_llm_is_retried_then_succeeds(celery_worker_process, api, user):
    with FakeOpenAI() as fake:
        space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake.base_url)
        fake.fail_next(500, times=2)  # first attempt fails (the OpenAI client retries once itself)
        fake.script({"facts": ["Likes jazz"]}, {"memory": [{"id": "0", "text": "Likes jazz", "event": "ADD"}]})
        response = api.post(f"/api/v2/memory/{space.id}/v3/memories/add/",
                            {"messages": [{"role": "user", "content": "I like jazz"}], "user_id": "alice",
                             "async_mode": True}, format="json")
        status = wait_for_status(api, space, response.json()["event_id"], {"SUCCEEDED", "FAILED"})
    assert status["status"] == "SUCCEEDED", status
    assert Memory.objects.get(space=space).memory == "Likes jazz"
    assert "retry" in celery_worker_process.log_path.read_text().lower()


def test_an_async_add_queued_during_an_embedder_change_waits_for_reembed(api, space, settings, tmp_path,
                                                                        monkeypatch, recorded_embedder):
    """The operator has switched EMBEDDER (the worker runs with the new one) but not yet run `reembed`: the add
    is retried, not stored beside vectors of another embedder, and done once `reembed` has run."""
    queue = f"reembed-{os.getpid()}"  # a worker of this test only: the run's shared one has the old embedder
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    worker = start_celery_worker(tmp_path / "worker.log", queue, EMBEDDER="minilm-int8")
    try:
        event_id = add_async(api, space, "Queued: likes jazz")
        deadline = time.monotonic() + 60
        while "retry" not in worker.log_path.read_text().lower():
            assert AddRequest.objects.get(pk=event_id).status in ("PENDING", "RUNNING")
            assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
            time.sleep(0.2)
        assert not Memory.objects.filter(space=space).exists()
        settings.EMBEDDER = "minilm-int8"
        call_command("reembed")
        status = wait_for_status(api, space, event_id, {"SUCCEEDED", "FAILED"})
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert status["status"] == "SUCCEEDED", status
    assert Memory.objects.get(space=space).memory == "Queued: likes jazz"


def test_an_add_stopped_by_the_time_limit_in_a_statement_is_retried(api, space, tmp_path, monkeypatch):
    """The soft time limit may stop an add in the middle of a statement, here one waiting for the lock that a
    concurrent add of the same text holds: the request goes back to PENDING saying why (on a new database
    connection: the old one is still busy with the statement), is retried, and is done once the lock is free."""
    import psycopg
    from django.db import connection

    from mem0_compat import tasks

    queue = f"time-limit-{os.getpid()}"  # a worker of this test only, of the pool that enforces time limits
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    text, db = "Queued: likes jazz", connection.settings_dict
    request = AddRequest.objects.create(space=space, payload={
        "messages": [{"role": "user", "content": text}], "user_id": "alice", "infer": False})
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                         dbname=db["NAME"]) as other_add:
        other_add.execute(services._LOCK_TEXTS, {"space": str(space.pk), "scope": services._scope_key(
            {"user_id": "alice"}), "hashes": [services.text_hash(text)]})
        worker = start_celery_worker(tmp_path / "worker.log", queue, pool="prefork", CELERY_CONCURRENCY="1")
        try:
            # The limits travel in the message: as a process with TASK_SOFT_TIME_LIMIT_SECONDS=3 publishes it.
            tasks.run_add_request.apply_async([str(request.pk)], soft_time_limit=3)
            deadline, stopped = time.monotonic() + 60, "Stopped by the time limit (TASK_SOFT_TIME_LIMIT_SECONDS)"
            while AddRequest.objects.get(pk=request.pk).error != stopped:
                assert AddRequest.objects.get(pk=request.pk).status in ("PENDING", "RUNNING")
                assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
                time.sleep(0.2)
            other_add.rollback()
            status = wait_for_status(api, space, request.pk, {"SUCCEEDED", "FAILED"})
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert status["status"] == "SUCCEEDED", status
    assert Memory.objects.get(space=space).memory == text


def broker_down(*args, **kwargs):
    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_with_the_broker_down_the_api_answers_and_the_request_stays_pending(api, space, caplog, monkeypatch):
    """The request is recorded in PostgreSQL before publishing, so a failed publish loses nothing."""
    from mem0_compat import tasks

    monkeypatch.setattr(tasks.run_add_request, "apply_async", broker_down)
    event_id = add_async(api, space, "kept for later")
    assert AddRequest.objects.get(pk=event_id).status == "PENDING"
    assert f"could not publish add request {event_id}" in caplog.text


def test_a_request_whose_publish_failed_is_published_again_and_done(celery_worker_process, api, space,
                                                                     monkeypatch):
    """Nothing is lost when the broker was down: the beat task publishes the request again once it has been
    PENDING for ADD_REQUEST_REPUBLISH_AFTER_SECONDS, and the worker does it."""
    from mem0_compat import tasks

    with monkeypatch.context() as broker:
        broker.setattr(tasks.run_add_request, "apply_async", broker_down)
        lost = add_async(api, space, "Published late: likes jazz")
    fresh = AddRequest.objects.create(space=space, payload={})  # its message may still be on its way
    AddRequest.objects.filter(pk=lost).update(updated_at=timezone.now() - timedelta(minutes=3))
    assert tasks.republish_add_requests() == 1
    status = wait_for_status(api, space, lost, {"SUCCEEDED", "FAILED"})
    assert status["status"] == "SUCCEEDED", status
    assert Memory.objects.filter(space=space, memory="Published late: likes jazz").count() == 1
    assert AddRequest.objects.get(pk=fresh.pk).status == "PENDING"


def test_republishing_takes_pending_ones_after_a_while_and_running_ones_only_when_stale(space):
    now = timezone.now()
    ages = {"PENDING": (60, 180), "RUNNING": (600, 3600), "SUCCEEDED": (3600,), "FAILED": (3600,)}
    made = {(status, age): AddRequest.objects.create(space=space, payload={}, status=status).pk
            for status, seconds in ages.items() for age in seconds}
    for (_, age), pk in made.items():
        AddRequest.objects.filter(pk=pk).update(updated_at=now - timedelta(seconds=age))
    assert list(selectors.add_requests_to_republish(now=now)) == [made["RUNNING", 3600], made["PENDING", 180]]


def test_a_request_is_claimed_by_one_worker_only(space, settings):
    request = AddRequest.objects.create(space=space, payload={})
    assert services.add_request_claim(request_id=request.pk).status == "RUNNING"
    assert services.add_request_claim(request_id=request.pk) is None  # a second message for it
    later = timezone.now() + timedelta(seconds=settings.ADD_REQUEST_STALE_RUNNING_SECONDS + 1)
    assert services.add_request_claim(request_id=request.pk, now=later).status == "RUNNING"  # its worker died
    AddRequest.objects.filter(pk=request.pk).update(status="SUCCEEDED")
    assert services.add_request_claim(request_id=request.pk, now=later) is None


def test_a_request_that_no_longer_validates_ends_failed_not_running(space):
    from mem0_compat import tasks

    request = AddRequest.objects.create(space=space, payload={"messages": 5, "user_id": "alice"})
    assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == "failed"
    request.refresh_from_db()
    assert request.status == "FAILED" and "ValidationError" in request.error


def test_a_failure_of_the_service_itself_is_not_told_to_the_tenant(api, space, monkeypatch, caplog):
    """A bug's or the database's own message (SQL, internal host names) goes to the log, not into the status
    the tenant reads: a synchronous add answers such a failure with a bare 500."""
    from django.db import ProgrammingError

    from mem0_compat import tasks

    def broken(**kwargs):
        raise ProgrammingError('relation "secret_table" does not exist\nLINE 1: SELECT token FROM secret_table')

    monkeypatch.setattr(services, "memory_add_request", broken)
    request = AddRequest.objects.create(space=space, payload={
        "messages": [{"role": "user", "content": "I deploy on Fridays"}], "user_id": "alice", "infer": False})
    assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == "failed"
    status = api.get(f"/api/v2/memory/{space.id}/v1/event/{request.pk}/").json()
    assert status["status"] == "FAILED" and status["error"] == "Internal server error"
    assert "secret_table" in caplog.text  # for the operator


def test_an_add_queued_before_its_space_was_deleted_writes_nothing_into_it(space):
    from mem0_compat import tasks
    from memoryspaces.services import space_soft_delete

    request = AddRequest.objects.create(space=space, payload={
        "messages": [{"role": "user", "content": "I deploy on Fridays"}], "user_id": "alice", "infer": False})
    space_soft_delete(space=space)  # before a worker gets to it
    assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == "failed"
    request.refresh_from_db()
    assert request.status == "FAILED" and "deleted" in request.error
    assert not Memory.objects.filter(space=space).exists()


def test_beat_publishes_again_twice_as_often_as_the_wait(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["add-requests-republish"]
    assert entry == {"task": "mem0_compat.tasks.republish_add_requests",
                     "schedule": settings.ADD_REQUEST_REPUBLISH_AFTER_SECONDS / 2}


def test_custom_categories_reach_the_worker(celery_worker_process, api, space):
    response = api.post(f"/api/v2/memory/{space.id}/v3/memories/add/",
                        {"messages": "Loves sushi and ramen", "user_id": "alice", "infer": False,
                         "async_mode": True, "categories": ["chat"],
                         "custom_categories": [{"food": "Anything about food and drinks"}]}, format="json")
    status = wait_for_status(api, space, response.json()["event_id"], {"SUCCEEDED", "FAILED"})
    assert status["status"] == "SUCCEEDED", status
    assert Memory.objects.get(space=space).categories == ["chat", "food"]


FRIDAYS = {"messages": [{"role": "user", "content": "I deploy on Fridays"}], "user_id": "alice", "infer": False}


@pytest.mark.parametrize("sql", [pytest.param(LOSE_THE_CONNECTION, id="connection-lost"),
                                 pytest.param(ON_A_STANDBY, id="read-only-standby")])
def test_an_add_the_database_failed_is_retried_like_a_provider_outage(space, monkeypatch, sql,
                                                                     connection_dropped_after):
    """It ended FAILED "Internal server error" at once (or its worker crashed recording that on the lost
    connection, leaving it RUNNING): the database coming back is a matter of seconds."""
    from mem0_compat import tasks

    add, calls = fails_once_with(sql, services.memory_add_request)
    monkeypatch.setattr(services, "memory_add_request", add)
    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == "succeeded"
    assert len(calls) == 2
    assert Memory.objects.get(space=space).memory == "I deploy on Fridays"


def test_an_add_whose_data_the_database_refuses_fails_saying_so(space, monkeypatch):
    """Class 22 (here 22P02): the same data fails the same way on every retry. It was "Internal server error"."""
    from mem0_compat import tasks

    add, calls = fails_once_with("SELECT 'forty'::integer", services.memory_add_request)
    monkeypatch.setattr(services, "memory_add_request", add)
    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == "failed"
    request.refresh_from_db()
    assert (request.status, request.error) == ("FAILED", "The database cannot take a value of the request")
    assert len(calls) == 1


def test_an_add_whose_database_and_broker_are_gone_is_left_to_the_stale_takeover(space, monkeypatch, settings,
                                                                                 connection_dropped_after, caplog):
    """The request cannot be marked for a retry while the database is down, nor its record published for later
    with the broker down too: the task ends without an error of its own, and the request, still RUNNING, is
    taken over once stale (it crashed on the lost connection)."""
    from mem0_compat import tasks

    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    monkeypatch.setattr(tasks.record_add_request_end, "apply_async", broker_down)
    with database_going_away() as go_away:
        monkeypatch.setattr(services, "memory_add_request", go_away)
        outcome = tasks.run_add_request.apply(args=[str(request.pk)])
    assert outcome.successful(), outcome.traceback
    assert "nor publish its record for later" in caplog.text
    assert AddRequest.objects.get(pk=request.pk).status == "RUNNING"
    later = timezone.now() + timedelta(seconds=settings.ADD_REQUEST_STALE_RUNNING_SECONDS + 1)
    assert services.add_request_claim(request_id=request.pk, now=later) is not None


def test_an_add_done_as_the_database_goes_away_shows_succeeded_once_it_is_back(celery_worker_process, api, space,
                                                                              monkeypatch, connection_dropped_after):
    """Its end could not be recorded: the request showed RUNNING for ADD_REQUEST_STALE_RUNNING_SECONDS (30
    minutes), then the stale takeover added it a second time. The worker now records it seconds later."""
    from mem0_compat import tasks

    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    with database_going_away() as go_away:
        monkeypatch.setattr(services, "memory_add_request", going_away_after(services.memory_add_request, go_away))
        assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == LEFT_RUNNING
    status = wait_for_status(api, space, request.pk, {"SUCCEEDED", "FAILED"})
    assert status["status"] == "SUCCEEDED", status
    assert [result["memory"] for result in status["results"]] == ["I deploy on Fridays"]
    assert Memory.objects.get(space=space).memory == "I deploy on Fridays"


def test_an_add_retry_recorded_late_is_published_with_its_count(space, monkeypatch, connection_dropped_after):
    """The database went away during the add: the late record, retried while the database is still gone,
    writes PENDING and publishes the retry, counted (MAX_RETRIES bounds the retries across late records)."""
    from mem0_compat import tasks

    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    late, retried = (kept_unpublished(monkeypatch, tasks.record_add_request_end),
                     kept_unpublished(monkeypatch, tasks.run_add_request))
    with database_going_away() as go_away:
        monkeypatch.setattr(services, "memory_add_request", go_away)
        assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == LEFT_RUNNING
    assert AddRequest.objects.get(pk=request.pk).status == "RUNNING"
    [record] = late
    finish, calls = fails_once_with(LOSE_THE_CONNECTION, services.add_request_finish)
    monkeypatch.setattr(services, "add_request_finish", finish)
    assert tasks.record_add_request_end.apply(args=record["args"]).get() == "pending"
    assert len(calls) == 2  # once more after the connection was lost
    request.refresh_from_db()
    assert request.status == "PENDING" and "the database does not answer" in request.error
    assert retried == [{"args": [str(request.pk)], "retries": 1}]


def test_a_late_record_changes_nothing_once_the_request_is_claimed_again(space, settings, monkeypatch):
    """A record published for later may arrive after a stale takeover, or after the retry it published has
    claimed the request: it must not write the end of an attempt over a later one."""
    from mem0_compat import tasks

    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    first = services.add_request_claim(request_id=request.pk)
    record = [{"pk": str(request.pk), "updated_at": first.updated_at},
              {"status": "SUCCEEDED", "results": [], "error": ""}, 0]
    later = timezone.now() + timedelta(seconds=settings.ADD_REQUEST_STALE_RUNNING_SECONDS + 1)
    taken_over = services.add_request_claim(request_id=request.pk, now=later)
    assert tasks.record_add_request_end.apply(args=record).get() == "not recorded"
    request.refresh_from_db()
    assert (request.status, request.updated_at, request.results) == ("RUNNING", taken_over.updated_at, None)

    retried = kept_unpublished(monkeypatch, tasks.run_add_request)
    pending = [record[0], {"status": "PENDING", "results": None, "error": "LLM down"}, 1]
    assert services.add_request_finish(request=taken_over, status="SUCCEEDED", results=[{"id": "x"}])
    assert tasks.record_add_request_end.apply(args=pending).get() == "not recorded"
    request.refresh_from_db()
    assert (request.status, request.results, retried) == ("SUCCEEDED", [{"id": "x"}], [])


def test_the_time_limit_landing_while_the_end_is_recorded_does_not_leave_it_running(space, monkeypatch):
    """The soft time limit lands where it lands: here after the add, in the short write recording it. The
    request was left RUNNING until the stale takeover (ADD_REQUEST_STALE_RUNNING_SECONDS), which added again."""
    from celery.exceptions import SoftTimeLimitExceeded
    from django.db.models import QuerySet

    from mem0_compat import tasks

    update, writes = QuerySet.update, []

    def interrupted_once(queryset, **fields):
        if queryset.model is AddRequest and fields.get("status") == "SUCCEEDED":
            writes.append(fields["status"])
            if len(writes) == 1:
                raise SoftTimeLimitExceeded()
        return update(queryset, **fields)

    request = AddRequest.objects.create(space=space, payload=FRIDAYS)
    monkeypatch.setattr(QuerySet, "update", interrupted_once)
    assert tasks.run_add_request.apply(args=[str(request.pk)]).get() == "succeeded"
    assert writes == ["SUCCEEDED", "SUCCEEDED"]
    assert AddRequest.objects.get(pk=request.pk).status == "SUCCEEDED"
