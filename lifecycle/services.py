"""Lifecycle strategies, made to happen.

Firing: a due strategy gets exactly one StrategyExecution row. The set-based statements below pick due
strategies through the partial index on `due_at` (ttl/idle) or on the sessions' counters minus their next
thresholds (eventCount/tokenCount), lock them with FOR UPDATE SKIP LOCKED (two racing sweeps take disjoint
rows), mark them fired and insert the executions with ON CONFLICT DO NOTHING (the unique strategy id is the
last guard). Sessions are only ever looked up by primary key from the strategies picked, so a pass costs
what it picks, not the size of the tables. Each statement handles at most `LIFECYCLE_SWEEP_BATCH` rows and a
sweep at most `LIFECYCLE_SWEEP_MAX_BATCHES` statements, so its cost is bounded whatever the number of sessions.

Running: `tasks.run_execution` claims the row (pending, or running for longer than the stale limit after a
worker died) in one UPDATE, does the work, and records success or the error while the row is still that
claim's (`_as_claimed`: a record made late, after a database outage, never overwrites a later claim). The state
is in PostgreSQL; the Celery message only says "look at row X", and the sweep re-publishes rows whose message
may have been lost. An idle
strategy's session may have had events between its firing and its run: the run checks, under the session's
row lock, that it is still idle, and otherwise re-arms the strategy (`ExecutionRearmed`), which fires again,
through the same execution row, once the session is idle.

Clock: idle time counts from last_event_at, which appends stamp with the database's clock; the sweep and the
run compare it with that clock too (not the worker's, which may be off), unless a test gives its own `now`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from config.queries import database_now, work_to_republish
from lifecycle.models import StrategyExecution
from mem0_compat.models import ENTITY_FIELDS
from memoryspaces.models import MemorySpace
from sessions_app.models import Event, LifecycleStrategy, Session
from sessions_app.services import (
    count_triggers_refresh,
    session_active_until,
    session_soft_delete,
    session_soft_delete_read_through,
)

logger = logging.getLogger(__name__)

STRATEGIES = LifecycleStrategy._meta.db_table
SESSIONS = Session._meta.db_table
SPACES = MemorySpace._meta.db_table
EXECUTIONS = StrategyExecution._meta.db_table

# Both ways of firing end alike: a pending execution for each strategy in `fired` (one per strategy ever:
# a re-armed one goes back to pending, keeping its result, an extraction's progress; any other is left alone).
_CREATE_EXECUTIONS = f"""created AS (
        INSERT INTO {EXECUTIONS} AS ex (id, strategy_id, session_id, status, attempts, due_at, error, created_at,
                                        updated_at)
        SELECT gen_random_uuid(), fired.id, fired.session_id, 'pending', 0, %(now)s, '', %(now)s, %(now)s
          FROM fired
        ON CONFLICT (strategy_id) DO UPDATE
           SET status = 'pending', attempts = 0, due_at = excluded.due_at, started_at = NULL, finished_at = NULL,
               error = '', updated_at = excluded.updated_at
         WHERE ex.status = 'rearmed'
     RETURNING id, session_id
    )"""

_FIRE = f"""
    WITH fired AS (
        UPDATE {STRATEGIES} AS st SET fired_at = %(now)s
         WHERE st.id IN ({{due}})
     RETURNING st.id, st.session_id
    ), {_CREATE_EXECUTIONS}
    SELECT id, session_id FROM created
"""

# A soft-deleted space hides its sessions: their strategies wait until it is restored. The session rows are
# locked with the strategies, before them, as a PATCH of the strategies and a restore lock them: firing then
# refreshes the session's thresholds, and taking its row only then would deadlock with such a PATCH.
_DUE_BY_COUNT = f"""
    SELECT st.id FROM {STRATEGIES} st JOIN {SESSIONS} s ON s.id = st.session_id
                                      JOIN {SPACES} m ON m.id = s.space_id AND m.deleted_at IS NULL
     WHERE st.fired_at IS NULL AND s.deleted_at IS NULL AND s.id IN ({{sessions}})
       AND ((st.trigger = 'eventCount' AND s.event_count >= st.threshold)
            OR (st.trigger = 'tokenCount' AND s.token_count >= st.threshold))
     LIMIT %(batch)s
       FOR UPDATE OF s, st SKIP LOCKED
"""

# Also skips sessions of deleted spaces here, or they would fill every batch while never firing.
_SESSIONS_OVER_COUNT = f"""
    (SELECT s.id FROM {SESSIONS} s JOIN {SPACES} m ON m.id = s.space_id AND m.deleted_at IS NULL
      WHERE s.next_event_trigger IS NOT NULL AND s.deleted_at IS NULL
        AND s.event_count - s.next_event_trigger >= 0 LIMIT %(batch)s)
    UNION
    (SELECT s.id FROM {SESSIONS} s JOIN {SPACES} m ON m.id = s.space_id AND m.deleted_at IS NULL
      WHERE s.next_token_trigger IS NOT NULL AND s.deleted_at IS NULL
        AND s.token_count - s.next_token_trigger >= 0 LIMIT %(batch)s)
"""

# One pass over the waiting strategies whose due time has come, oldest first, read from the partial index
# and locked (SKIP LOCKED: a concurrent sweep takes other rows). Each is then, by its session and space
# (looked up by primary key): parked when either is deleted (it leaves the index; restoring the session or
# the space schedules it again), postponed when it is an idle strategy of a session that was active since
# (lazy due times), or fired.
_TIME_PASS = f"""
    WITH due AS MATERIALIZED (
        SELECT st.id, st.session_id, st.trigger, st.threshold FROM {STRATEGIES} st
         WHERE st.fired_at IS NULL AND st.due_at IS NOT NULL AND st.due_at <= %(now)s
         ORDER BY st.due_at LIMIT %(batch)s
           FOR UPDATE OF st SKIP LOCKED
    ), classified AS MATERIALIZED (
        SELECT due.id, due.session_id,
               coalesce(s.last_event_at, s.created_at) + due.threshold * interval '1 second' AS idle_due,
               CASE WHEN s.deleted_at IS NOT NULL OR m.deleted_at IS NOT NULL THEN 'park'
                    WHEN due.trigger = 'idle'
                         AND coalesce(s.last_event_at, s.created_at) + due.threshold * interval '1 second'
                             > %(now)s THEN 'postpone'
                    ELSE 'fire' END AS action
          FROM due JOIN {SESSIONS} s ON s.id = due.session_id JOIN {SPACES} m ON m.id = s.space_id
    ), parked AS (
        UPDATE {STRATEGIES} st SET due_at = NULL FROM classified c
         WHERE st.id = c.id AND c.action = 'park' RETURNING st.id
    ), postponed AS (
        UPDATE {STRATEGIES} st SET due_at = c.idle_due FROM classified c
         WHERE st.id = c.id AND c.action = 'postpone' RETURNING st.id
    ), fired AS (
        UPDATE {STRATEGIES} st SET fired_at = %(now)s FROM classified c
         WHERE st.id = c.id AND c.action = 'fire' RETURNING st.id, st.session_id
    ), {_CREATE_EXECUTIONS}
    SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM parked), (SELECT count(*) FROM postponed),
           ARRAY(SELECT id FROM created)
"""


@dataclass
class SweepReport:
    fired: list = field(default_factory=list)  # execution ids created
    postponed: int = 0  # idle strategies moved forward
    parked: int = 0  # strategies of deleted sessions, or of sessions in deleted spaces, out of the schedule
    republished: list = field(default_factory=list)  # executions whose message may have been lost

    def summary(self) -> dict:
        return {"fired": len(self.fired), "postponed": self.postponed, "parked": self.parked,
                "republished": len(self.republished)}


def sweep(*, now: datetime | None = None, dry_run: bool = False) -> SweepReport:
    """One pass: fire due ttl/idle strategies and count triggers that were missed, move idle due times
    forward, and list executions to (re)publish. Bounded; run it again to go on. `now` is for tests."""
    report = SweepReport()
    with transaction.atomic():
        # The database's clock, which stamped last_event_at: a worker's clock running ahead would fire idle
        # strategies of sessions still active (behind: late).
        now = now or database_now()
        params = {"now": now, "batch": settings.LIFECYCLE_SWEEP_BATCH}
        for _ in range(settings.LIFECYCLE_SWEEP_MAX_BATCHES):
            with connection.cursor() as cursor:
                cursor.execute(_TIME_PASS, params)
                taken, parked, postponed, fired = cursor.fetchone()
            report.parked += parked
            report.postponed += postponed
            report.fired += fired
            if taken < params["batch"]:
                break
        report.fired += _fire_by_count(_SESSIONS_OVER_COUNT, params)
        report.republished = _to_republish(now)
        if dry_run:
            transaction.set_rollback(True)
    return report


def fire_count_triggers(*, session_id, now: datetime | None = None) -> list:
    """After a change reached a threshold (`count_trigger_reached`): the executions of this session's due count
    strategies."""
    params = {"now": now or timezone.now(), "batch": settings.LIFECYCLE_SWEEP_BATCH, "session": session_id}
    with transaction.atomic():
        # Waits for the session row (an append or an edit holds it for milliseconds) rather than skip it, as
        # the statement below would: this check is the one that should fire what was reached.
        Session.objects.select_for_update().filter(pk=session_id).values_list("pk").first()
        return _fire_by_count("%(session)s", params)


def _fire_by_count(sessions: str, params: dict) -> list:
    """Fire the due count strategies of the sessions `sessions` (SQL selecting their ids) and recompute those
    sessions' next thresholds. Returns the ids of the executions created."""
    with connection.cursor() as cursor:
        cursor.execute(_FIRE.format(due=_DUE_BY_COUNT.format(sessions=sessions)), params)
        rows = cursor.fetchall()
    if rows:
        count_triggers_refresh(session_ids=list({session_id for _, session_id in rows}))
    return [execution_id for execution_id, _ in rows]


def _to_republish(now: datetime) -> list:
    """Pending executions not picked up for a while, and running ones whose worker seems to have died."""
    return list(work_to_republish(StrategyExecution, now=now, pending=StrategyExecution.Status.PENDING,
                                  running=StrategyExecution.Status.RUNNING,
                                  pending_after=settings.LIFECYCLE_REPUBLISH_AFTER_SECONDS,
                                  running_after=settings.LIFECYCLE_STALE_RUNNING_SECONDS,
                                  limit=settings.LIFECYCLE_SWEEP_BATCH))


# --- running an execution --------------------------------------------------------------------------------
class ExecutionFailed(Exception):
    """The work failed in a way worth retrying (an LLM or embedder outage)."""


class ExecutionRefused(Exception):
    """The work cannot succeed as it stands (the engine refused its input): failed at once, not retried."""


class ExecutionDeferred(Exception):
    """Not yet: the work waits for another execution of the session (run it again later; no attempt spent)."""


class ExecutionRearmed(Exception):
    """An idle strategy's session was active after it fired: nothing destructive was done, and the strategy is
    to wait again, until `due_at` (`execution_rearm`)."""

    def __init__(self, due_at: datetime):
        super().__init__(due_at)
        self.due_at = due_at


def execution_claim(*, execution_id, now: datetime | None = None) -> StrategyExecution | None:
    """pending → running (or a stale running one taken over), in one UPDATE; None if someone else has it or
    it is finished."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.LIFECYCLE_STALE_RUNNING_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {EXECUTIONS} SET status = 'running', attempts = attempts + 1, started_at = %(now)s,
                       updated_at = %(now)s
                 WHERE id = %(id)s AND (status = 'pending' OR (status = 'running' AND updated_at < %(stale)s))
             RETURNING id""",
            {"id": execution_id, "now": now, "stale": stale_before},
        )
        claimed = cursor.fetchone()
    if claimed is None:
        return None
    return StrategyExecution.objects.select_related("strategy", "session", "session__space").get(pk=execution_id)


def execution_perform(execution: StrategyExecution, *, now: datetime | None = None) -> dict:
    """Do what the strategy says. Raises ExecutionFailed for a failure worth retrying, ExecutionRearmed when
    an idle strategy's session is no longer idle (`_check_still_idle`; `now` is for tests).

    An execution fired before its session or space was soft-deleted writes nothing there: it ends as done,
    its result saying why it skipped (the strategy has fired; restoring does not run it again), or, for an
    extraction an earlier attempt of which stored chunks, that record with why it stopped."""
    strategy, session = execution.strategy, execution.session
    if deleted := _deleted_scope(session):
        if execution.result:  # an earlier attempt stored chunks: its record stays, stopped as a later chunk is
            return {**execution.result, "stopped": f"{deleted} deleted"}
        return {"skipped": f"{deleted} deleted"}
    if strategy.type == LifecycleStrategy.Type.SOFT_DELETE:
        return {"softDeleted": _soft_delete(execution, now=now)}
    return _extract_memories(execution, session, strategy.opts or {}, now=now)


def _check_still_idle(execution: StrategyExecution, *, now: datetime | None) -> None:
    """For an idle strategy: raise ExecutionRearmed unless its session is still idle for the threshold (it may
    have had events between the sweep's firing and this run). Locks the session row to the end of the
    caller's transaction (`session_active_until`)."""
    strategy = execution.strategy
    if strategy.trigger != LifecycleStrategy.Trigger.IDLE:
        return
    if due := session_active_until(session=execution.session, idle=strategy.threshold, now=now):
        raise ExecutionRearmed(due)


def _extraction_unfinished(execution: StrategyExecution, *, now: datetime | None) -> bool:
    """Whether an extraction of the execution's session has fired and not finished, or, re-armed, is due to
    fire again (the next sweep fires it). A soft delete waits for it: "extract, then delete" is often written
    as two strategies on one trigger, which fire in one sweep, and a soft delete run first would leave the
    extraction a deleted session to skip. A re-armed one not yet due waits, as an unfired one, for its session
    to be idle: an idle soft delete with its threshold is then re-armed too (`_check_still_idle`)."""
    unfinished = Q(status__in=[StrategyExecution.Status.PENDING, StrategyExecution.Status.RUNNING]) | Q(
        status=StrategyExecution.Status.REARMED, strategy__due_at__lte=now or Now())
    return (StrategyExecution.objects.filter(unfinished, session_id=execution.session_id,
                                             strategy__type=LifecycleStrategy.Type.EXTRACT_MEMORIES)
            .exclude(pk=execution.pk).exists())


def _deleted_scope(session: Session) -> str | None:
    """"session" or "memory space" when that is soft-deleted now (read afresh: the claim's copy may be old)."""
    row = Session.objects.filter(pk=session.pk).values("deleted_at", "space__deleted_at").first()
    if row is None or row["deleted_at"] is not None:
        return "session"
    return "memory space" if row["space__deleted_at"] is not None else None


def _as_claimed(execution: StrategyExecution) -> QuerySet[StrategyExecution]:
    """The row of `execution` while it is still as the attempt's claim left it (`execution_claim`): running,
    with that claim's started_at, which nothing else writes while it runs (a chunk's progress renews
    updated_at only). An attempt's end is recorded there alone: recorded late (`config.time_limits.recorded`),
    it finds no row once the execution was claimed again (taken over once stale, retried) or has ended."""
    return StrategyExecution.objects.filter(pk=execution.pk, status=StrategyExecution.Status.RUNNING,
                                            started_at=execution.started_at)


def execution_finish(execution: StrategyExecution, *, status: str, result: dict | None = None,
                     error: str = "") -> bool:
    """Record the attempt's end (`_as_claimed`), saying whether it did. Without a `result` (a failed attempt)
    the one recorded stays: an extraction's progress, from which its next attempt resumes."""
    finished = status in (StrategyExecution.Status.SUCCEEDED, StrategyExecution.Status.FAILED)
    fields = {"result": result} if result is not None else {}
    return bool(_as_claimed(execution).update(status=status, error=error[:10_000], updated_at=timezone.now(),
                                              finished_at=timezone.now() if finished else None, **fields))


def execution_defer(execution: StrategyExecution, *, reason: str = "") -> bool:
    """Back to pending after an ExecutionDeferred, the attempt not counted (the caller publishes it again
    later; the sweep also re-publishes it once it has been pending for LIFECYCLE_REPUBLISH_AFTER_SECONDS).
    Whether it was (`_as_claimed`)."""
    return bool(_as_claimed(execution).update(status=StrategyExecution.Status.PENDING,
                                              attempts=F("attempts") - 1, error=reason, updated_at=timezone.now()))


@transaction.atomic
def execution_rearm(execution: StrategyExecution, *, due_at: datetime) -> bool:
    """After an ExecutionRearmed: the execution rests as rearmed (its result, an extraction's progress, kept)
    and its idle strategy waits again, unfired, due at `due_at`; the sweep fires it then, or later if the
    session is still active (`_TIME_PASS` postpones it), through this same row (`_CREATE_EXECUTIONS`).
    Whether it was (`_as_claimed`). Locks the execution row, then the strategy row (a sweep skips neither: the
    strategy has fired until now)."""
    rearmed = _as_claimed(execution).update(
        status=StrategyExecution.Status.REARMED, updated_at=timezone.now(),
        error=f"re-armed: the session was active after this fired; due again at {due_at.isoformat()}")
    if rearmed:
        LifecycleStrategy.objects.filter(pk=execution.strategy_id).update(fired_at=None, due_at=due_at)
    return bool(rearmed)


def execution_progressed(execution: StrategyExecution) -> bool:
    """Whether the attempt of `execution` (as claimed) has recorded progress since: an extraction's chunks."""
    recorded = StrategyExecution.objects.filter(pk=execution.pk).values_list("result", flat=True).first()
    return recorded != execution.result


def execution_retry(*, execution_id) -> bool:
    """An operator's re-run of a failed execution: back to pending (the caller publishes it), with its
    attempts counted afresh, so that it has as many retries as a first run (it used to get one)."""
    return bool(StrategyExecution.objects.filter(pk=execution_id, status=StrategyExecution.Status.FAILED)
                .update(status=StrategyExecution.Status.PENDING, error="", finished_at=None, attempts=0,
                        updated_at=timezone.now()))


@transaction.atomic
def _soft_delete(execution: StrategyExecution, *, now: datetime | None) -> bool:
    """Raises ExecutionDeferred while an extraction of the session is unfinished (`_extraction_unfinished`).

    Locking: an idle strategy's check locks the session row, so no event comes between it and the delete. The
    extraction is looked at after that check, on a clock no earlier: a session idle for the soft delete's
    threshold is idle for an extraction's equal one, which is then seen as due."""
    from config.api.errors import NotFound

    _check_still_idle(execution, now=now)
    if _extraction_unfinished(execution, now=now):
        raise ExecutionDeferred("waiting for the session's memory extraction to finish")
    try:
        session_soft_delete(session=execution.session)
    except NotFound:
        return False  # already deleted: the goal is reached
    return True


def _extract_memories(execution: StrategyExecution, session: Session, opts: dict, *,
                      now: datetime | None) -> dict:
    """The session's messages, in order and in chunks, through the memory engine into the session's space, then
    (opts `softDelete`, the default) the session soft-deleted. Messages appended meanwhile are read too: the
    soft delete happens under the session's row lock only once no live message is left unread, so none
    appended before it goes unextracted, and none can be appended after it. An idle strategy checks that its
    session is idle before it reads (an active one is extracted once it is idle, whole) and again, under that
    lock, before it deletes (`_check_still_idle`).
    Scope: opts userId/agentId/runId/appId, defaulting to the participant as user_id and the session as run_id;
    userId or runId given as null sets none (runId null: the user's long-term memory, across sessions, where a
    fact learnt in one session updates or is known in the next).
    A session or space deleted meanwhile stops it before the next chunk (the result says so).

    Each chunk done is recorded in the execution's result (`extractedThrough`: the last event's sequence id),
    which also renews its claim, so that a long extraction (one LLM call per chunk) is not taken for the work
    of a dead worker after LIFECYCLE_STALE_RUNNING_SECONDS and run a second time beside it. An attempt resumes
    after the last chunk recorded: a retry neither pays the LLM again for the chunks done nor replays older
    messages over the memories later ones changed. A chunk stored but not recorded (the worker died in
    between) is sent again, and texts already stored in the scope are not stored twice."""
    from config.api.errors import RETRYABLE, DomainError, NotFound

    scope = {"user_id": opts.get("userId", session.participants[0]), "agent_id": opts.get("agentId"),
             "run_id": opts.get("runId", str(session.pk)), "app_id": opts.get("appId")}
    scope = {key: value for key, value in scope.items() if key in ENTITY_FIELDS and value}
    progress = {"events": 0, "memories": [], "scope": scope, **(execution.result or {})}
    checked, stopped = True, None  # execution_perform has just checked that the session and space live
    _check_still_idle(execution, now=now)
    try:
        while True:
            todo = _unread_messages(session, after=progress.get("extractedThrough", -1))
            if not todo and not opts.get("softDelete", True):
                break
            if not todo:
                with transaction.atomic():
                    _check_still_idle(execution, now=now)
                    deleted = session_soft_delete_read_through(session=session, event_type=EXTRACTED,
                                                               sequence_id=progress.get("extractedThrough", -1))
                if deleted is not None:
                    progress["softDeleted"] = deleted
                    break
                continue  # appended since it was read
            for start in range(0, len(todo), settings.LIFECYCLE_EXTRACT_CHUNK):
                if not checked and (stopped := _deleted_scope(session)):
                    break
                checked = False
                progress = _extract_chunk(execution, session, todo[start:start + settings.LIFECYCLE_EXTRACT_CHUNK],
                                          scope=scope, progress=progress, metadata=opts.get("metadata"))
            if stopped:
                progress["stopped"] = f"{stopped} deleted"
                break
    except RETRYABLE as exc:
        raise ExecutionFailed(str(exc.detail)) from exc
    except DomainError as exc:  # a 4xx of the engine: this input fails the same way on every retry
        if isinstance(exc, NotFound):
            raise  # the space deleted since the last check: the retry stops there (`_deleted_scope`)
        raise ExecutionRefused(_said(exc.detail)) from exc
    return progress


def _said(detail) -> str:
    """A domain error's detail as one line: its message, or its validation entries' messages."""
    if isinstance(detail, list):
        return "; ".join(entry.get("msg", str(entry)) if isinstance(entry, dict) else str(entry) for entry in detail)
    return str(detail)


# The conversation: status lines and tool output say nothing about the user (mem0 drops tool messages too).
EXTRACTED = Event.EventType.MESSAGE


def _unread_messages(session: Session, *, after: int) -> list[tuple[int, dict]]:
    """(sequence id, message) of the session's live messages after sequence id `after`, in order."""
    events = (Event.objects.alive().filter(session=session, event_type=EXTRACTED, sequence_id__gt=after)
              .order_by("sequence_id"))
    return [(event.sequence_id, {"role": "user" if event.emitter_type == "user" else "assistant",
                                 "content": str(event.body.get("content", ""))})
            for event in events.iterator(chunk_size=500)]


def _extract_chunk(execution: StrategyExecution, session: Session, part: list[tuple[int, dict]], *, scope: dict,
                   progress: dict, metadata: dict | None) -> dict:
    """One chunk through the memory engine; its progress recorded (renewing the claim) and returned."""
    added = _add_in_parts(space=session.space, messages=[message for _, message in part], scope=scope,
                          metadata=metadata)
    progress = {**progress, "events": progress["events"] + len(part), "extractedThrough": part[-1][0],
                "memories": [*progress["memories"], *({k: r[k] for k in ("id", "event")} for r in added)][:1000]}
    StrategyExecution.objects.filter(pk=execution.pk, status=StrategyExecution.Status.RUNNING).update(
        result=progress, updated_at=timezone.now())
    return progress


def _add_in_parts(*, space, messages: list[dict], scope: dict, metadata: dict | None) -> list[dict]:
    """`memory_add` of `messages`, halved while they hold more facts than one add takes (the offline
    extractor's bound, a 422 to an API caller): down to one message, then to halves of its text, cut between
    sentences where it can be (`halves_between_sentences`)."""
    from mem0_compat.extraction import TooManyFacts, halves_between_sentences
    from mem0_compat.services import memory_add

    try:
        return memory_add(space=space, messages=messages, scope=scope, metadata=metadata)
    except TooManyFacts:
        if len(messages) > 1:
            halves = [messages[:len(messages) // 2], messages[len(messages) // 2:]]
        else:
            (message,) = messages
            halves = [[{**message, "content": half}] for half in halves_between_sentences(message["content"])]
        return [added for half in halves
                for added in _add_in_parts(space=space, messages=half, scope=scope, metadata=metadata)]


def status_counts() -> dict:
    """For `lifecycle_status`: strategies by type, trigger and state; executions by status."""
    from django.db.models import Count, Q

    strategies = (LifecycleStrategy.objects.values("type", "trigger")
                  .annotate(total=Count("pk"), waiting=Count("pk", filter=Q(fired_at__isnull=True)),
                            fired=Count("pk", filter=Q(fired_at__isnull=False)))
                  .order_by("type", "trigger"))
    executions = StrategyExecution.objects.values("status").annotate(total=Count("pk")).order_by("status")
    due_now = LifecycleStrategy.objects.filter(fired_at__isnull=True, due_at__lte=database_now()).count()
    return {"strategies": list(strategies), "executions": {row["status"]: row["total"] for row in executions},
            "due_by_time_now": due_now}

