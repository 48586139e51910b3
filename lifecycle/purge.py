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
from mem0_compat.models import AddRequest, Memory, MemoryExport, MemoryFeedback, MemoryHistory
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


def _purge_sessions_where(where: str, params: list, report: PurgeReport, *, batch_size: int,
                          progress: Progress) -> None:
    """Sessions matching `where` (SQL over the sessions table), with their events, strategies and runs."""
    sessions = Session._meta.db_table
    under = f"session_id IN (SELECT id FROM {sessions} WHERE {where})"
    for kind, model in (("executions", StrategyExecution), ("strategies", LifecycleStrategy), ("events", Event)):
        report.add(kind, _delete_in_batches(model._meta.db_table, under, params, batch_size=batch_size,
                                            progress=progress))
    report.add("sessions", _delete_in_batches(sessions, where, params, batch_size=batch_size, progress=progress))


def purge(*, cutoff: datetime, spaces: bool, sessions: bool, memories: bool, batch_size: int = 5000,
          progress: Progress = lambda rows: None) -> PurgeReport:
    """Locking: `purge_lock` for the whole run, so that no space or session is restored half-purged."""
    with purge_lock():
        return _purge(cutoff=cutoff, spaces=spaces, sessions=sessions, memories=memories, batch_size=batch_size,
                      progress=progress)


def _purge(*, cutoff, spaces, sessions, memories, batch_size, progress) -> PurgeReport:
    report = PurgeReport()
    if sessions:
        _purge_sessions_where("deleted_at < %s", [cutoff], report, batch_size=batch_size, progress=progress)
        report.add("events", _delete_in_batches(Event._meta.db_table, "deleted_at < %s", [cutoff],
                                                batch_size=batch_size, progress=progress))
    if memories:
        report.add("memories", _delete_in_batches(Memory._meta.db_table, "deleted_at < %s", [cutoff],
                                                  batch_size=batch_size, progress=progress))
    if spaces:
        space_table = MemorySpace._meta.db_table
        in_space = f"space_id IN (SELECT id FROM {space_table} WHERE deleted_at < %s)"
        _purge_sessions_where(in_space, [cutoff], report, batch_size=batch_size, progress=progress)
        for kind, model in (("memories", Memory), ("memory history", MemoryHistory), ("add requests", AddRequest),
                            ("exports", MemoryExport), ("feedback", MemoryFeedback)):
            report.add(kind, _delete_in_batches(model._meta.db_table, in_space, [cutoff], batch_size=batch_size,
                                                progress=progress))
        report.add("spaces", _delete_in_batches(space_table, "deleted_at < %s", [cutoff], batch_size=batch_size,
                                                progress=progress))
    return report


def purge_preview(*, cutoff: datetime, spaces: bool, sessions: bool, memories: bool) -> dict:
    """What `purge` would delete at the top level (what hangs under it goes too)."""
    counts = {}
    if sessions:
        counts["sessions"] = Session.objects.filter(deleted_at__lt=cutoff).count()
        counts["events"] = Event.objects.filter(deleted_at__lt=cutoff).count()
    if memories:
        counts["memories"] = Memory.objects.filter(deleted_at__lt=cutoff).count()
    if spaces:
        counts["spaces"] = MemorySpace.objects.filter(deleted_at__lt=cutoff).count()
    return counts
