from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from memoryspaces.admin import DeletedFilter, SoftDeleteAdmin
from sessions_app.models import Event, LifecycleStrategy, Session
from sessions_app.services import (
    event_delete,
    event_restore,
    session_restore,
    session_soft_delete,
    session_update,
)

RECENT_EVENTS = 50


def _content(event: Event) -> str:
    return Truncator(str(event.body.get("content", ""))).chars(120)


class LifecycleStrategyInline(admin.TabularInline):
    """Each strategy with its lifecycle state: when it is due, whether it fired, and how its run went.

    Read-only: strategies change through the API's PATCH, which validates them, gives them their due times
    and count thresholds, and refuses to change one that has fired."""

    model = LifecycleStrategy
    fields = ["position", "type", "trigger", "threshold", "opts", "due_at", "fired_at", "execution_status"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="execution")
    def execution_status(self, obj):
        execution = getattr(obj, "execution", None)
        if execution is None:
            return "—"
        url = reverse("admin:lifecycle_strategyexecution_change", args=[execution.pk])
        return format_html('<a href="{}">{} (attempts {})</a>', url, execution.status, execution.attempts)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("execution")


@admin.register(Session)
class SessionAdmin(SoftDeleteAdmin):
    list_display = ["id", "description", "space", "participants", "event_count", "token_count",
                    "last_event_at", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "space__tenant"]
    list_select_related = ["space"]
    search_fields = ["=id", "description", "participants__0", "=space__id", "space__tenant__name"]
    # A session never moves: its events, memories and keys belong to its space's tenant. The counters and
    # the count thresholds are kept by the append and strategy services.
    readonly_fields = ["id", "space", "version", "next_sequence_id", "event_count", "token_count", "last_event_at",
                       "next_event_trigger", "next_token_trigger", "created_at", "updated_at", "deleted_at",
                       "recent_events"]
    inlines = [LifecycleStrategyInline]

    # Sessions are created through the API, which also gives them their default lifecycle strategies.
    def has_add_permission(self, request):
        return False

    # A deleted session is only viewed (and restored from the list), as the API no longer edits it either.
    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.deleted_at is None) and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # As an API edit: under the row lock, bumping `version` so that a client's If-Match sees the change.
        if form.changed_data:
            session_update(session=obj, fields={name: form.cleaned_data[name] for name in form.changed_data})

    def soft_delete(self, obj):
        session_soft_delete(session=obj)

    def restore(self, obj):
        session_restore(session=obj)  # also schedules its waiting ttl/idle strategies again

    @admin.display(description=f"Last {RECENT_EVENTS} events")
    def recent_events(self, obj):
        # A session can hold 100,000 events: read only the newest few, through the (session, sequence) index.
        events = reversed(obj.events.order_by("-sequence_id")[:RECENT_EVENTS])
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.sequence_id, e.event_type, e.emitter_type, e.emitter_id or "", _content(e),
              e.deleted_at or "") for e in events),
        )
        changelist = reverse("admin:sessions_app_event_changelist")
        return format_html(
            "<table><thead><tr><th>#</th><th>type</th><th>emitter</th><th>emitter id</th><th>content</th>"
            "<th>deleted at</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}?session__id__exact={}">All events of this session</a></p>',
            rows, changelist, obj.pk,
        )


@admin.register(Event)
class EventAdmin(SoftDeleteAdmin):
    list_display = ["sequence_id", "session", "event_type", "emitter_type", "emitter_id", "content",
                    "token_count", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "session__space__tenant", "event_type", "emitter_type"]
    list_select_related = ["session"]
    search_fields = ["body__content__icontains", "=session__id"]
    ordering = ["session_id", "sequence_id"]  # the unique index; ordering by `session` would join and sort
    show_full_result_count = False

    @admin.display(description="content")
    def content(self, obj):
        return _content(obj)

    def has_add_permission(self, request):
        return False

    # Events change only through the API (versions, token counts); here they are only viewed, soft-deleted
    # and restored, so the changelist (its actions) may change and each event page is read-only.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def soft_delete(self, obj):
        event_delete(session=obj.session, sequence_id=obj.sequence_id)

    def restore(self, obj):
        event_restore(event=obj)
