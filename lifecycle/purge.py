"""Hard deletion of what was soft-deleted long enough ago, and of everything hanging under it.

Work goes in batches, each in its own transaction, children before parents (the foreign keys are checked
by PostgreSQL; nothing cascades implicitly), so a purge of millions of rows never holds one huge transaction
and can be stopped and resumed at any point. Memory history is kept when a memory is purged (it has no
foreign key to it); it goes only with its whole space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from lifecycle.models import StrategyExecution
from mem0_compat.models import AddRequest, Memory, MemoryExport, MemoryFeedback, MemoryHistory, MemoryInput
from memoryspaces.models import MemorySpace
from memoryspaces.services import purge_lock
from sessions_app.models import Event, LifecycleStrategy, Session

Progress = Callable[[int], None]


@dataclass
class PurgeReport:
    counts: dict = field(default_factory=dict)

    def add(self, kind: str, rows: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + rows


def _delete_in_batches(table: str, where: str, params: list, *, batch_size: int, progress: Progress) -> int:
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where} "
                           f"LIMIT %s))", [*params, batch_size])
            deleted = cursor.rowcount
        total += deleted
        progress(deleted)
        if deleted < batch_size:
            return total


@dataclass(frozen=True)
class _Step:
    """Delete the rows of `model`'s table matching `where` (SQL over that table), counted as `kind`."""
    kind: str
    model: type
    where: str
    params: list


def _sessions_steps(where: str, params: list) -> list[_Step]:
    """Sessions matching `where` (SQL over the sessions table), with their events, strategies and runs."""
    under = f"session_id IN (SELECT id FROM {Session._meta.db_table} WHERE {where})"
    return [*(_Step(kind, model, under, params) for kind, model in (
        ("executions", StrategyExecution), ("strategies", LifecycleStrategy), ("events", Event))),
        _Step("sessions", Session, where, params)]


def _plan(*, cutoff: datetime, spaces: bool, sessions: bool, memories: bool) -> list[_Step]:
    """The purge's steps, children before parents. A row may match several steps (an event soft-deleted in a
    deleted session); the first deletes it."""
    deleted = "deleted_at < %s"
    steps = []
    if sessions:
        steps += [*_sessions_steps(deleted, [cutoff]), _Step("events", Event, deleted, [cutoff])]
    if memories:
        steps.append(_Step("memories", Memory, deleted, [cutoff]))
    if spaces:
        in_space = f"space_id IN (SELECT id FROM {MemorySpace._meta.db_table} WHERE {deleted})"
        steps += _sessions_steps(in_space, [cutoff])
        steps += [_Step(kind, model, in_space, [cutoff]) for kind, model in (
            ("memories", Memory), ("memory history", MemoryHistory), ("memory inputs", MemoryInput),
            ("add requests", AddRequest),
            ("exports", MemoryExport), ("feedback", MemoryFeedback))]
        steps.append(_Step("spaces", MemorySpace, deleted, [cutoff]))
    return steps


def purge(*, cutoff: datetime, spaces: bool, sessions: bool, memories: bool, batch_size: int = 5000,
          progress: Progress = lambda rows: None) -> PurgeReport:
    """Locking: `purge_lock` for the whole run, so that no space or session is restored half-purged."""
    report = PurgeReport()
    with purge_lock():
        for step in _plan(cutoff=cutoff, spaces=spaces, sessions=sessions, memories=memories):
            report.add(step.kind, _delete_in_batches(step.model._meta.db_table, step.where, step.params,
                                                     batch_size=batch_size, progress=progress))
    return report


def purge_preview(*, cutoff: datetime, spaces: bool, sessions: bool, memories: bool) -> dict:
    """What `purge` would delete, kind by kind: the rows matching any of a kind's steps, each once."""
    steps_of_kind: dict[str, list[_Step]] = {}
    for step in _plan(cutoff=cutoff, spaces=spaces, sessions=sessions, memories=memories):
        steps_of_kind.setdefault(step.kind, []).append(step)
    counts = {}
    with connection.cursor() as cursor:
        for kind, steps in steps_of_kind.items():
            cursor.execute(f"SELECT count(*) FROM {steps[0].model._meta.db_table} WHERE "
                           + " OR ".join(f"({step.where})" for step in steps),
                           [param for step in steps for param in step.params])
            counts[kind] = cursor.fetchone()[0]
    return counts
