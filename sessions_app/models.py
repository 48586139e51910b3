import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from config.fields import JSONAsSentField, require_json_objects
from config.limits import METADATA
from memoryspaces.models import MemorySpace, SoftDeleteQuerySet


class Session(models.Model):
    """One conversation inside a memory space.

    `next_sequence_id`, `event_count`, `token_count` and `last_event_at` are maintained by the append services
    under the session's row lock; lifecycle triggers read them without touching the events table.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="sessions")
    participants = ArrayField(models.CharField(max_length=200), size=1)
    description = models.CharField(max_length=1000, null=True, blank=True)
    metadata = JSONAsSentField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    deduplication_key = models.CharField(max_length=72, null=True, blank=True)
    next_sequence_id = models.BigIntegerField(default=0)
    event_count = models.BigIntegerField(default=0)
    token_count = models.BigIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    # The lowest eventCount / tokenCount threshold among strategies that have not fired: an append compares
    # its new counters with these in the same statement, without reading the strategies.
    next_event_trigger = models.BigIntegerField(null=True, blank=True)
    next_token_trigger = models.BigIntegerField(null=True, blank=True)
    # The database's clock, as for last_event_at: ttl and idle count from it, and the sweep reads that clock.
    # The INSERT returns it, so a session just created has it (PostgreSQL returns db_default columns).
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["space", "created_at"], name="session_space_created"),
            GinIndex(fields=["participants"], name="session_participants_gin"),
            # the sweep's catch-up for count triggers whose enqueue was lost (broker down)
            models.Index(F("event_count") - F("next_event_trigger"), name="session_event_trigger_due",
                         condition=Q(next_event_trigger__isnull=False, deleted_at__isnull=True)),
            models.Index(F("token_count") - F("next_token_trigger"), name="session_token_trigger_due",
                         condition=Q(next_token_trigger__isnull=False, deleted_at__isnull=True)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["space", "deduplication_key"],
                condition=Q(deleted_at__isnull=True, deduplication_key__isnull=False),
                name="session_live_dedup_key_per_space",
            )
        ]

    def __str__(self):
        return self.description or str(self.id)

    def clean(self):
        require_json_objects(self, "metadata", limit=METADATA)
        # The form leaves space and deleted_at out, so Django skips the conditional unique constraint.
        if (self.deduplication_key is not None and self.deleted_at is None
                and Session.objects.alive().filter(space_id=self.space_id, deduplication_key=self.deduplication_key)
                .exclude(pk=self.pk).exists()):
            raise ValidationError({"deduplication_key": "Another live session of this space already uses this "
                                                        "deduplication key."})


MAX_STRATEGIES = 5  # a session's lifecycle strategies, at most


class LifecycleStrategy(models.Model):
    """One of a session's (at most MAX_STRATEGIES) lifecycle strategies, stored as rows so sweeps can query them."""

    class Type(models.TextChoices):
        SOFT_DELETE = "soft_delete"
        EXTRACT_MEMORIES = "extract_memories"

    class Trigger(models.TextChoices):
        TTL = "ttl"
        IDLE = "idle"
        EVENT_COUNT = "eventCount"
        TOKEN_COUNT = "tokenCount"
        NEVER = "never"

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="strategies")
    position = models.PositiveSmallIntegerField()
    type = models.CharField(max_length=32, choices=Type.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    threshold = models.BigIntegerField(null=True, blank=True, help_text="seconds, events or tokens; empty for never")
    opts = models.JSONField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True,
        help_text="ttl/idle: when it is due at the earliest (idle: moved forward lazily by the sweep)")
    fired_at = models.DateTimeField(null=True, blank=True, help_text="when its execution was created")

    class Meta:
        ordering = ["session", "position"]
        verbose_name_plural = "lifecycle strategies"
        constraints = [models.UniqueConstraint(fields=["session", "position"], name="strategy_position_unique")]
        indexes = [
            # the sweep reads only strategies that are waiting, oldest due first
            models.Index(fields=["due_at"], name="strategy_waiting_due",
                         condition=Q(fired_at__isnull=True, due_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.type} on {self.trigger}={self.threshold}"

    def same_as(self, wire: dict) -> bool:
        return self.as_wire() == {**wire, "opts": wire.get("opts")}

    def as_wire(self) -> dict:
        trigger = {self.trigger: True} if self.trigger == self.Trigger.NEVER else {self.trigger: self.threshold}
        return {"type": self.type, "trigger": trigger, "opts": self.opts}


class Event(models.Model):
    """A message in a session, numbered 0, 1, 2, … per session.

    Events are versioned in place: `created_at` is the timestamp of the current version (it moves on every
    edit and is what optimistic concurrency compares against); `first_created_at` is when it was appended.
    """

    class EventType(models.TextChoices):
        MESSAGE = "message"
        TOOL_OUTPUT = "tool_output"
        STATUS = "status"

    class EmitterType(models.TextChoices):
        USER = "user"
        AGENT = "agent"

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events")
    sequence_id = models.BigIntegerField()
    event_type = models.CharField(max_length=16, choices=EventType.choices, default=EventType.MESSAGE)
    emitter_type = models.CharField(max_length=8, choices=EmitterType.choices)
    emitter_id = models.CharField(max_length=200, null=True, blank=True)
    body = JSONAsSentField()
    token_count = models.IntegerField(default=0)
    first_created_at = models.DateTimeField()
    created_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        ordering = ["session", "sequence_id"]
        constraints = [models.UniqueConstraint(fields=["session", "sequence_id"], name="event_sequence_unique")]

    def __str__(self):
        return f"#{self.sequence_id} {self.emitter_type}: {str(self.body.get('content', ''))[:60]}"
