"""Operators' commands: purge_deleted, sweep_lifecycle, lifecycle_status."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from config.api.errors import Conflict
from lifecycle import services
from lifecycle.models import StrategyExecution
from lifecycle.purge import purge
from mem0_compat.models import Memory, MemoryHistory, MemoryInput
from mem0_compat.services import memory_add
from memoryspaces.models import MemorySpace
from memoryspaces.services import space_restore
from sessions_app.models import Event, LifecycleStrategy, Session
from sessions_app.services import event_append_batch, session_restore
from tests.factories import MemoryFactory, MemorySpaceFactory, make_session

EVENT = {"body": {"content": "hi"}, "emitter": {"type": "user", "id": "u"}, "event_type": "message"}


def days_ago(days):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def world(user):
    """Rows deleted 10 days ago (to purge), 2 days ago (too recent) and live ones, at every level."""
    space = MemorySpaceFactory(owner=user)
    old_session, new_session, live_session = (make_session(space) for _ in range(3))
    for session in (old_session, new_session, live_session):
        event_append_batch(session=session, events=[EVENT, EVENT])
    services.sweep(now=timezone.now() + timedelta(days=400))  # gives the sessions executions to purge too
    Session.objects.filter(pk=old_session.pk).update(deleted_at=days_ago(10))
    Session.objects.filter(pk=new_session.pk).update(deleted_at=days_ago(2))
    Event.objects.filter(session=live_session, sequence_id=0).update(deleted_at=days_ago(10))
    old_memory = MemoryFactory(space=space, deleted_at=days_ago(10))
    MemoryHistory.objects.create(space=space, memory_id=old_memory.pk, event="ADD", new_memory=old_memory.memory)
    new_memory = MemoryFactory(space=space, deleted_at=days_ago(2))
    live_memory = MemoryFactory(space=space)
    gone_space = MemorySpaceFactory(owner=user, deleted_at=days_ago(10))
    gone_session = make_session(gone_space)
    event_append_batch(session=gone_session, events=[EVENT])
    MemoryFactory(space=gone_space)
    return locals()


def test_purge_removes_exactly_what_is_older_than_the_cutoff(world, capsys):
    call_command("purge_deleted", "--older-than", "7")
    output = capsys.readouterr().out
    assert output.startswith("Purged ") and "2 sessions" in output and "1 spaces" in output
    assert set(Session.objects.values_list("pk", flat=True)) == {world["new_session"].pk, world["live_session"].pk}
    assert not Event.objects.filter(session__in=[world["old_session"].pk]).exists()
    assert list(Event.objects.filter(session=world["live_session"]).values_list("sequence_id", flat=True)) == [1]
    assert Event.objects.filter(session=world["new_session"]).count() == 2
    assert set(Memory.objects.values_list("pk", flat=True)) == {world["new_memory"].pk, world["live_memory"].pk}
    assert MemoryHistory.objects.filter(memory_id=world["old_memory"].pk).exists()  # history outlives it
    assert not MemorySpace.objects.filter(pk=world["gone_space"].pk).exists()
    assert not StrategyExecution.objects.filter(session_id=world["old_session"].pk).exists()
    assert not LifecycleStrategy.objects.filter(session_id=world["old_session"].pk).exists()


def test_purging_a_space_removes_its_history_and_the_messages_it_points_to(world):
    gone_space = world["gone_space"]
    memory_add(space=gone_space, messages=[{"role": "user", "content": "Likes tea"}], scope={"user_id": "a"},
               infer=False)
    purge(cutoff=days_ago(7), spaces=True, sessions=False, memories=False)
    assert not MemoryHistory.objects.filter(space=gone_space).exists()
    assert not MemoryInput.objects.filter(space=gone_space).exists()


def test_purge_can_be_limited_to_one_kind(world):
    call_command("purge_deleted", "--older-than", "7", "--memories")
    assert not Memory.objects.filter(pk=world["old_memory"].pk).exists()
    assert Session.objects.filter(pk=world["old_session"].pk).exists()
    assert MemorySpace.objects.filter(pk=world["gone_space"].pk).exists()


def test_purge_in_small_batches_gives_the_same_result(world):
    call_command("purge_deleted", "--older-than", "7", "--batch-size", "1")
    assert Session.objects.count() == 2 and Memory.objects.count() == 2


def test_purge_dry_run_counts_everything_the_purge_would_delete_and_deletes_nothing(world, capsys):
    before = (Session.objects.count(), Event.objects.count(), Memory.objects.count())
    call_command("purge_deleted", "--older-than", "7", "--dry-run")
    # What hangs under the old session and the deleted space counts too; the live session's deleted event once.
    output = capsys.readouterr().out
    assert "Dry run: would purge 1 executions, 2 strategies, 4 events, 2 sessions, 2 memories, 1 spaces (" in output
    assert (Session.objects.count(), Event.objects.count(), Memory.objects.count()) == before


@pytest.mark.parametrize("kinds", [(), ("--spaces",), ("--sessions",), ("--memories",), ("--sessions", "--spaces")])
def test_purge_dry_run_counts_what_the_purge_then_reports(world, capsys, kinds):
    call_command("purge_deleted", "--older-than", "7", "--dry-run", *kinds)
    preview = capsys.readouterr().out.removeprefix("Dry run: would purge ").split(" (deleted before")[0]
    call_command("purge_deleted", "--older-than", "7", *kinds)
    assert capsys.readouterr().out.removeprefix("Purged ").split(" (deleted before")[0] == preview


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "-inf", "1e10", "36601"])
def test_purge_refuses_a_number_of_days_out_of_range(db, days):
    with pytest.raises(CommandError, match="--older-than must be a number of days from 0 to 36600"):
        call_command("purge_deleted", f"--older-than={days}", "--dry-run")


def test_purge_accepts_the_whole_range(world, capsys):
    for days in ("0", "36600"):
        call_command("purge_deleted", "--older-than", days, "--dry-run")
    assert capsys.readouterr().out.count("Dry run: would purge") == 2


def test_purge_refuses_a_batch_size_below_one(db):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("purge_deleted", "--older-than", "7", "--batch-size", "0")


def test_sweep_command_fires_due_strategies_and_dry_run_does_not(space, capsys):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"ttl": 1}}])
    Session.objects.filter(pk=session.pk).update(created_at=days_ago(1))
    LifecycleStrategy.objects.filter(session=session).update(due_at=days_ago(1))
    call_command("sweep_lifecycle", "--dry-run")
    assert "Dry run: would have fired 1" in capsys.readouterr().out
    assert not StrategyExecution.objects.exists()
    call_command("sweep_lifecycle")
    assert "Sweep: fired 1" in capsys.readouterr().out
    assert StrategyExecution.objects.get().session_id == session.pk


def test_lifecycle_status_counts_strategies_and_executions(space, capsys):
    make_session(space)  # the default 180-day soft delete
    make_session(space, strategies=[{"type": "extract_memories", "trigger": {"eventCount": 5}}])
    call_command("lifecycle_status")
    output = capsys.readouterr().out
    assert "soft_delete" in output and "ttl" in output and "extract_memories" in output
    assert "Executions: pending 0, running 0, succeeded 0, failed 0, rearmed 0." in output


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["session", "space"])
def test_a_restore_while_a_purge_runs_never_brings_back_half_of_what_was_purged(world, kind):
    """An operator restores a deleted session (or space) between two of the purge's transactions, from another
    connection: it is refused, and the purge removes all of it. It used to be restored with its strategies
    and events (or sessions and memories) already gone."""
    target = world["old_session"] if kind == "session" else world["gone_space"]
    outcome = []

    def restore() -> None:
        try:
            if kind == "session":
                session_restore(session=target)
            else:
                space_restore(space=target)
            outcome.append("restored")
        except Conflict as exc:
            outcome.append(exc.detail)
        finally:
            connections.close_all()

    def restore_once(rows: int) -> None:
        if rows and not outcome:  # once the purge has removed something of it
            thread = threading.Thread(target=restore)
            thread.start()
            thread.join()

    purge(cutoff=days_ago(7), spaces=kind == "space", sessions=kind == "session", memories=False, batch_size=1,
          progress=restore_once)
    # all of it, or none of it
    if kind == "session":
        assert (Session.objects.filter(pk=target.pk).exists()
                == StrategyExecution.objects.filter(session_id=target.pk).exists()
                == LifecycleStrategy.objects.filter(session_id=target.pk).exists()
                == Event.objects.filter(session_id=target.pk).exists())
    else:
        assert (MemorySpace.objects.filter(pk=target.pk).exists()
                == LifecycleStrategy.objects.filter(session__space_id=target.pk).exists()
                == Event.objects.filter(session__space_id=target.pk).exists()
                == Memory.objects.filter(space_id=target.pk).exists())
    assert "being purged" in outcome[0]


@pytest.mark.django_db(transaction=True)
def test_a_restore_once_the_purge_is_over_goes_through(world):
    purge(cutoff=days_ago(7), spaces=False, sessions=False, memories=True)
    session_restore(session=world["new_session"])
    assert Session.objects.get(pk=world["new_session"].pk).deleted_at is None
