"""Reads for sessions and events. Callers pass a space they already checked the caller may see."""

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from config.queries import columns, fetch_all, instances
from memoryspaces.models import MemorySpace, User
from sessions_app.models import Event, LifecycleStrategy, Session


def _strategies() -> Prefetch:
    return Prefetch("strategies", queryset=LifecycleStrategy.objects.order_by("position"))


def _with_strategies(sessions: QuerySet[Session]) -> QuerySet[Session]:
    return sessions.prefetch_related(_strategies())


def session_list(*, space: MemorySpace, participants: list[str] | None = None,
                 description: str | None = None) -> QuerySet[Session]:
    sessions = Session.objects.alive().filter(space=space)
    if participants:
        sessions = sessions.filter(participants__overlap=participants)  # any of them
    if description is not None:
        sessions = sessions.filter(description=description)
    return _with_strategies(sessions.order_by("created_at", "id"))


# Written in SQL (see config.queries), like the key and space lookups before it on the same requests:
# 1.28 -> 0.51 ms, measured side by side in one process.
_VISIBLE_SESSION = (
    f"SELECT {columns(Session, 'e')} FROM {Session._meta.db_table} e "
    f"JOIN {MemorySpace._meta.db_table} s ON s.id = e.space_id "
    "WHERE e.id = %s AND e.space_id = %s AND e.deleted_at IS NULL AND s.tenant_id = %s AND s.deleted_at IS NULL")


def session_visible_to(*, user: User, space_id, session_id, with_strategies: bool = False) -> Session | None:
    """The live session `session_id` of the live space `space_id` in the user's tenant, in one query
    (two with its strategies, which only the session endpoints show). The space is joined to be checked, not
    loaded: no session endpoint reads it."""
    found = instances(Session, fetch_all(_VISIBLE_SESSION, [session_id, space_id, user.tenant_id]))
    if found and with_strategies:
        prefetch_related_objects(found, _strategies())
    return found[0] if found else None


def event_list(*, session: Session, event_type: str | None = None) -> QuerySet[Event]:
    events = Event.objects.alive().filter(session_id=session.pk)
    if event_type:
        events = events.filter(event_type=event_type)
    return events.order_by("sequence_id")


def event_total(*, session: Session, event_type: str | None = None) -> int:
    """How many live events `event_list` holds: the session's counter (kept by the writes) without a type
    filter, a COUNT with one."""
    if event_type:
        return event_list(session=session, event_type=event_type).count()
    return session.event_count


def event_last_n(*, session: Session, n: int, event_type: str | None = None) -> list[Event]:
    """The last `n` events in chronological order, whatever the session size.

    Usually they are the ids from `next_sequence_id - n` on: a range of the (session, sequence) index, which
    the planner takes even when its statistics have not caught up with a session that grew fast (then the
    plain ORDER BY … LIMIT can turn into reading and sorting the whole session). Deleted events or a type
    filter fall back to that query; a session that never had more than `n` events does not need it, since
    the range from 0 already holds all of it.
    """
    events = event_list(session=session, event_type=event_type)
    if event_type is None:
        recent = list(events.filter(sequence_id__gte=session.next_sequence_id - n))
        if len(recent) >= n or session.next_sequence_id <= n:
            return recent[-n:]
    newest_first = list(events.order_by("-sequence_id")[:n])
    return newest_first[::-1]
