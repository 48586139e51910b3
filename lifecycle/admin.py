from django.contrib import admin, messages
from django.db import transaction

from lifecycle import services
from lifecycle.models import StrategyExecution
from lifecycle.tasks import publish_executions
from memoryspaces.admin import ReadOnlyAdmin


@admin.register(StrategyExecution)
class StrategyExecutionAdmin(ReadOnlyAdmin):
    """Executions are created by the sweep and changed by workers only."""

    list_display = ["id", "session", "strategy", "status", "attempts", "due_at", "started_at", "finished_at",
                    "short_error"]
    list_filter = ["status", "strategy__type", "strategy__trigger"]
    list_select_related = ["session", "strategy"]
    search_fields = ["=id", "=session__id", "error"]
    ordering = ["-created_at"]
    show_full_result_count = False
    readonly_fields = [field.name for field in StrategyExecution._meta.fields]
    actions = ["rerun_failed"]

    def has_rerun_permission(self, request):
        return request.user.has_perm("lifecycle.rerun_strategyexecution")

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120]

    # Re-running may pay an LLM again for a whole session: a permission of its own, beyond viewing.
    @admin.action(description="Re-run the selected failed executions", permissions=["rerun"])
    def rerun_failed(self, request, queryset):
        with transaction.atomic():  # all of them or none; published once committed (publish_executions)
            reset = [execution.pk for execution in queryset.filter(status=StrategyExecution.Status.FAILED)
                     if services.execution_retry(execution_id=execution.pk)]
            publish_executions(reset)
        skipped = queryset.count() - len(reset)
        self.message_user(request, f"{len(reset)} queued again" + (f"; {skipped} were not failed" if skipped else ""),
                          messages.SUCCESS if reset else messages.WARNING)
