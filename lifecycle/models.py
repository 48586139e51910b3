import uuid

from django.db import models

from sessions_app.models import LifecycleStrategy, Session


class StrategyExecution(models.Model):
    """The one run of a lifecycle strategy for its session: unique per strategy, so racing sweeps and
    redelivered tasks cannot run it twice. pending → running → succeeded / failed; retries go back to
    pending with the last error kept. One whose session or space was deleted before it ran succeeds without
    doing anything, its result {"skipped": "… deleted"}; an extraction that had stored chunks keeps their
    record, marked {"stopped": "… deleted"} (`execution_perform`).

    running → rearmed: an idle strategy whose session had events after it fired does nothing destructive and
    waits again (its strategy unfired, due a full idle time after the last event; `error` says why). When the
    sweep fires it anew, this row goes back to pending, its attempts counted afresh and its result (an
    extraction's progress) kept."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REARMED = "rearmed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    strategy = models.OneToOneField(LifecycleStrategy, on_delete=models.CASCADE, related_name="execution")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="executions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(help_text="when the trigger fired")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["updated_at"], name="execution_unfinished",
                         condition=models.Q(status__in=["pending", "running"])),
            models.Index(fields=["status"], name="execution_status"),
        ]
        permissions = [("rerun_strategyexecution", "Can re-run failed strategy executions")]

    def __str__(self):
        return f"{self.strategy} for {self.session_id}: {self.status}"
