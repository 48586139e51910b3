"""Writes for sessions and events.

Sequence ids: `event_append_batch` takes the next ids from the session row with
`UPDATE … SET next_sequence_id = next_sequence_id + n … RETURNING` in the same statement that inserts the
events, so the row lock is held until they are committed. Concurrent appenders to one session queue on that
lock and get contiguous, distinct ranges; a failed statement gives its range back with the rollback, so no
gap appears either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg.types.json import Json

from config.api.errors import Conflict, InvalidInput, NotFound
from config.queries import database_now
from memoryspaces.models import MemorySpace
from memoryspaces.services import refuse_restore_while_purging
from sessions_app.models import MAX_STRATEGIES, Event, LifecycleStrategy, Session
from sessions_app.signals import count_trigger_reached
from sessions_app.tokens import count_tokens, count_tokens_many

DEFAULT_STRATEGIES = [{"type": "soft_delete", "trigger": {"ttl": 180 * 24 * 3600}, "opts": None}]
STALE_EVENT = "Patch of incorrect version of event"


# --- sessions ---------------------------------------------------------------------------------------------
def _session_dedup_conflict(*, space: MemorySpace, key: str) -> Conflict:
    existing = Session.objects.alive().filter(space=space, deduplication_key=key).first()
    existing_id = str(existing.id) if existing else None
    return Conflict(
        "A live session with this deduplication key already exists in this memory space",
        errorName="SessionDeduplicationConflict",
        deduplicationKey=key,
        existingSessionId=existing_id,
        existingSessionUrl=f"/memory/{space.id}/sessions/{existing_id}/" if existing_id else None,
    )


def _strategy_row(session: Session, position: int, strategy: dict) -> LifecycleStrategy:
    (trigger, value), = strategy["trigger"].items()
    row = LifecycleStrategy(session=session, position=position, type=strategy["type"], trigger=trigger,
                            threshold=None if trigger == LifecycleStrategy.Trigger.NEVER else value,
                            opts=strategy.get("opts"))
    row.due_at = _first_due(session, row)
    return row


def _first_due(session: Session, strategy: LifecycleStrategy) -> datetime | None:
    """ttl: creation + ttl; idle: last activity + idle (the sweep moves it when activity continues)."""
    if strategy.trigger == LifecycleStrategy.Trigger.TTL:
        return session.created_at + timedelta(seconds=strategy.threshold)
    if strategy.trigger == LifecycleStrategy.Trigger.IDLE:
        return (session.last_event_at or session.created_at) + timedelta(seconds=strategy.threshold)
    return None


MAX_ENTITY_ID = 64  # a memory's user_id, agent_id, app_id or run_id


def _check_extraction_scope(participant: str, strategies: list[dict]) -> None:
    """An extraction files its memories under opts userId, else the participant, and runId, else the session
    (either given as null: none, see `_extract_memories`). Refused when it is set (422), rather than failed in
    the worker later: a participant too long for a user_id (the extraction must name its userId), or no user,
    agent or run left to scope the memories (an add needs one)."""
    for position, strategy in enumerate(strategies):
        if strategy["type"] != LifecycleStrategy.Type.EXTRACT_MEMORIES:
            continue
        opts, at = strategy.get("opts") or {}, ["body", "lifecycleStrategies", position, "opts"]
        if "userId" not in opts and len(participant) > MAX_ENTITY_ID:
            raise InvalidInput.at([*at, "userId"], f"The participant is longer than a memory's user_id may be "
                                  f"({MAX_ENTITY_ID} characters): give extract_memories an opts userId", "missing")
        if "userId" in opts and opts["userId"] is None and opts.get("runId", "the session") is None \
                and not opts.get("agentId"):
            raise InvalidInput.at(at, "With userId and runId null, an extraction needs an agentId to file its "
                                  "memories under", "missing")


def count_triggers_refresh(*, session_ids: list) -> None:
    """Recompute each session's lowest waiting eventCount / tokenCount threshold (see Session)."""
    table, strategies = Session._meta.db_table, LifecycleStrategy._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS s SET
                    next_event_trigger = (SELECT min(threshold) FROM {strategies}
                                           WHERE session_id = s.id AND trigger = 'eventCount' AND fired_at IS NULL),
                    next_token_trigger = (SELECT min(threshold) FROM {strategies}
                                           WHERE session_id = s.id AND trigger = 'tokenCount' AND fired_at IS NULL)
                WHERE s.id = ANY(%s)""",
            [list(session_ids)],
        )


def count_trigger_check(*, session_id) -> None:
    """After a change other than an append brought a session's counts to a waiting count threshold (a new
    strategy, an edit, a restored event): have it checked after commit, as an append does (the sweep would
    only catch it up to LIFECYCLE_SWEEP_SECONDS later). Reads only the session row."""
    if Session.objects.filter(Q(event_count__gte=F("next_event_trigger")) | Q(token_count__gte=F("next_token_trigger")),
                              pk=session_id, deleted_at__isnull=True).exists():
        transaction.on_commit(lambda: count_trigger_reached.send(Session, session_id=session_id))


def session_create(*, space: MemorySpace, participants: list[str], strategies: list[dict],
                   description: str | None = None, metadata: dict | None = None,
                   deduplication_key: str | None = None) -> Session:
    """Create a session and its lifecycle strategies (the default 180-day soft delete when none are given)
    in one transaction. A live session with the same deduplication key in the space is a 409."""
    _check_extraction_scope(participants[0], strategies)
    if deduplication_key and Session.objects.alive().filter(space=space,
                                                            deduplication_key=deduplication_key).exists():
        raise _session_dedup_conflict(space=space, key=deduplication_key)
    try:
        with transaction.atomic():
            session = Session.objects.create(
                space=space, participants=participants, description=description, metadata=metadata,
                deduplication_key=deduplication_key,
            )
            LifecycleStrategy.objects.bulk_create(
                [_strategy_row(session, position, strategy)
                 for position, strategy in enumerate(strategies or DEFAULT_STRATEGIES)])
            count_triggers_refresh(session_ids=[session.pk])
    except IntegrityError:
        raise _session_dedup_conflict(space=space, key=deduplication_key) from None
    return session


@transaction.atomic
def session_update(*, session: Session, fields: dict, strategies: list[dict] | None = None,
                   if_match: int | None = None) -> Session:
    """Change the given fields and/or replace the strategies; bump `version`.

    Locks the session row (SELECT … FOR UPDATE) so the `If-Match` version check and the write are atomic:
    a stale version is a 409. A strategy that has already fired may be sent again unchanged, at any position,
    but changing or removing it is a 409: its execution exists and cannot be undone.
    """
    locked = Session.objects.alive().select_for_update().filter(pk=session.pk).first()
    if locked is None:
        raise NotFound("Session not found")
    if if_match is not None and if_match != locked.version:
        raise Conflict(f"Session version mismatch: If-Match {if_match}, current version {locked.version}",
                       errorName="SessionVersionConflict", currentVersion=locked.version)
    for name, value in fields.items():
        setattr(locked, name, value)
    if strategies is not None:
        _check_extraction_scope(locked.participants[0], strategies)
        _strategies_replace(locked, strategies)
    locked.version += 1
    # Only what this call changed: `_strategies_replace` recomputed the count thresholds in SQL, and a full
    # save would write back the stale values read with the lock.
    locked.save(update_fields=[*fields, "version", "updated_at"])
    return locked


def _strategies_replace(session: Session, strategies: list[dict]) -> None:
    """Replace the session's strategies with `strategies`. A strategy that has run (fired, or re-armed after
    its idle session came back: it has an execution, an extraction's progress in it) is recognised by what it
    is, wherever it now stands (its own position first), and keeps its row, so its execution stays attached;
    one missing from the list, or changed, is a 409. The others are replaced."""
    current = list(session.strategies.select_for_update(of=("self",)).select_related("execution")
                   .order_by("position"))
    ran = [row for row in current if row.fired_at is not None or hasattr(row, "execution")]
    free = list(range(len(strategies)))  # positions of `strategies` no row that ran has taken
    moved = []
    for row in ran:
        found = next((position for position in sorted(free, key=lambda p: p != row.position)
                      if row.same_as(strategies[position])), None)
        if found is None:
            raise Conflict(f"Lifecycle strategy {row.position} ({row.type} on {row.trigger}) has already run "
                           "and cannot be changed or removed", errorName="LifecycleStrategyAlreadyRun")
        free.remove(found)
        if found != row.position:
            moved.append((row.pk, found))
    session.strategies.exclude(pk__in=[row.pk for row in ran]).delete()
    # (session, position) is unique and checked row by row: park the rows that ran past the MAX_STRATEGIES
    # positions a session can have before giving them their new ones, so that two of them can swap
    for offset in (MAX_STRATEGIES, 0):
        for pk, position in moved:
            LifecycleStrategy.objects.filter(pk=pk).update(position=position + offset)
    LifecycleStrategy.objects.bulk_create([_strategy_row(session, position, strategies[position])
                                           for position in free])
    count_triggers_refresh(session_ids=[session.pk])
    count_trigger_check(session_id=session.pk)


@transaction.atomic
def session_restore(*, session: Session) -> None:
    """Undo a soft delete; waiting ttl/idle strategies get their due times again. Refused while a purge runs
    (`refuse_restore_while_purging`)."""
    refuse_restore_while_purging()
    Session.objects.filter(pk=session.pk).update(deleted_at=None)
    strategies_schedule(sessions=Session.objects.filter(pk=session.pk))


@transaction.atomic
def strategies_schedule(*, sessions) -> None:
    """Give the waiting strategies of `sessions` (a queryset) their ttl/idle due times again: the sweep takes
    those of a deleted session, or of a session in a deleted space, out of its schedule.

    Locks the strategy rows it updates (a sweep skips them until commit). A sweep statement that began before
    the commit may still park one it reaches after it, seeing the session or space as deleted; restoring
    again schedules it."""
    waiting = list(LifecycleStrategy.objects.filter(session__in=sessions, fired_at__isnull=True)
                   .select_related("session"))
    for strategy in waiting:
        strategy.due_at = _first_due(strategy.session, strategy)
    LifecycleStrategy.objects.bulk_update(waiting, ["due_at"], batch_size=1000)


@transaction.atomic
def session_soft_delete(*, session: Session) -> None:
    """Hide the session; its events stay (hidden with it) until purged."""
    if not Session.objects.alive().filter(pk=session.pk).update(deleted_at=timezone.now()):
        raise NotFound("Session not found")


@transaction.atomic
def session_soft_delete_read_through(*, session: Session, sequence_id: int, event_type: str) -> bool | None:
    """Soft-delete the session once whoever read its events of `event_type` up to `sequence_id` has read them
    all: None (and nothing done) while it has such live events after that, to be read first; False if it is
    already deleted.

    Locks the session row (SELECT … FOR UPDATE), which appends update: none can come between the check and
    the delete, and any after it finds the session deleted (404)."""
    locked = Session.objects.select_for_update().filter(pk=session.pk).values("deleted_at").first()
    if locked is None or locked["deleted_at"] is not None:
        return False
    if Event.objects.alive().filter(session_id=session.pk, sequence_id__gt=sequence_id,
                                    event_type=event_type).exists():
        return None
    Session.objects.filter(pk=session.pk).update(deleted_at=timezone.now())
    return True


@transaction.atomic
def session_active_until(*, session: Session, idle: int, now: datetime | None = None) -> datetime | None:
    """When the session will have been idle for `idle` seconds (since its last event, else its creation), if
    that is after `now`; None once it has been (or when it is gone).

    Locks the session row (SELECT … FOR UPDATE) to the end of the caller's transaction, as appends update it:
    no event can come between this answer and what the caller does on it. `now` (for tests) defaults to the
    database's clock, read once the lock is held: the clock that stamped last_event_at (`event_append_batch`)."""
    locked = (Session.objects.alive().select_for_update().filter(pk=session.pk)
              .values("last_event_at", "created_at").first())
    if locked is None:
        return None
    due = (locked["last_event_at"] or locked["created_at"]) + timedelta(seconds=idle)
    return due if due > (now or database_now()) else None


# --- events -----------------------------------------------------------------------------------------------
def event_append_batch(*, session: Session, events: list[dict]) -> list[Event]:
    """Append 1..n events in input order, all or nothing, in ONE SQL statement: a CTE takes the next ids from
    the session row (`UPDATE … RETURNING`, which row-locks it) and the INSERT numbers the events from there.
    A single statement is atomic on its own, and one round trip keeps appends cheap. A deleted session
    updates no row, so nothing is inserted and the answer is 404."""
    tokens = count_tokens_many([event["body"]["content"] for event in events])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH claimed AS (
                UPDATE {Session._meta.db_table}
                   SET next_sequence_id = next_sequence_id + %(count)s, event_count = event_count + %(count)s,
                       token_count = token_count + %(tokens)s, last_event_at = statement_timestamp()
                 WHERE id = %(session)s AND deleted_at IS NULL
             RETURNING next_sequence_id - %(count)s AS first_id,
                       coalesce(event_count >= next_event_trigger, false)
                       OR coalesce(token_count >= next_token_trigger, false) AS count_trigger_due
            ), inserted AS (
                INSERT INTO {Event._meta.db_table}
                       (session_id, sequence_id, event_type, emitter_type, emitter_id, body, token_count,
                        first_created_at, created_at)
                SELECT %(session)s, claimed.first_id + new.ord - 1, new.event_type, new.emitter_type,
                       new.emitter_id, new.body, new.token_count, statement_timestamp(), statement_timestamp()
                  FROM claimed,
                       unnest(%(event_types)s::text[], %(emitter_types)s::text[], %(emitter_ids)s::text[],
                              %(bodies)s::json[], %(token_counts)s::int[])
                       WITH ORDINALITY AS new(event_type, emitter_type, emitter_id, body, token_count, ord)
             RETURNING id, sequence_id, created_at
            )
            SELECT inserted.id, inserted.sequence_id, inserted.created_at, claimed.count_trigger_due
              FROM inserted, claimed ORDER BY inserted.sequence_id""",
            {
                "count": len(events), "tokens": sum(tokens), "session": session.pk,
                "event_types": [event["event_type"] for event in events],
                "emitter_types": [event["emitter"]["type"] for event in events],
                "emitter_ids": [event["emitter"].get("id") for event in events],
                "bodies": [Json(event["body"]) for event in events],  # json: keys as sent
                "token_counts": tokens,
            },
        )
        rows = cursor.fetchall()
    if not rows:
        raise NotFound("Session not found")
    if rows[0][3]:
        # Checked after commit by the lifecycle app, never inline: the append stays one statement.
        transaction.on_commit(lambda: count_trigger_reached.send(Session, session_id=session.pk))
    return [
        Event(pk=pk, session_id=session.pk, sequence_id=sequence_id, event_type=event["event_type"],
              emitter_type=event["emitter"]["type"], emitter_id=event["emitter"].get("id"), body=event["body"],
              token_count=count, first_created_at=created_at, created_at=created_at)
        for (pk, sequence_id, created_at, _), event, count in zip(rows, events, tokens, strict=True)
    ]


def event_update_batch(*, session: Session, edits: list[dict], stale_loc: Callable[[int], list]) -> list[Event]:
    """Apply edits `[{sequence_id, body?, event_type?, emitter?, created_at?}]`, all or nothing.

    Locks the edited event rows (SELECT … FOR UPDATE, in sequence order so concurrent batches cannot
    deadlock), then the session row when the token count changes (events before session, as `event_delete`
    and `event_restore`). `created_at`, when given, must equal the event's current version timestamp, else 422 at
    `stale_loc(index)` (the query string for a single edit, the batch item otherwise).
    Each edited event gets a new, strictly later version timestamp.
    """
    wanted = [edit["sequence_id"] for edit in edits]
    if len(set(wanted)) != len(wanted):
        raise InvalidInput.at(["body", "events"], "Each sequenceId may appear only once in a batch")
    with transaction.atomic():
        found = {
            event.sequence_id: event
            for event in Event.objects.alive().select_for_update()
            .filter(session_id=session.pk, sequence_id__in=wanted).order_by("sequence_id")
        }
        missing = [seq for seq in wanted if seq not in found]
        if missing:
            raise NotFound(f"Event not found: sequenceId {missing[0]}")
        now = timezone.now()
        token_delta = 0
        for index, edit in enumerate(edits):
            event = found[edit["sequence_id"]]
            expected: datetime | None = edit.get("created_at")
            if expected is not None and expected != event.created_at:
                raise InvalidInput.at(stale_loc(index), STALE_EVENT, "stale_version",
                                      ctx={"currentCreatedAt": event.created_at})  # written as every time is
            if "body" in edit:
                new_tokens = count_tokens(edit["body"]["content"])
                token_delta += new_tokens - event.token_count
                event.body, event.token_count = edit["body"], new_tokens
            if "event_type" in edit:
                event.event_type = edit["event_type"]
            if "emitter" in edit:
                event.emitter_type, event.emitter_id = edit["emitter"]["type"], edit["emitter"].get("id")
            event.created_at = max(now, event.created_at + timedelta(microseconds=1))
        changed = [found[seq] for seq in wanted]
        Event.objects.bulk_update(changed, ["body", "token_count", "event_type", "emitter_type", "emitter_id",
                                            "created_at"])
        if token_delta:
            Session.objects.filter(pk=session.pk).update(token_count=F("token_count") + token_delta)
        if token_delta > 0:
            count_trigger_check(session_id=session.pk)
    return changed


@transaction.atomic
def event_delete(*, session: Session, sequence_id: int) -> None:
    """Soft-delete one event: hidden from reads, its sequence id never reused."""
    event = Event.objects.alive().select_for_update().filter(session_id=session.pk, sequence_id=sequence_id).first()
    if event is None:
        raise NotFound("Event not found")
    event.deleted_at = timezone.now()
    event.save(update_fields=["deleted_at"])
    Session.objects.filter(pk=session.pk).update(
        event_count=F("event_count") - 1, token_count=F("token_count") - event.token_count
    )


@transaction.atomic
def event_restore(*, event: Event) -> None:
    """Undo `event_delete`, counters included: the event counts in its session's event and token counts again,
    and a count threshold that brings the session to is checked after commit. An event that is not deleted is
    left as it is. Locks the event row, then the session row (the UPDATEs')."""
    if Event.objects.filter(pk=event.pk).exclude(deleted_at=None).update(deleted_at=None):
        Session.objects.filter(pk=event.session_id).update(
            event_count=F("event_count") + 1, token_count=F("token_count") + event.token_count
        )
        count_trigger_check(session_id=event.session_id)
