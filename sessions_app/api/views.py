from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from config.api.errors import InvalidInput, NotFound
from config.api.serializers import items_of, page_of
from memoryspaces.api.base import SpaceScopedView
from sessions_app import selectors, services
from sessions_app.api.serializers import (
    EventBatchIn,
    EventBatchUpdateIn,
    EventIn,
    EventListQuery,
    EventOut,
    EventUpdateIn,
    EventUpdateQuery,
    SessionConflictOut,
    SessionCreateIn,
    SessionListQuery,
    SessionOut,
    SessionUpdateConflictOut,
    SessionUpdateIn,
)
from sessions_app.models import Session

SESSIONS, EVENTS = ["Sessions"], ["Events"]
SessionPage = page_of(SessionOut, "PaginatedSessionList")
EventPage = page_of(EventOut, "PaginatedEventList")
EventItems = items_of(EventOut, "EventItems")
IF_MATCH = OpenApiParameter("If-Match", {"type": "string", "pattern": r'^\s*(\*|(W/)?"*[0-9]{1,19}"*)\s*$'},
                            OpenApiParameter.HEADER, required=False,
                            description='The session `version` this update is based on: `"3"` or `3`; 409 if stale.')


MAX_DIGITS = 19  # more than any sequence id (<= 2**62) or version has; int() refuses 4,301 digits or more


def _decimal(text: str) -> int | None:
    """The value of 1..MAX_DIGITS ASCII digits, else None (str.isdigit() also accepts "²" or "①", which int()
    then refuses)."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        return None
    return int(text)


class SessionScopedView(SpaceScopedView):
    """An object inside a session inside a space the caller may see (one query for both checks)."""

    def get_session(self, *, with_strategies: bool = False) -> Session:
        space_id, session_id = self.path_uuid("space_id"), self.path_uuid("session_id")
        session = selectors.session_visible_to(user=self.request.user, space_id=space_id, session_id=session_id,
                                               with_strategies=with_strategies)
        if session is None:
            self.get_space()  # says "Memory space not found" when that is what is missing
            raise NotFound("Session not found")
        return session

    def path_sequence_id(self) -> int:
        raw = self.kwargs["sequence_id"]
        value = _decimal(raw)
        if value is None or value > 2**62:
            raise InvalidInput.at(["path", "sequence_id"], "Input should be a valid non-negative integer",
                                  "int_parsing", input=raw[:200])
        return value


class SessionListCreateView(SpaceScopedView):
    @extend_schema(tags=SESSIONS, parameters=[SessionListQuery], responses=SessionPage,
                   summary="List sessions (participants: any of; description: exact)", operation_id="listSessions")
    def get(self, request, space_id):
        space = self.get_space()
        query = self.validate_query(SessionListQuery, lists=("participants",))
        sessions = selectors.session_list(space=space, participants=query.get("participants"),
                                          description=query.get("description"))
        return self.page(sessions, SessionOut, offset=query["offset"], limit=query["limit"])

    @extend_schema(tags=SESSIONS, request=SessionCreateIn, responses={201: SessionOut, 409: SessionConflictOut},
                   summary="Create a session (default lifecycle: soft delete after 180 days)",
                   operation_id="createSession")
    def post(self, request, space_id):
        space = self.get_space()
        data = self.validate_body(SessionCreateIn)
        session = services.session_create(
            space=space, participants=data["participants"], strategies=data["lifecycleStrategies"],
            description=data.get("description"), metadata=data.get("metadata"),
            deduplication_key=data.get("deduplicationKey"),
        )
        return Response(SessionOut(selectors.session_visible_to(
            user=request.user, space_id=space.pk, session_id=session.pk, with_strategies=True)).data, status=201)


class SessionDetailView(SessionScopedView):
    @extend_schema(tags=SESSIONS, responses=SessionOut, summary="Get a session", operation_id="getSession")
    def get(self, request, space_id, session_id):
        return Response(SessionOut(self.get_session(with_strategies=True)).data)

    @extend_schema(tags=SESSIONS, request=SessionUpdateIn, responses={200: SessionOut, 409: SessionUpdateConflictOut},
                   parameters=[IF_MATCH], operation_id="updateSession",
                   summary="Update a session's description, metadata or lifecycle strategies")
    def patch(self, request, space_id, session_id):
        session = self.get_session()
        data = self.validate_body(SessionUpdateIn)
        fields = {name: data[name] for name in ("description", "metadata") if name in data}
        services.session_update(session=session, fields=fields, strategies=data.get("lifecycleStrategies"),
                                if_match=self._if_match())
        return Response(SessionOut(self.get_session(with_strategies=True)).data)

    @extend_schema(tags=SESSIONS, responses={204: None}, summary="Delete a session (soft delete)",
                   operation_id="deleteSession")
    def delete(self, request, space_id, session_id):
        services.session_soft_delete(session=self.get_session())
        return Response(status=204)

    def _if_match(self) -> int | None:
        header = self.request.headers.get("If-Match")
        if header is None or header.strip() == "*":
            return None
        version = _decimal(header.strip().removeprefix("W/").strip('"'))
        if version is None:
            raise InvalidInput.at(["header", "If-Match"], "If-Match must be the session version, e.g. \"3\"",
                                  "int_parsing", input=header[:200])
        return version


class EventListCreateView(SessionScopedView):
    @extend_schema(tags=EVENTS, parameters=[EventListQuery], responses=EventPage,
                   summary="List events (offset/limit, or lastN: the last N in chronological order)",
                   operation_id="listEvents")
    def get(self, request, space_id, session_id):
        session = self.get_session()
        query = self.validate_query(EventListQuery)
        event_type = query.get("eventType")
        total = selectors.event_total(session=session, event_type=event_type)
        if "lastN" in query:
            items = selectors.event_last_n(session=session, n=query["lastN"], event_type=event_type)
            return Response({"items": EventOut(items, many=True).data, "offset": max(total - len(items), 0),
                             "limit": query["lastN"], "total": total})
        events = selectors.event_list(session=session, event_type=event_type)
        return self.page(events, EventOut, offset=query["offset"], limit=query["limit"], total=total)

    @extend_schema(tags=EVENTS, request=EventIn, responses={201: EventOut}, summary="Append one event",
                   operation_id="createEvent")
    def post(self, request, space_id, session_id):
        session = self.get_session()
        event = self.validate_body(EventIn)
        (created,) = services.event_append_batch(session=session, events=[event])
        return Response(EventOut(created).data, status=201)


class EventBatchView(SessionScopedView):
    @extend_schema(tags=EVENTS, request=EventBatchIn, responses={201: EventItems},
                   summary="Append 1..200 events in one transaction (all or nothing)",
                   operation_id="createEventsBatch")
    def post(self, request, space_id, session_id):
        session = self.get_session()
        events = self.validate_body(EventBatchIn)["events"]
        created = services.event_append_batch(session=session, events=events)
        return Response({"items": EventOut(created, many=True).data}, status=201)

    @extend_schema(tags=EVENTS, request=EventBatchUpdateIn, responses=EventItems,
                   summary="Edit 1..200 events in one transaction (all or nothing)",
                   operation_id="updateEventsBatch")
    def patch(self, request, space_id, session_id):
        session = self.get_session()
        edits = self.validate_body(EventBatchUpdateIn)["events"]  # without the fields sent as null
        changed = services.event_update_batch(
            session=session, edits=edits, stale_loc=lambda index: ["body", "events", index, "createdAt"]
        )
        return Response({"items": EventOut(changed, many=True).data})


class EventDetailView(SessionScopedView):
    @extend_schema(tags=EVENTS, request=EventUpdateIn, parameters=[EventUpdateQuery], responses=EventOut,
                   summary="Edit one event; ?createdAt= makes it conditional on the current version (422 if stale)",
                   operation_id="updateEvent")
    def patch(self, request, space_id, session_id, sequence_id):
        session = self.get_session()
        sequence = self.path_sequence_id()
        expected = self.validate_query(EventUpdateQuery).get("createdAt")
        edit = {**self.validate_body(EventUpdateIn), "sequence_id": sequence}
        if expected is not None:
            edit["created_at"] = expected
        (changed,) = services.event_update_batch(session=session, edits=[edit],
                                                 stale_loc=lambda index: ["query", "createdAt"])
        return Response(EventOut(changed).data)

    @extend_schema(tags=EVENTS, responses={204: None}, summary="Delete one event (soft delete)",
                   operation_id="deleteEvent")
    def delete(self, request, space_id, session_id, sequence_id):
        services.event_delete(session=self.get_session(), sequence_id=self.path_sequence_id())
        return Response(status=204)
