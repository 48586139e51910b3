from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import (
    DateTimeField,
    JSONObjectField,
    PageQuery,
    StrictSerializer,
    TextField,
    check_json,
    nullable_text,
)
from config.limits import EVENT_BODY_EXTRA, METADATA
from sessions_app.models import MAX_STRATEGIES, Event, LifecycleStrategy

MAX_TTL_SECONDS = 63_072_000
MAX_BATCH = 200
MAX_LAST_N = 100


# --- lifecycle strategies ---------------------------------------------------------------------------------
@extend_schema_field({"type": "boolean", "enum": [True]})
class TrueField(serializers.BooleanField):
    """`true`, and only `true`."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value is not True:
            raise serializers.ValidationError("never must be true", code="literal_error")
        return value


class TriggerIn(StrictSerializer):
    """Exactly one of the keys."""

    openapi_extra = {"minProperties": 1, "maxProperties": 1}

    ttl = serializers.IntegerField(min_value=1, max_value=MAX_TTL_SECONDS, required=False,
                                   help_text="session age in seconds")
    idle = serializers.IntegerField(min_value=1, max_value=MAX_TTL_SECONDS, required=False,
                                    help_text="seconds since the last event (or creation)")
    eventCount = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    tokenCount = serializers.IntegerField(min_value=1, max_value=100_000_000, required=False)
    never = TrueField(required=False, help_text="must be true")

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError(
                "Exactly one of ttl, idle, eventCount, tokenCount or never must be given", code="value_error"
            )
        return attrs


class ExtractMemoriesOptsIn(serializers.Serializer):
    """Options of `extract_memories`; other keys are kept as given."""

    userId = TextField(min_length=1, max_length=64, allow_null=True, required=False)
    agentId = TextField(min_length=1, max_length=64, allow_null=True, required=False)
    runId = TextField(min_length=1, max_length=64, allow_null=True, required=False)
    appId = TextField(min_length=1, max_length=64, allow_null=True, required=False)
    softDelete = serializers.BooleanField(required=False)
    metadata = JSONObjectField(allow_null=True, required=False)  # within `opts`' bound

    def to_internal_value(self, data):
        checked = super().to_internal_value(data)
        return {**data, **checked}


class StrategyIn(StrictSerializer):
    """A lifecycle strategy: what to do (`type`) when (`trigger`), with options (`opts`)."""

    type = serializers.ChoiceField(choices=LifecycleStrategy.Type.choices)
    trigger = TriggerIn()
    # Any keys are kept; `metadata` among them goes on every memory an extraction writes.
    opts = JSONObjectField(allow_null=True, required=False, default=None, limit=METADATA)

    def validate(self, attrs):
        opts = attrs.get("opts")
        if opts is not None and attrs["type"] == LifecycleStrategy.Type.EXTRACT_MEMORIES:
            checked = ExtractMemoriesOptsIn(data=opts)
            if not checked.is_valid():
                raise serializers.ValidationError({"opts": checked.errors})
            attrs["opts"] = checked.validated_data
        return attrs


@extend_schema_field(TriggerIn)
class TriggerOutField(serializers.DictField):
    """A trigger as stored: documented as the one-key object it was written as."""


class StrategyOut(serializers.Serializer):
    type = serializers.ChoiceField(choices=LifecycleStrategy.Type.choices)
    trigger = TriggerOutField()
    opts = serializers.DictField(allow_null=True)


# --- sessions ---------------------------------------------------------------------------------------------
class SessionOut(serializers.Serializer):
    id = serializers.UUIDField()
    participants = serializers.ListField(child=serializers.CharField())
    createdAt = DateTimeField(source="created_at")
    lifecycleStrategies = serializers.SerializerMethodField()
    description = serializers.CharField(allow_null=True)
    metadata = serializers.DictField(allow_null=True)
    version = serializers.IntegerField()
    deduplicationKey = serializers.CharField(source="deduplication_key", allow_null=True)

    @extend_schema_field(StrategyOut(many=True))
    def get_lifecycleStrategies(self, session):  # noqa: N802 (wire name)
        return [strategy.as_wire() for strategy in session.strategies.all()]


class SessionUpdateIn(StrictSerializer):
    """Only the fields sent change. Send `If-Match: "<version>"` to update only the version you read."""

    description = nullable_text(1000)
    metadata = JSONObjectField(allow_null=True, required=False, limit=METADATA)
    lifecycleStrategies = StrategyIn(many=True, required=False, min_length=1, max_length=MAX_STRATEGIES)


class SessionCreateIn(StrictSerializer):
    """A new session; without `lifecycleStrategies` it gets a 180-day soft delete."""

    participants = serializers.ListField(child=TextField(min_length=1, max_length=200),
                                         min_length=1, max_length=1)
    lifecycleStrategies = StrategyIn(many=True, required=False, default=list, max_length=MAX_STRATEGIES)
    description = nullable_text(1000)
    metadata = JSONObjectField(allow_null=True, required=False, limit=METADATA)
    deduplicationKey = TextField(min_length=1, max_length=72, allow_null=True, required=False)


class SessionListQuery(PageQuery):
    participants = serializers.ListField(child=TextField(max_length=200), required=False,
                                         max_length=100)
    description = TextField(max_length=1000, required=False, allow_blank=True)


# --- events -----------------------------------------------------------------------------------------------
class EventBodyIn(serializers.Serializer):
    """`{"content": "...", ...}`: `content` required (1..100000 chars); other keys kept as received, at most
    EVENT_BODY_EXTRA_MAX_BYTES (262144 unless the operator sets it) between them as compact UTF-8 JSON text."""

    content = TextField(min_length=1, max_length=100_000)

    def to_internal_value(self, data):
        checked = super().to_internal_value(data)
        check_json(data)
        extra = {key: value for key, value in data.items() if key != "content"}
        if refusal := EVENT_BODY_EXTRA.refusal(extra, name="The body's keys besides content"):
            raise serializers.ValidationError(refusal, code="too_long")
        return {**data, **checked}


class EmitterIn(StrictSerializer):
    """Who emitted the event."""

    type = serializers.ChoiceField(choices=Event.EmitterType.choices)
    id = TextField(max_length=200, allow_null=True, required=False)


class EventTypeField(serializers.ChoiceField):
    """message | tool_output | status; accepted in any case (the quick start sends "MESSAGE")."""

    def __init__(self, **kwargs):
        super().__init__(choices=Event.EventType.choices, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.lower() if isinstance(data, str) else data)


class EventIn(StrictSerializer):
    """A new event; `type` defaults to message."""

    body = EventBodyIn()
    emitter = EmitterIn()
    type = EventTypeField(required=False, default=Event.EventType.MESSAGE, source="event_type")


class EventBatchIn(StrictSerializer):
    """1..200 new events, appended in order in one transaction."""

    events = EventIn(many=True, min_length=1, max_length=MAX_BATCH)


class EventUpdateIn(StrictSerializer):
    """Fields left out (or null) stay as they are."""

    body = EventBodyIn(required=False, allow_null=True)
    type = EventTypeField(required=False, allow_null=True, source="event_type")
    emitter = EmitterIn(required=False, allow_null=True)

    def validate(self, attrs):
        return {key: value for key, value in attrs.items() if value is not None}


class EventBatchUpdateItemIn(EventUpdateIn):
    """One edit of a batch; `createdAt` makes it conditional on the event's current version."""

    sequenceId = serializers.IntegerField(min_value=0, max_value=2**62, source="sequence_id")
    createdAt = DateTimeField(required=False, allow_null=True, source="created_at")


class EventBatchUpdateIn(StrictSerializer):
    """1..200 edits, applied in one transaction."""

    events = EventBatchUpdateItemIn(many=True, min_length=1, max_length=MAX_BATCH)


class EventOut(serializers.Serializer):
    sequenceId = serializers.IntegerField(source="sequence_id")
    body = serializers.DictField()
    emitterType = serializers.ChoiceField(choices=Event.EmitterType.choices, source="emitter_type")
    emitterId = serializers.CharField(source="emitter_id", allow_null=True)
    eventType = serializers.ChoiceField(choices=Event.EventType.choices, source="event_type")
    createdAt = DateTimeField(source="created_at",
                              help_text="timestamp of the event's current version; moves on edit")


class EventListQuery(PageQuery):
    offset = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    lastN = serializers.IntegerField(min_value=1, max_value=MAX_LAST_N, required=False)
    eventType = EventTypeField(required=False)

    def validate(self, attrs):
        if "lastN" in attrs and "offset" in attrs:
            raise serializers.ValidationError({"lastN": ["lastN and offset are mutually exclusive"]},
                                              code="value_error")
        attrs.setdefault("offset", 0)
        return attrs


class EventUpdateQuery(serializers.Serializer):
    createdAt = DateTimeField(required=False)

    def to_internal_value(self, data):
        # A `+` in an unencoded query string arrives as a space: "…T10:00:00 00:00".
        if isinstance(data.get("createdAt"), str):
            data = {**data, "createdAt": data["createdAt"].replace(" ", "+")}
        return super().to_internal_value(data)


class SessionConflictOut(serializers.Serializer):
    detail = serializers.CharField()
    errorName = serializers.CharField(help_text="SessionDeduplicationConflict")
    deduplicationKey = serializers.CharField()
    existingSessionId = serializers.UUIDField(allow_null=True)
    existingSessionUrl = serializers.CharField(allow_null=True)


class SessionUpdateConflictOut(serializers.Serializer):
    """A stale If-Match (with the version to read again), or a change to a strategy that has already run."""

    detail = serializers.CharField()
    errorName = serializers.CharField(required=False, help_text="SessionVersionConflict: If-Match was stale")
    currentVersion = serializers.IntegerField(required=False, help_text="the session's version now")
