"""The sweep, in-process, with a clock the test controls: each trigger fires when due and only then, exactly
once, in bounded set-based statements."""

import json
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from config.time_limits import LEFT_RUNNING
from lifecycle import services, tasks
from lifecycle.models import StrategyExecution
from mem0_compat.extraction import MAX_OFFLINE_FACTS
from mem0_compat.models import Memory
from memoryspaces.services import space_restore, space_soft_delete
from sessions_app.models import LifecycleStrategy, Session
from sessions_app.services import event_append_batch, session_restore, session_soft_delete
from tests.database_faults import (
    LOSE_THE_CONNECTION,
    ON_A_STANDBY,
    database_going_away,
    fails_once_with,
    kept_unpublished,
)
from tests.factories import MemorySpaceFactory, make_session

EVENT = {"body": {"content": "hello there"}, "emitter": {"type": "user", "id": "u"}, "event_type": "message"}


def strategy(trigger, value, type_="soft_delete", opts=None):
    return {"type": type_, "trigger": {trigger: value}, "opts": opts}


def fact(content):
    return {**EVENT, "body": {"content": content}}


def executions_of(session):
    return list(StrategyExecution.objects.filter(session=session))


def test_ttl_fires_when_the_session_is_old_enough_and_not_before(space):
    session = make_session(space, strategies=[strategy("ttl", 3600)])
    assert services.sweep(now=session.created_at + timedelta(seconds=3599)).fired == []
    fired = services.sweep(now=session.created_at + timedelta(seconds=3600)).fired
    assert [e.pk for e in executions_of(session)] == fired
    assert LifecycleStrategy.objects.get(session=session).fired_at is not None


def test_idle_waits_for_quiet_time_after_the_last_event(space):
    session = make_session(space, strategies=[strategy("idle", 60)])
    created = session.created_at
    event_append_batch(session=session, events=[EVENT])
    Session.objects.filter(pk=session.pk).update(last_event_at=created + timedelta(seconds=100))  # a late event
    report = services.sweep(now=created + timedelta(seconds=61))
    assert report.fired == [] and report.postponed == 1  # first due time passed, but the session was active
    assert services.sweep(now=created + timedelta(seconds=159)).fired == []
    assert len(services.sweep(now=created + timedelta(seconds=160)).fired) == 1


@pytest.mark.parametrize("type_, opts", [("soft_delete", None), ("extract_memories", {"userId": "alice"})])
def test_an_idle_strategy_whose_session_was_active_before_it_ran_waits_again(space, settings, type_, opts):
    """A worker may get to an execution long after the sweep fired it. When it runs, the session must still be
    idle (checked under its row lock); if it is not, nothing is deleted or extracted, and the strategy is due
    again a full idle time after the last event, when the sweep fires it anew through the same row."""
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[strategy("idle", 60, type_, opts)])
    [execution_id] = services.sweep(now=session.created_at + timedelta(seconds=60)).fired
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    last = session.created_at + timedelta(seconds=61)  # a second after it fired, on the test's clock
    Session.objects.filter(pk=session.pk).update(last_event_at=last)

    assert tasks.run_execution.apply(args=[str(execution_id)]).get() == "re-armed"
    assert Session.objects.get(pk=session.pk).deleted_at is None and not Memory.objects.exists()
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts) == ("rearmed", 1)
    waiting = LifecycleStrategy.objects.get(session=session)
    assert (waiting.fired_at, waiting.due_at) == (None, last + timedelta(seconds=60))

    assert services.sweep(now=last + timedelta(seconds=59)).fired == []
    assert services.sweep(now=last + timedelta(seconds=60)).fired == [execution_id]  # the same row, pending again
    execution.refresh_from_db()
    assert (execution.status, execution.attempts, execution.error) == ("pending", 0, "")
    services.execution_perform(services.execution_claim(execution_id=execution_id), now=last + timedelta(seconds=60))
    assert Session.objects.get(pk=session.pk).deleted_at is not None
    assert Memory.objects.exists() == (type_ == "extract_memories")


def test_an_idle_extraction_whose_session_comes_back_meanwhile_keeps_it_and_resumes_when_idle(space, settings):
    """The extraction reads what is appended while it runs, but the session, active again, is not soft-deleted:
    the strategy waits again, its progress kept, and when it fires anew it only has the deletion left to do."""
    from mem0_compat import services as mem0_services

    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[strategy("idle", 60, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    quiet = Session.objects.get(pk=session.pk).last_event_at + timedelta(seconds=60)
    [execution_id] = services.sweep(now=quiet).fired
    real_add, sent = mem0_services.memory_add, []

    def add_while_the_user_comes_back(**kwargs):
        sent.append([message["content"] for message in kwargs["messages"]])
        if len(sent) == 1:
            event_append_batch(session=session, events=[fact("My favourite editor is vim")])
            Session.objects.filter(pk=session.pk).update(last_event_at=quiet + timedelta(seconds=1))
        return real_add(**kwargs)

    execution = services.execution_claim(execution_id=execution_id)
    with mock.patch.object(mem0_services, "memory_add", add_while_the_user_comes_back), \
            pytest.raises(services.ExecutionRearmed) as rearmed:
        services.execution_perform(execution, now=quiet + timedelta(seconds=2))
    assert rearmed.value.due_at == quiet + timedelta(seconds=61)
    services.execution_rearm(execution, due_at=rearmed.value.due_at)
    assert Session.objects.get(pk=session.pk).deleted_at is None
    assert sent == [["I deploy on Fridays using ArgoCD"], ["My favourite editor is vim"]]

    assert services.sweep(now=quiet + timedelta(seconds=61)).fired == [execution_id]
    with mock.patch.object(mem0_services, "memory_add", add_while_the_user_comes_back):
        result = services.execution_perform(services.execution_claim(execution_id=execution_id),
                                            now=quiet + timedelta(seconds=61))
    assert len(sent) == 2  # nothing extracted twice
    assert (result["events"], result["extractedThrough"], result["softDeleted"]) == (2, 1, True)


def test_a_re_armed_strategy_sent_again_unchanged_keeps_its_execution_and_a_change_is_refused(space, settings):
    """A re-armed extraction has run (its progress is in its execution row) though it waits to fire again: a
    PATCH sending the strategies unchanged keeps its row and progress; changing it is a 409, as for one that
    fired. (It was taken for unfired and replaced: its execution, and the record of what it stored, deleted.)"""
    from config.api.errors import Conflict
    from mem0_compat import services as mem0_services
    from sessions_app.services import session_update

    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    strategies = [strategy("idle", 60, "extract_memories", {"userId": "alice"})]
    session = make_session(space, strategies=strategies)
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    quiet = Session.objects.get(pk=session.pk).last_event_at + timedelta(seconds=60)
    [execution_id] = services.sweep(now=quiet).fired
    execution = services.execution_claim(execution_id=execution_id)
    real_add = mem0_services.memory_add

    def add_while_the_user_comes_back(**kwargs):
        Session.objects.filter(pk=session.pk).update(last_event_at=quiet + timedelta(seconds=1))
        return real_add(**kwargs)

    with mock.patch.object(mem0_services, "memory_add", add_while_the_user_comes_back), \
            pytest.raises(services.ExecutionRearmed) as rearmed:
        services.execution_perform(execution, now=quiet + timedelta(seconds=2))
    services.execution_rearm(execution, due_at=rearmed.value.due_at)
    progress = StrategyExecution.objects.get(pk=execution_id).result
    assert progress  # what the first part stored

    session_update(session=Session.objects.get(pk=session.pk), fields={}, strategies=strategies)
    kept = StrategyExecution.objects.get(pk=execution_id)
    assert (kept.status, kept.result) == ("rearmed", progress)
    with pytest.raises(Conflict):
        session_update(session=Session.objects.get(pk=session.pk), fields={},
                       strategies=[strategy("idle", 120, "extract_memories", {"userId": "alice"})])
    assert StrategyExecution.objects.filter(pk=execution_id).exists()


@pytest.mark.parametrize("opts, stored", [
    ({"userId": "alice"}, 2),  # each session's memories filed under its own run_id
    ({"userId": "alice", "runId": None}, 1),  # the user's long-term memory: the second session's fact is known
])
def test_an_extraction_files_its_memories_under_the_session_unless_run_id_is_null(space, settings, opts, stored):
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    for _ in range(2):
        session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", opts)])
        event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
        [execution_id] = services.sweep().fired
        services.execution_perform(services.execution_claim(execution_id=execution_id))
    memories = Memory.objects.filter(space=space, user_id="alice")
    assert memories.count() == stored
    if "runId" in opts:
        assert memories.get().run_id is None


def test_an_extraction_the_engine_refuses_fails_at_once_rather_than_retry_what_will_fail_again(space, settings):
    """A 4xx of the engine (here: the add's metadata, merged over a memory it updates, past the bound) fails the
    same way on every retry: the execution is failed at its first attempt, saying why."""
    from config.api.errors import InvalidInput
    from mem0_compat import services as mem0_services

    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    with mock.patch.object(tasks, "publish"):
        event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    [execution_id] = services.sweep().fired
    refused = InvalidInput.at(["body", "metadata"], "metadata may take at most 65536 bytes", "too_long")
    with mock.patch.object(mem0_services, "memory_add", side_effect=refused):
        tasks.run_execution.apply(args=[str(execution_id)])
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts) == ("failed", 1)
    assert "metadata may take at most 65536 bytes" in execution.error
    assert Session.objects.get(pk=session.pk).deleted_at is None


def test_an_extraction_whose_space_goes_while_it_adds_is_retried_and_skips_not_failed_as_refused(space):
    """The engine's 404 for a space deleted between the extraction's check and its add is no refusal of the
    input: the retry finds the space deleted and skips, as it would have before the add."""
    from config.api.errors import NotFound
    from mem0_compat import services as mem0_services

    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    with mock.patch.object(tasks, "publish"):
        event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    [execution_id] = services.sweep().fired

    def space_deleted_meanwhile(**kwargs):
        space_soft_delete(space=space)
        raise NotFound("Memory space not found")

    with mock.patch.object(mem0_services, "memory_add", side_effect=space_deleted_meanwhile):
        tasks.run_execution.apply(args=[str(execution_id)])
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts, execution.result) == (
        "succeeded", 2, {"skipped": "memory space deleted"})


def extraction_fired(space) -> str:
    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    with mock.patch.object(tasks, "publish"):
        event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    [execution_id] = services.sweep().fired
    return str(execution_id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sql", [pytest.param(LOSE_THE_CONNECTION, id="connection-lost"),
                                 pytest.param(ON_A_STANDBY, id="read-only-standby")])
def test_an_extraction_the_database_failed_is_retried(space, connection_dropped_after, sql):
    """Its worker crashed recording the failure on the lost connection (or on the standby), leaving the
    execution running until the stale takeover (LIFECYCLE_STALE_RUNNING_SECONDS)."""
    from mem0_compat import services as mem0_services

    execution_id = extraction_fired(space)
    add, calls = fails_once_with(sql, mem0_services.memory_add)
    with mock.patch.object(mem0_services, "memory_add", add):
        tasks.run_execution.apply(args=[execution_id])
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts, len(calls)) == ("succeeded", 2, 2)
    assert "ArgoCD" in Memory.objects.get(space=space).memory


@pytest.mark.django_db(transaction=True)
def test_an_extraction_whose_data_the_database_refuses_fails_at_once(space):
    """Class 22 (here 22P02) fails the same way on every retry: it was retried LIFECYCLE_MAX_RETRIES times."""
    from mem0_compat import services as mem0_services

    execution_id = extraction_fired(space)
    add, calls = fails_once_with("SELECT 'forty'::integer", mem0_services.memory_add)
    with mock.patch.object(mem0_services, "memory_add", add):
        assert tasks.run_execution.apply(args=[execution_id]).get() == "failed"
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts, len(calls)) == ("failed", 1, 1)
    assert execution.error.startswith("The database cannot take a value of the request")


@pytest.mark.django_db(transaction=True)
def test_an_execution_whose_database_and_broker_are_gone_is_left_to_the_stale_takeover(
        space, connection_dropped_after, settings, caplog):
    """It cannot be recorded while the database is down, nor its record published for later with the broker
    down too: the task ends without an error of its own (it crashed on the lost connection), the execution still
    running, taken over once stale."""
    from mem0_compat import services as mem0_services

    execution_id = extraction_fired(space)
    with database_going_away() as go_away, mock.patch.object(mem0_services, "memory_add", go_away), \
            mock.patch.object(tasks.record_execution_end, "apply_async", side_effect=ConnectionError()):
        outcome = tasks.run_execution.apply(args=[execution_id])
    assert outcome.successful(), outcome.traceback
    assert "nor publish its record for later" in caplog.text
    assert StrategyExecution.objects.get(pk=execution_id).status == "running"
    later = timezone.now() + timedelta(seconds=settings.LIFECYCLE_STALE_RUNNING_SECONDS + 1)
    assert services.execution_claim(execution_id=execution_id, now=later) is not None


@pytest.mark.django_db(transaction=True)
def test_an_extraction_the_time_limit_stops_as_the_database_goes_is_deferred_once_it_is_back(
        space, two_chunk_extraction, connection_dropped_after, caplog, monkeypatch):
    """The time limit stops the attempt after a recorded chunk, with the database gone: reading whether the
    attempt had progressed (which decides if it counts) raised, and the task ended with a traceback. Its
    deferral (the attempt not counted) is recorded later, and the execution published again."""
    from contextlib import suppress

    from celery.exceptions import SoftTimeLimitExceeded
    from django.db import OperationalError

    from mem0_compat import services as mem0_services

    session, execution_id = two_chunk_extraction
    real_add = mem0_services.memory_add
    late, published = (kept_unpublished(monkeypatch, tasks.record_execution_end),
                       kept_unpublished(monkeypatch, tasks.run_execution))
    with database_going_away() as go_away:
        def stopped_on_the_second_chunk(**kwargs):
            if "vim" in kwargs["messages"][0]["content"]:
                with suppress(OperationalError):  # the connection lost with the database
                    go_away()
                raise SoftTimeLimitExceeded()
            return real_add(**kwargs)

        with mock.patch.object(mem0_services, "memory_add", stopped_on_the_second_chunk):
            outcome = tasks.run_execution.apply(args=[str(execution_id)])
    assert outcome.successful(), outcome.traceback
    assert outcome.get() == LEFT_RUNNING and f"could not record lifecycle execution {execution_id}" in caplog.text
    assert StrategyExecution.objects.get(pk=execution_id).status == "running"
    [record] = late
    assert tasks.record_execution_end.apply(args=record["args"]).get() == "defer recorded"
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts, execution.result["extractedThrough"]) == ("pending", 0, 0)
    assert published == [{"args": (str(execution_id),)}]


@pytest.mark.django_db(transaction=True)  # the write is made again on a new connection
def test_the_time_limit_landing_while_the_end_is_recorded_does_not_leave_it_running(space):
    """The soft time limit lands where it lands: here after the work, in the short write recording it. The
    execution was left running until the stale takeover (LIFECYCLE_STALE_RUNNING_SECONDS), which ran it again."""
    from celery.exceptions import SoftTimeLimitExceeded

    session = make_session(space, strategies=[strategy("eventCount", 1)])
    with mock.patch.object(tasks, "publish"):
        event_append_batch(session=session, events=[EVENT])
    [execution_id] = services.sweep().fired
    finish, writes = services.execution_finish, []

    def interrupted_once(*args, **kwargs):
        writes.append(kwargs["status"])
        if len(writes) == 1:
            raise SoftTimeLimitExceeded()
        finish(*args, **kwargs)

    with mock.patch.object(services, "execution_finish", interrupted_once):
        assert tasks.run_execution.apply(args=[str(execution_id)]).get() == "succeeded"
    assert writes == ["succeeded", "succeeded"]
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts) == ("succeeded", 1)
    assert Session.objects.get(pk=session.pk).deleted_at is not None


def test_the_sweep_reads_idle_time_on_the_database_clock_that_stamps_events(space):
    """An append stamps last_event_at with the database's clock: a worker whose own clock ran two minutes ahead
    took a session active a moment ago for idle, and deleted it."""
    session = make_session(space, strategies=[strategy("idle", 60)])
    event_append_batch(session=session, events=[EVENT])
    ahead = mock.Mock(now=lambda: timezone.now() + timedelta(minutes=2))
    with mock.patch.object(services, "timezone", ahead):
        assert services.sweep().fired == []
    assert LifecycleStrategy.objects.get(session=session).fired_at is None


@pytest.mark.parametrize("trigger", ["ttl", "idle"])
def test_a_session_is_stamped_at_creation_by_the_database_clock_the_sweep_reads(space, trigger):
    """ttl, and idle before any event, count from the session's creation, which the web process stamped with
    its own clock while the sweep compares with the database's: a web process two minutes behind made a
    session created a moment ago a minute past its 60 s, and the sweep deleted it."""
    now = timezone.now
    with mock.patch("django.utils.timezone.now", lambda: now() - timedelta(minutes=2)):
        session = make_session(space, strategies=[strategy(trigger, 60)])
    assert services.sweep().fired == []
    assert LifecycleStrategy.objects.get(session=session).due_at == session.created_at + timedelta(seconds=60)


def test_idle_of_a_session_without_events_counts_from_creation(space):
    session = make_session(space, strategies=[strategy("idle", 10)])
    assert services.sweep(now=session.created_at + timedelta(seconds=9)).fired == []
    assert len(services.sweep(now=session.created_at + timedelta(seconds=10)).fired) == 1


def test_count_triggers_fire_at_the_threshold(space):
    session = make_session(space, strategies=[strategy("eventCount", 3), strategy("tokenCount", 1000)])
    event_append_batch(session=session, events=[EVENT, EVENT])
    assert services.fire_count_triggers(session_id=session.pk) == []
    event_append_batch(session=session, events=[EVENT])
    assert len(services.fire_count_triggers(session_id=session.pk)) == 1
    assert services.fire_count_triggers(session_id=session.pk) == []  # once only
    session.refresh_from_db()
    assert (session.next_event_trigger, session.next_token_trigger) == (None, 1000)


def test_the_sweep_catches_count_triggers_whose_check_was_lost(space):
    session = make_session(space, strategies=[strategy("eventCount", 1)])
    event_append_batch(session=session, events=[EVENT])  # the check task is never run here
    assert len(services.sweep().fired) == 1
    assert services.sweep().fired == []


def test_never_and_deleted_sessions_never_fire(space):
    never = make_session(space, strategies=[strategy("never", True)])
    gone = make_session(space, strategies=[strategy("ttl", 1)])
    session_soft_delete(session=gone)
    later = never.created_at + timedelta(days=3650)
    report = services.sweep(now=later)
    assert report.fired == [] and report.parked == 1
    session_restore(session=gone)
    assert len(services.sweep(now=later).fired) == 1


def test_dry_run_changes_nothing(space):
    session = make_session(space, strategies=[strategy("ttl", 1)])
    report = services.sweep(now=session.created_at + timedelta(seconds=5), dry_run=True)
    assert len(report.fired) == 1
    assert not StrategyExecution.objects.exists()
    assert LifecycleStrategy.objects.get(session=session).fired_at is None


def test_a_sweep_is_bounded_and_the_next_one_goes_on(space, settings):
    settings.LIFECYCLE_SWEEP_BATCH = 3
    settings.LIFECYCLE_SWEEP_MAX_BATCHES = 2
    sessions = [make_session(space, strategies=[strategy("ttl", 1)]) for _ in range(10)]
    later = sessions[-1].created_at + timedelta(seconds=5)
    assert len(services.sweep(now=later).fired) == 6
    assert len(services.sweep(now=later).fired) == 4
    assert StrategyExecution.objects.count() == 10


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_fire_each_strategy_exactly_once(space):
    sessions = [make_session(space, strategies=[strategy("ttl", 1), strategy("idle", 1)]) for _ in range(40)]
    later = max(s.created_at for s in sessions) + timedelta(seconds=5)
    barrier, reports = threading.Barrier(2), []

    def sweeper():
        barrier.wait()
        try:
            reports.append(services.sweep(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fired = [execution for report in reports for execution in report.fired]
    assert len(fired) == len(set(fired)) == 80
    assert StrategyExecution.objects.count() == 80
    assert StrategyExecution.objects.values("strategy").distinct().count() == 80


def test_a_strategy_that_has_run_cannot_be_changed(api, space):
    session = make_session(space, strategies=[strategy("ttl", 1), strategy("ttl", 99999)])
    services.sweep(now=session.created_at + timedelta(seconds=5))
    url = f"/api/v2/memory/{space.id}/sessions/{session.id}/"
    changed = api.patch(url, {"lifecycleStrategies": [strategy("ttl", 2), strategy("ttl", 99999)]}, format="json")
    assert changed.status_code == 409 and changed.json()["errorName"] == "LifecycleStrategyAlreadyRun"
    removed = api.patch(url, {"lifecycleStrategies": [strategy("idle", 5)]}, format="json")
    assert removed.status_code == 409
    kept = api.patch(url, {"lifecycleStrategies": [strategy("ttl", 1), strategy("idle", 5)]}, format="json")
    assert kept.status_code == 200
    assert [(s.position, s.trigger, s.fired_at is not None) for s in
            LifecycleStrategy.objects.filter(session=session).order_by("position")] == [
        (0, "ttl", True), (1, "idle", False)]
    assert StrategyExecution.objects.filter(session=session).count() == 1


def test_strategies_that_have_run_may_be_sent_again_in_another_order(api, space):
    session = make_session(space, strategies=[strategy("ttl", 1), strategy("ttl", 2), strategy("ttl", 99999)])
    services.sweep(now=session.created_at + timedelta(seconds=5))
    ran = dict(LifecycleStrategy.objects.filter(session=session, fired_at__isnull=False)
               .values_list("threshold", "pk"))
    url = f"/api/v2/memory/{space.id}/sessions/{session.id}/"
    # a new strategy first, and the two that have run swapped
    reordered = [strategy("idle", 5), strategy("ttl", 2), strategy("ttl", 1)]
    answer = api.patch(url, {"lifecycleStrategies": reordered}, format="json")
    assert answer.status_code == 200
    assert [s["trigger"] for s in answer.json()["lifecycleStrategies"]] == [{"idle": 5}, {"ttl": 2}, {"ttl": 1}]
    rows = LifecycleStrategy.objects.filter(session=session).order_by("position")
    assert [(s.position, s.trigger, s.threshold, s.fired_at is not None) for s in rows] == [
        (0, "idle", 5, False), (1, "ttl", 2, True), (2, "ttl", 1, True)]
    # the rows that ran are the same rows, still holding their executions
    assert {s.threshold: s.pk for s in rows if s.fired_at} == ran
    assert sorted(StrategyExecution.objects.filter(session=session).values_list("strategy__threshold", flat=True)) == [
        1, 2]
    assert api.patch(url, {"lifecycleStrategies": [strategy("ttl", 2), strategy("idle", 5)]},
                     format="json").status_code == 409  # ttl 1 has run: it cannot go


def test_session_counts_are_untouched_by_a_sweep(space):
    session = make_session(space, strategies=[strategy("ttl", 1)])
    services.sweep(now=session.created_at + timedelta(seconds=5))
    assert Session.objects.get(pk=session.pk).deleted_at is None  # firing is not running


def test_a_count_strategy_set_by_patch_fires_once(api, space):
    session = make_session(space)  # the default: soft delete on a 180-day ttl
    url = f"/api/v2/memory/{space.id}/sessions/{session.id}/"
    assert api.patch(url, {"lifecycleStrategies": [strategy("eventCount", 2)]}, format="json").status_code == 200
    assert Session.objects.get(pk=session.pk).next_event_trigger == 2
    event_append_batch(session=session, events=[EVENT, EVENT, EVENT])  # its check task is never run here
    assert len(services.sweep().fired) == 1
    assert services.sweep().fired == []
    assert len(executions_of(session)) == 1


def test_a_replaced_count_strategy_leaves_no_threshold_to_starve_the_sweep(api, space, settings):
    settings.LIFECYCLE_SWEEP_BATCH = 1
    replaced = make_session(space, strategies=[strategy("eventCount", 1)])
    url = f"/api/v2/memory/{space.id}/sessions/{replaced.id}/"
    assert api.patch(url, {"lifecycleStrategies": [strategy("ttl", 3600)]}, format="json").status_code == 200
    assert Session.objects.get(pk=replaced.pk).next_event_trigger is None
    event_append_batch(session=replaced, events=[EVENT])
    due = make_session(space, strategies=[strategy("eventCount", 1)])
    event_append_batch(session=due, events=[EVENT])
    # A stale threshold kept `replaced` first in the one-row batch, over and over, and `due` never fired.
    assert len(services.sweep().fired) == 1
    assert len(executions_of(due)) == 1 and executions_of(replaced) == []


def test_strategies_in_a_deleted_space_wait_until_it_is_restored(space):
    timed = make_session(space, strategies=[strategy("ttl", 1, "extract_memories", {"userId": "alice"}),
                                            strategy("idle", 60)])
    counted = make_session(space, strategies=[strategy("eventCount", 1)])
    event_append_batch(session=counted, events=[EVENT])  # its check task is never run here
    space_soft_delete(space=space)
    later = timed.created_at + timedelta(seconds=120)
    report = services.sweep(now=later)
    assert report.fired == [] and report.parked == 2
    assert services.fire_count_triggers(session_id=counted.pk) == []
    assert not StrategyExecution.objects.exists()
    assert services.sweep(now=later).parked == 0  # parked: out of the index, not taken again

    space_restore(space=space)
    assert len(services.sweep(now=later).fired) == 3
    assert (len(executions_of(timed)), len(executions_of(counted))) == (2, 1)


def test_a_deleted_space_restored_schedules_idle_from_the_last_activity(space):
    session = make_session(space, strategies=[strategy("idle", 60)])
    Session.objects.filter(pk=session.pk).update(last_event_at=session.created_at + timedelta(seconds=100))
    space_soft_delete(space=space)
    assert services.sweep(now=session.created_at + timedelta(seconds=61)).parked == 1
    assert LifecycleStrategy.objects.get(session=session).due_at is None
    space_restore(space=space)
    assert LifecycleStrategy.objects.get(session=session).due_at == session.created_at + timedelta(seconds=160)


def test_deleted_session_stays_parked_when_its_space_is_restored(space):
    session = make_session(space, strategies=[strategy("ttl", 1)])
    session_soft_delete(session=session)
    space_soft_delete(space=space)
    later = session.created_at + timedelta(seconds=5)
    assert services.sweep(now=later).parked == 1
    space_restore(space=space)
    assert services.sweep(now=later).fired == []
    assert LifecycleStrategy.objects.get(session=session).due_at is None


def test_sessions_of_deleted_spaces_do_not_starve_the_count_catch_up(space, settings):
    settings.LIFECYCLE_SWEEP_BATCH = 1
    other_space = MemorySpaceFactory(owner=space.owner)
    hidden = make_session(other_space, strategies=[strategy("eventCount", 1)])
    event_append_batch(session=hidden, events=[EVENT])
    space_soft_delete(space=other_space)
    due = make_session(space, strategies=[strategy("eventCount", 1)])
    event_append_batch(session=due, events=[EVENT])
    assert len(services.sweep().fired) == 1
    assert len(executions_of(due)) == 1 and executions_of(hidden) == []


def test_a_long_extraction_renews_its_claim_with_every_chunk(space, settings):
    """Otherwise, once LIFECYCLE_STALE_RUNNING_SECONDS had passed since its claim, it would look like the work
    of a dead worker: published again and run a second time beside the first."""
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    settings.LIFECYCLE_EXTRACT_CHUNK = 1
    session = make_session(space, strategies=[strategy("ttl", 1, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[EVENT, EVENT])
    later = session.created_at + timedelta(seconds=5)
    [execution_id] = services.sweep(now=later).fired
    long_ago = later - timedelta(seconds=settings.LIFECYCLE_STALE_RUNNING_SECONDS)
    execution = services.execution_claim(execution_id=execution_id, now=long_ago)
    services.execution_perform(execution)
    execution.refresh_from_db()
    assert execution.updated_at > long_ago + timedelta(seconds=settings.LIFECYCLE_STALE_RUNNING_SECONDS - 60)
    assert services.execution_claim(execution_id=execution_id) is None  # no longer stale: nobody takes it over


def test_an_execution_fired_before_its_space_was_deleted_writes_nothing_into_it(space, settings):
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    space_soft_delete(space=space)  # before a worker gets to it
    result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    assert result == {"skipped": "memory space deleted"}
    assert not Memory.objects.filter(space=space).exists()
    assert Session.objects.get(pk=session.pk).deleted_at is None  # nor is its session soft-deleted


def test_an_execution_fired_before_its_session_was_deleted_does_nothing(space, settings):
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    session_soft_delete(session=session)
    result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    assert result == {"skipped": "session deleted"}
    assert not Memory.objects.filter(space=space).exists()


@pytest.fixture
def two_chunk_extraction(space, settings):
    """An offline extraction fired on a session of two facts, one chunk each: (session, execution id)."""
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    settings.LIFECYCLE_EXTRACT_CHUNK = 1
    session = make_session(space, strategies=[strategy("eventCount", 2, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD"),
                                                fact("My favourite editor is vim")])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    return session, execution_id


def test_a_late_record_of_an_execution_s_end_counts_its_progress_and_never_ends_a_later_claim(
        space, two_chunk_extraction, settings, monkeypatch):
    """An end recorded late (the database gone at the attempt's end) is written while the execution is still as
    its claim left it, the chunks it recorded since included; it may also arrive after a retry has claimed the
    execution, or a stale takeover: the later claim's run must not be ended by it."""
    session, execution_id = two_chunk_extraction
    published = kept_unpublished(monkeypatch, tasks.run_execution)
    first = services.execution_claim(execution_id=execution_id)
    services.execution_perform(first)  # its chunks recorded as it went, each renewing the claim
    deferred = [{"pk": str(execution_id), "strategy_id": first.strategy_id, "started_at": first.started_at},
                "defer", {"reason": "Stopped by the time limit"}, True]
    assert tasks.record_execution_end.apply(args=deferred).get() == "defer recorded"
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.attempts, published) == ("pending", 0, [{"args": (str(execution_id),)}])

    retry = services.execution_claim(execution_id=execution_id)
    assert tasks.record_execution_end.apply(args=deferred).get() == "not recorded"  # the same record, again
    later = timezone.now() + timedelta(seconds=settings.LIFECYCLE_STALE_RUNNING_SECONDS + 1)
    taken_over = services.execution_claim(execution_id=execution_id, now=later)
    succeeded = [{"pk": str(execution_id), "strategy_id": retry.strategy_id, "started_at": retry.started_at},
                 "finish", {"status": "succeeded", "result": {"softDeleted": True}}, False]
    assert tasks.record_execution_end.apply(args=succeeded).get() == "not recorded"
    execution = StrategyExecution.objects.get(pk=execution_id)
    assert (execution.status, execution.started_at, execution.attempts) == ("running", taken_over.started_at, 2)
    assert len(published) == 1


def test_an_extraction_stops_at_the_next_chunk_once_its_space_is_deleted(space, two_chunk_extraction):
    from mem0_compat import services as mem0_services

    session, execution_id = two_chunk_extraction
    real_add = mem0_services.memory_add

    def add_then_delete_the_space(**kwargs):
        added = real_add(**kwargs)
        space_soft_delete(space=space)
        return added

    with mock.patch.object(mem0_services, "memory_add", add_then_delete_the_space):
        result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    assert (result["stopped"], len(result["memories"])) == ("memory space deleted", 1)
    assert Memory.objects.filter(space=space).count() == 1 and "softDeleted" not in result


def test_a_retried_extraction_resumes_after_the_chunks_it_stored(space, settings):
    """The LLM is asked about each chunk once, and older messages are not replayed over what later ones
    changed."""
    from tests.fakes import FakeOpenAI

    settings.LIFECYCLE_EXTRACT_CHUNK = 1
    with FakeOpenAI() as fake:
        space.llm_model_name, space.llm_base_url = "gpt-4o-mini", fake.base_url
        space.save()
        session = make_session(space, strategies=[strategy("eventCount", 2, "extract_memories",
                                                           {"userId": "alice"})])
        event_append_batch(session=session, events=[fact("I live in Paris"), fact("I moved to Berlin")])
        [execution_id] = services.fire_count_triggers(session_id=session.pk)
        fake.script({"facts": ["Lives in Paris"]}, {"memory": [{"id": "0", "text": "Lives in Paris",
                                                                "event": "ADD"}]})
        fake.fail_next(500, times=2)  # the second chunk's fact extraction (the OpenAI client retries once)
        execution = services.execution_claim(execution_id=execution_id)
        with pytest.raises(services.ExecutionFailed):
            services.execution_perform(execution)
        services.execution_finish(execution, status=StrategyExecution.Status.PENDING, error="LLM down")
        assert [m.memory for m in Memory.objects.filter(space=space)] == ["Lives in Paris"]
        asked_before = len(fake.requests)

        fake.script({"facts": ["Lives in Berlin"]}, {"memory": [{"id": "0", "text": "Lives in Berlin",
                                                                 "event": "UPDATE", "old_memory": "Lives in Paris"}]})
        result = services.execution_perform(services.execution_claim(execution_id=execution_id))
        retry_prompts = [json.dumps(body["messages"]) for body in fake.requests[asked_before:]]
    assert len(retry_prompts) == 2 and not any("I live in Paris" in prompt for prompt in retry_prompts)
    assert [m.memory for m in Memory.objects.filter(space=space)] == ["Lives in Berlin"]
    assert result["events"] == 2 and result["extractedThrough"] == 1
    assert [m["event"] for m in result["memories"]] == ["ADD", "UPDATE"]


def test_a_soft_delete_fired_with_an_extraction_waits_for_it(space, settings):
    """"Extract, then delete" as two strategies with the same trigger: both fire in one sweep, and whichever
    worker gets there first, the extraction reads the session before it is gone."""
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[
        strategy("idle", 60, "extract_memories", {"userId": "alice", "softDelete": False}), strategy("idle", 60)])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    quiet = timezone.now() + timedelta(seconds=61)
    services.sweep(now=quiet)
    by_type = {e.strategy.type: e.pk for e in StrategyExecution.objects.filter(session=session)
               .select_related("strategy")}
    deletion = services.execution_claim(execution_id=by_type["soft_delete"])
    with pytest.raises(services.ExecutionDeferred):
        services.execution_perform(deletion, now=quiet)  # the soft delete's worker got there first
    assert Session.objects.get(pk=session.pk).deleted_at is None
    services.execution_defer(deletion, reason="waiting")
    deferred = StrategyExecution.objects.get(pk=deletion.pk)
    assert (deferred.status, deferred.attempts, deferred.error) == ("pending", 0, "waiting")  # no attempt spent

    extraction = services.execution_claim(execution_id=by_type["extract_memories"])
    services.execution_finish(extraction, status="succeeded", result=services.execution_perform(extraction, now=quiet))
    assert [m.memory for m in Memory.objects.filter(space=space, user_id="alice")] != []
    assert services.execution_perform(services.execution_claim(execution_id=deletion.pk), now=quiet) == {
        "softDeleted": True}


def test_a_soft_delete_waits_for_a_re_armed_extraction_that_is_due_again(space, settings):
    """"Extract, then delete" on idle, and the user comes back after both fired: the extraction is re-armed,
    due a minute after the last event. A backlogged soft delete running after that minute, before the next
    sweep has fired the extraction again, finds the session idle; it must wait for the extraction, not delete
    the session under it (which parked it for good: nothing extracted)."""
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[
        strategy("idle", 60, "extract_memories", {"userId": "alice", "softDelete": False}), strategy("idle", 60)])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    quiet = Session.objects.get(pk=session.pk).last_event_at + timedelta(seconds=60)
    services.sweep(now=quiet)
    by_type = {e.strategy.type: e.pk for e in StrategyExecution.objects.filter(session=session)
               .select_related("strategy")}
    event_append_batch(session=session, events=[fact("My favourite editor is vim")])
    Session.objects.filter(pk=session.pk).update(last_event_at=quiet + timedelta(seconds=1))
    extraction = services.execution_claim(execution_id=by_type["extract_memories"])
    with pytest.raises(services.ExecutionRearmed) as rearmed:
        services.execution_perform(extraction, now=quiet + timedelta(seconds=2))
    services.execution_rearm(extraction, due_at=rearmed.value.due_at)

    again = quiet + timedelta(seconds=61)  # idle for a minute again; the sweep has not run since
    deletion = services.execution_claim(execution_id=by_type["soft_delete"])
    with pytest.raises(services.ExecutionDeferred):
        services.execution_perform(deletion, now=again)
    assert Session.objects.get(pk=session.pk).deleted_at is None
    services.execution_defer(deletion)

    assert services.sweep(now=again).fired == [by_type["extract_memories"]]
    extraction = services.execution_claim(execution_id=by_type["extract_memories"])
    services.execution_finish(extraction, status="succeeded", result=services.execution_perform(extraction, now=again))
    assert Memory.objects.filter(space=space, user_id="alice").count() == 2
    assert services.execution_perform(services.execution_claim(execution_id=by_type["soft_delete"]), now=again) == {
        "softDeleted": True}


def test_events_appended_while_an_extraction_runs_are_extracted_before_it_deletes_the_session(space, settings):
    from mem0_compat import services as mem0_services

    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[fact("I deploy on Fridays using ArgoCD")])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    real_add, sent = mem0_services.memory_add, []

    def add_while_the_user_goes_on(**kwargs):
        sent.append([message["content"] for message in kwargs["messages"]])
        if len(sent) == 1:
            event_append_batch(session=session, events=[fact("My favourite editor is vim")])
        return real_add(**kwargs)

    with mock.patch.object(mem0_services, "memory_add", add_while_the_user_goes_on):
        result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    assert sent == [["I deploy on Fridays using ArgoCD"], ["My favourite editor is vim"]]
    assert (result["events"], result["extractedThrough"], result["softDeleted"]) == (2, 1, True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def until_connection_waits_for_a_lock(pid: int):
    """Until a transaction of connection `pid` (not any other: a Celery worker's may wait too) waits for a
    lock."""
    with connection.cursor() as cursor:
        for _ in range(500):
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %(pid)s", {"pid": pid})
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.02)
    raise AssertionError(f"connection {pid} did not come to wait for a lock")


@pytest.mark.django_db(transaction=True)
def test_a_count_trigger_firing_while_the_strategies_are_patched_does_not_deadlock(space):
    """The check locked the strategy rows, then the session row (to refresh its thresholds); a PATCH locks
    the session row, then the strategy rows. Caught between the two, one of them was killed as a deadlock.
    (The append's own check is left out, as in the test above: a worker that other tests started would fire
    the strategy first, and this test's check would then find nothing to fire.)"""
    from sessions_app.services import session_update

    session = make_session(space, strategies=[strategy("eventCount", 1)])
    with mock.patch.object(tasks, "publish") as published:
        event_append_batch(session=session, events=[EVENT])
    assert published.call_count == 1  # the check left out
    real_refresh, errors, locked, patcher = services.count_triggers_refresh, [], threading.Event(), {}
    patcher_connected = threading.Event()

    def refresh_once_the_patch_waits(**kwargs):
        locked.set()  # the strategy fired: its row is locked until commit
        assert patcher_connected.wait(timeout=30)
        until_connection_waits_for_a_lock(patcher["pid"])  # the PATCH's
        return real_refresh(**kwargs)

    def patch_the_strategies():
        patcher["pid"] = backend_pid()
        patcher_connected.set()
        session_update(session=session, fields={}, strategies=[strategy("eventCount", 1), strategy("ttl", 60)])

    def run(work):
        try:
            work()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(services, "count_triggers_refresh", refresh_once_the_patch_waits):
        fire = threading.Thread(target=run, args=(lambda: services.fire_count_triggers(session_id=session.pk),))
        fire.start()
        assert locked.wait(timeout=30)
        patch = threading.Thread(target=run, args=(patch_the_strategies,))
        patch.start()
        fire.join()
        patch.join()
    assert errors == []
    assert len(executions_of(session)) == 1
    assert LifecycleStrategy.objects.filter(session=session).count() == 2


def test_an_extraction_whose_session_is_deleted_between_attempts_keeps_the_record_of_what_it_stored(
        space, two_chunk_extraction):
    from config.api.errors import UpstreamFailed
    from mem0_compat import services as mem0_services

    session, execution_id = two_chunk_extraction
    real_add = mem0_services.memory_add

    def fail_on_the_second_chunk(**kwargs):
        if "vim" in kwargs["messages"][0]["content"]:
            raise UpstreamFailed("LLM down")
        return real_add(**kwargs)

    execution = services.execution_claim(execution_id=execution_id)
    with mock.patch.object(mem0_services, "memory_add", fail_on_the_second_chunk), \
            pytest.raises(services.ExecutionFailed):
        services.execution_perform(execution)
    services.execution_finish(execution, status=StrategyExecution.Status.PENDING, error="LLM down")
    session_soft_delete(session=session)  # before the retry
    result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    assert (result["stopped"], result["events"], result["extractedThrough"]) == ("session deleted", 1, 0)
    assert [m["id"] for m in result["memories"]] == [str(m.pk) for m in Memory.objects.filter(space=space)]


@pytest.mark.django_db(transaction=True)
def test_the_check_after_an_append_waits_for_the_session_row_rather_than_skip_it(space):
    """Another append (or an edit) holding the session row for a moment must not make the check miss a
    threshold until the next sweep. (The append's own check, published to a Celery worker, is left out: a
    worker that other tests started would race this one to fire the strategy.)"""
    session = make_session(space, strategies=[strategy("eventCount", 1)])
    with mock.patch.object(tasks, "publish") as published:
        event_append_batch(session=session, events=[EVENT])
    assert published.call_count == 1  # the check left out
    held, checker = threading.Event(), backend_pid()

    def hold_the_session_row():
        try:
            with transaction.atomic():
                Session.objects.select_for_update().filter(pk=session.pk).first()
                held.set()
                until_connection_waits_for_a_lock(checker)  # this test's check
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_session_row)
    holder.start()
    assert held.wait(timeout=30)
    fired = services.fire_count_triggers(session_id=session.pk)
    holder.join()
    assert len(fired) == 1


def test_an_extraction_whose_chunk_holds_more_facts_than_one_add_takes_stores_them_all(space, settings):
    """The offline extractor takes MAX_OFFLINE_FACTS facts an add (more is a 422 to an API caller). A chunk of
    chatty events, or one long event, holds more: it goes through the engine in halves, down to parts of one
    event's text, instead of failing the extraction."""
    settings.LLM_MODEL = None
    settings.LIFECYCLE_EXTRACT_CHUNK = 40
    many = MAX_OFFLINE_FACTS + 40
    chatty = [fact(" ".join(f"I like chatty{i}x{j}." for j in range(6))) for i in range(many // 6)]
    long_one = fact(" ".join(f"I like long{i}." for i in range(many)))
    session = make_session(space, strategies=[strategy("eventCount", len(chatty) + 1, "extract_memories",
                                                       {"userId": "alice"})])
    event_append_batch(session=session, events=[*chatty, long_one])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    stored = set(Memory.objects.filter(space=space).values_list("memory", flat=True))
    assert stored == {f"Likes chatty{i}x{j}" for i in range(many // 6) for j in range(6)} | {
        f"Likes long{i}" for i in range(many)}
    assert result["events"] == len(chatty) + 1 and result["softDeleted"]


def test_an_extraction_reads_the_conversation_not_status_or_tool_output_events(space, settings):
    """Only messages are the conversation mem0 extracts from: a status line or a tool's output, whoever emitted
    it, says nothing about the user (mem0 itself drops tool messages)."""
    settings.LLM_MODEL = settings.LLM_BASE_URL = None
    session = make_session(space, strategies=[strategy("eventCount", 3, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[fact("I like jazz"),
                                                {**fact("I live in Paris"), "event_type": "status"},
                                                {**fact("I work at Acme"), "event_type": "tool_output"}])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    result = services.execution_perform(services.execution_claim(execution_id=execution_id))
    assert list(Memory.objects.filter(space=space).values_list("memory", flat=True)) == ["Likes jazz"]
    assert (result["events"], result["softDeleted"]) == (1, True)  # the events after the last message delay nothing


@pytest.mark.parametrize("separator", ["\n", "! "])
def test_one_long_events_text_is_split_between_its_sentences_whatever_ends_them(space, settings, separator):
    """A text past the offline extractor's bound is halved between sentences: it looked for ". " only, so lines
    (or sentences ending in "!") were cut mid-word, and the fact at the cut was stored as two pieces."""
    settings.LLM_MODEL = None
    many = MAX_OFFLINE_FACTS + 40
    terminator = separator.strip()
    long_one = fact(separator.join(f"I like long{i}{terminator}" for i in range(many)))
    session = make_session(space, strategies=[strategy("eventCount", 1, "extract_memories", {"userId": "alice"})])
    event_append_batch(session=session, events=[long_one])
    [execution_id] = services.fire_count_triggers(session_id=session.pk)
    services.execution_perform(services.execution_claim(execution_id=execution_id))
    stored = set(Memory.objects.filter(space=space).values_list("memory", flat=True))
    assert stored == {f"Likes long{i}" for i in range(many)}
