import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models.functions import Now
from pgvector.django import VectorField

from config.fields import require_json_objects
from config.limits import METADATA
from memoryspaces.models import MemorySpace, SoftDeleteQuerySet

ENTITY_FIELDS = ("user_id", "agent_id", "app_id", "run_id")
# The longest text a memory is given: a message's (stored verbatim by infer=false), and a fact an LLM answers.
# Far below what PostgreSQL's full-text index of a row takes (1 MB of lexemes).
MEMORY_TEXT_MAX_LENGTH = 50_000
MAX_CATEGORIES = 50  # the category names one request may give (named, or custom ones to choose from)
# The most a memory holds: what one add can give a new memory (its named categories, then the custom ones that
# fit). An inferred UPDATE adds the add's to the memory's own; past this it is refused, as merged metadata is.
MEMORY_MAX_CATEGORIES = 2 * MAX_CATEGORIES


class Memory(models.Model):
    """One long-term memory of a space, scoped by the entity ids (user/agent/app/run) it was added with.

    `embedding` is a `vector(EMBEDDING_DIMENSIONS)` column: the dimension is fixed per deployment by the
    migration that creates it (and `manage.py reembed` when the embedder changes), so the model leaves it open.
    `search_vector` is a generated column for full-text search, kept in step by PostgreSQL itself.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="memories")
    memory = models.TextField(max_length=MEMORY_TEXT_MAX_LENGTH)  # enforced by forms (the admin), not the column
    hash = models.CharField(max_length=32, help_text="md5 of the text")
    embedding = VectorField(null=True, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("memory", config="english"), output_field=SearchVectorField(), db_persist=True
    )
    user_id = models.CharField(max_length=64, null=True, blank=True)
    agent_id = models.CharField(max_length=64, null=True, blank=True)
    app_id = models.CharField(max_length=64, null=True, blank=True)
    run_id = models.CharField(max_length=64, null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    categories = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    immutable = models.BooleanField(default=False)
    expiration_date = models.DateField(null=True, blank=True)
    # The database's clock, as for the history rows (an add may give created_at instead): web processes'
    # clocks (of other hosts) may be apart, and a memory added on one and updated on another showed updated_at
    # before created_at.
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "memories"
        indexes = [
            models.Index(fields=["space", "user_id"], name="memory_space_user"),
            models.Index(fields=["space", "agent_id"], name="memory_space_agent"),
            models.Index(fields=["space", "run_id"], name="memory_space_run"),
            models.Index(fields=["space", "app_id"], name="memory_space_app"),
            models.Index(fields=["space", "-created_at"], name="memory_space_created"),
            models.Index(fields=["space", "hash"], name="memory_space_hash"),
            # fastupdate off: with it on, new rows wait in a pending list (up to 4 MB) that every search scans
            # row by row; measured at 100k memories, 395 pending pages made a search 400-850 ms, not 12 ms.
            GinIndex(fields=["search_vector"], name="memory_search_vector", fastupdate=False),
            GinIndex(fields=["categories"], name="memory_categories", fastupdate=False),
        ]

    def __str__(self):
        return self.memory[:80]

    def clean(self):
        require_json_objects(self, "metadata", limit=METADATA)


class MemoryInput(models.Model):
    """The messages of one add, stored once: every history row the add writes points to it. A copy in each row
    multiplied the request by the memories it touched: 100 messages of 50,000 characters, stored verbatim,
    wrote 500 MB of history. Kept as long as its space, as the history is."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="memory_inputs")
    messages = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"input {self.pk}"


class MemoryHistory(models.Model):
    """Every ADD / UPDATE / DELETE of a memory. Keyed by the memory's id, not a foreign key, so it survives
    the memory's hard deletion."""

    class Event(models.TextChoices):
        ADD = "ADD"
        UPDATE = "UPDATE"
        DELETE = "DELETE"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="memory_history")
    memory_id = models.UUIDField(db_index=True)
    old_memory = models.TextField(null=True, blank=True)
    new_memory = models.TextField(null=True, blank=True)
    event = models.CharField(max_length=8, choices=Event.choices)
    source = models.ForeignKey(MemoryInput, null=True, blank=True, on_delete=models.RESTRICT, related_name="history",
                               help_text="the messages that caused it, when any")
    metadata = models.JSONField(null=True, blank=True)
    # The database's clock, as an add's own INSERT stamps its ADD rows: the rows of one memory are ordered by
    # it, and web processes' clocks (of other hosts) may be behind it. A row is never changed once written.
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), editable=False)
    is_deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "memory history"

    def __str__(self):
        return f"{self.event} {self.memory_id}"

    @property
    def input(self) -> list | None:
        """The messages that caused it (select_related("source") when reading many)."""
        return self.source.messages if self.source_id else None


class AddRequest(models.Model):
    """An add queued with `async_mode`: its status is what `GET /v1/event/{id}/` reports."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="add_requests")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payload = models.JSONField()
    results = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [  # the unfinished few, for the periodic re-publish, among every request ever made
            models.Index(fields=["updated_at"], name="add_request_unfinished",
                         condition=models.Q(status__in=["PENDING", "RUNNING"])),
        ]

    def __str__(self):
        return f"add {self.pk} ({self.status})"


class MemoryExport(models.Model):
    """The memories matching an export request, projected onto its schema; kept under the entity scope the
    request named, which is what a get by user_id (or filters) finds it by."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="memory_exports")
    user_id = models.CharField(max_length=64, null=True, blank=True)
    agent_id = models.CharField(max_length=64, null=True, blank=True)
    app_id = models.CharField(max_length=64, null=True, blank=True)
    run_id = models.CharField(max_length=64, null=True, blank=True)
    schema = models.JSONField()
    filters = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"export {self.pk}"


class MemoryFeedback(models.Model):
    class Kind(models.TextChoices):
        POSITIVE = "POSITIVE"
        NEGATIVE = "NEGATIVE"
        VERY_NEGATIVE = "VERY_NEGATIVE"

    space = models.ForeignKey(MemorySpace, on_delete=models.CASCADE, related_name="memory_feedback")
    memory_id = models.UUIDField(db_index=True)
    feedback = models.CharField(max_length=16, choices=Kind.choices, null=True, blank=True)
    feedback_reason = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.feedback} on {self.memory_id}"
