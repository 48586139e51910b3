import json
import uuid
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR, ChangeListSearchForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, FloatField, Q, Value, When
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from config.api.errors import DomainError
from mem0_compat import selectors
from mem0_compat.models import ENTITY_FIELDS, AddRequest, Memory, MemoryExport, MemoryFeedback, MemoryHistory
from mem0_compat.services import embed, memory_delete, memory_restore, memory_update
from memoryspaces.admin import DeletedFilter, ReadOnlyAdmin, SoftDeleteAdmin
from memoryspaces.models import MemorySpace

SEARCH_TOP_K = 50
ENTITIES_PER_PAGE = 100

# Form field of the change page → key of `memory_update(fields=...)`.
_UPDATABLE = {"memory": "text", "metadata": "metadata", "expiration_date": "expiration_date"}


def _uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def _runs_engine(term: str) -> bool:
    """A search term runs the hybrid search unless it is empty or a memory id."""
    term = term.strip()
    return bool(term) and _uuid(term) is None


def _search_term(request) -> str:
    """The search term as the changelist reads it: a term its form refuses (one with a NUL) searches nothing."""
    form = ChangeListSearchForm(request.GET)
    return (form.cleaned_data.get(SEARCH_VAR) or "") if form.is_valid() else ""


def _truncated(text: str | None) -> str:
    return Truncator(text or "").chars(80)


class _SpaceChoiceForm(forms.Form):
    space = forms.ModelChoiceField(queryset=MemorySpace.objects.all())


@admin.register(Memory)
class MemoryAdmin(SoftDeleteAdmin):
    list_display = ["text", "space", "user_id", "agent_id", "app_id", "run_id", "categories", "immutable",
                    "expiration_date", "created_at", "updated_at", "deleted_at"]
    # The plain space filter lists the spaces; RelatedOnlyFieldListFilter would scan every memory for them.
    list_filter = [DeletedFilter, "space", "space__tenant", "immutable"]
    list_select_related = ["space"]
    ordering = ["-created_at"]
    show_full_result_count = False
    # Only shows the search box: `get_search_results` runs the engine instead of these lookups.
    search_fields = ["memory"]
    search_help_text = (f"Hybrid search (meaning and words) over live memories, within the chosen space if "
                        f"any: the best {SEARCH_TOP_K}, best first. Or a memory id.")
    # A restore locks its text as an add does (`memory_restore`), and an add locks its texts in hash order
    restore_order = ("hash", "pk")
    fieldsets = [
        (None, {
            "fields": ["id", "space", "memory", "metadata", "expiration_date"],
            "description": "Saving goes through the memory service: changed text is re-embedded, and every "
                           "change is recorded in the history below.",
        }),
        ("Scope", {"fields": ENTITY_FIELDS}),
        ("Details", {
            "fields": ["hash", "categories", "immutable", "created_at", "updated_at", "deleted_at"],
        }),
        ("History", {"fields": ["history"]}),
    ]
    readonly_fields = ["id", "space", *ENTITY_FIELDS, "hash", "categories", "immutable", "created_at",
                       "updated_at", "deleted_at", "history"]

    def get_queryset(self, request):
        # No page shows the vector or the tsvector: unread, a changelist page does not parse 100 vectors.
        return super().get_queryset(request).defer(*selectors.UNSHOWN_FIELDS)

    @admin.display(description="memory")
    def text(self, obj):
        return _truncated(obj.memory)

    @admin.display(description="score")
    def score(self, obj):
        return f"{obj.score:.3f}"

    @admin.display(description="History, oldest first")
    def history(self, obj):
        entries = selectors.memory_history(space=obj.space, memory_id=obj.pk)
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((formats.localize(timezone.localtime(entry.created_at)), entry.event, entry.old_memory or "",
              entry.new_memory or "") for entry in entries),
        )
        changelist = reverse("admin:mem0_compat_memoryhistory_changelist")
        return format_html(
            "<table><thead><tr><th>at</th><th>event</th><th>old memory</th><th>new memory</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}?memory_id={}">In the history list</a></p>',
            rows, changelist, obj.pk,
        )

    # Memories are added through the API, which embeds them.
    def has_add_permission(self, request):
        return False

    # The service refuses to change immutable and deleted memories, so their pages are read-only.
    def has_change_permission(self, request, obj=None):
        if obj is not None and (obj.immutable or obj.deleted_at):
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # Through the service, so that changed text is re-embedded and the change written to the history.
        fields = {_UPDATABLE[name]: form.cleaned_data[name] for name in form.changed_data}
        if fields:
            memory_update(space=obj.space, memory_id=obj.pk, fields=fields)

    def get_list_display(self, request):
        if _runs_engine(_search_term(request)):
            return [self.list_display[0], "score", *self.list_display[1:]]
        return self.list_display

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        memory_id = _uuid(term)
        if memory_id is not None:
            return queryset.filter(pk=memory_id), False
        try:
            hits = self._search(queryset, term)
        except DomainError as error:  # the embedder is down, or not the one of the stored vectors
            self.message_user(request, f"Search failed: {error.detail}", level=messages.ERROR)
            return queryset.none(), False
        score = Case(*(When(pk=hit.memory.pk, then=Value(hit.score)) for hit in hits),
                     output_field=FloatField())
        found = queryset.filter(pk__in=[hit.memory.pk for hit in hits]).annotate(score=score)
        return found.order_by("-score", "pk"), False

    def _search(self, queryset, term):
        """The engine's search in each space holding a memory the changelist shows (only the chosen space when
        the space filter is set), restricted to those memories; the best hits over all these spaces. The
        text part of a score is relative to the best text match of its space, so scores from different spaces
        compare only roughly."""
        vector = embed([term])[0]
        shown = Q(pk__in=queryset.values("pk"))
        spaces = MemorySpace.objects.filter(pk__in=queryset.values("space_id"))
        hits = [hit for space in spaces
                for hit in selectors.memory_search(space=space, query_vector=vector, query=term,
                                                   filters=shown, top_k=SEARCH_TOP_K, show_expired=True)]
        return sorted(hits, key=lambda hit: -hit.score)[:SEARCH_TOP_K]

    def soft_delete(self, obj):
        memory_delete(space=obj.space, memory_id=obj.pk)

    def restore(self, obj):
        memory_restore(memory=obj)  # refused when the scope holds its text again

    def get_urls(self):
        entities = path("entities/", self.admin_site.admin_view(self.entities_view),
                        name="mem0_compat_memory_entities")
        return [entities, *super().get_urls()]

    def entities_view(self, request):
        """The users, agents, apps and runs with live memories in the chosen space."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = _SpaceChoiceForm(request.GET or None)
        space = form.cleaned_data["space"] if form.is_valid() else None
        page = Paginator(selectors.entity_list(space=space) if space else [], ENTITIES_PER_PAGE).get_page(
            request.GET.get("page"))
        entities = list(page)
        changelist = reverse("admin:mem0_compat_memory_changelist")
        for entity in entities:
            lookups = {"space__id__exact": space.pk, selectors.ENTITY_TYPES[entity["type"]]: entity["name"],
                       "deleted": "no"}
            entity["memories_url"] = f"{changelist}?{urlencode(lookups)}"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Entities of {space}" if space else "Entities",
            "form": form,
            "space": space,
            "entities": entities,
            "page": page,
        }
        return TemplateResponse(request, "admin/mem0_compat/memory/entities.html", context)


@admin.register(MemoryHistory)
class MemoryHistoryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "memory", "old", "new", "space"]
    list_filter = ["event", "space__tenant"]
    list_select_related = ["space"]
    search_fields = ["=memory_id", "old_memory", "new_memory"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False

    exclude = ["source"]
    readonly_fields = ["messages"]

    @admin.display(description="input")
    def messages(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.input, indent=2, ensure_ascii=False)) if obj.source_id \
            else "-"

    # A link even when the memory was purged since: the history outlives it.
    @admin.display(description="memory")
    def memory(self, obj):
        url = reverse("admin:mem0_compat_memory_change", args=[obj.memory_id])
        return format_html('<a href="{}">{}</a>', url, obj.memory_id)

    @admin.display(description="old memory")
    def old(self, obj):
        return _truncated(obj.old_memory)

    @admin.display(description="new memory")
    def new(self, obj):
        return _truncated(obj.new_memory)


@admin.register(AddRequest)
class AddRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "space", "status", "created_at", "updated_at"]
    list_filter = ["status", "space__tenant"]
    list_select_related = ["space"]
    search_fields = ["=id", "=space__id"]
    ordering = ["-created_at"]


@admin.register(MemoryExport)
class MemoryExportAdmin(ReadOnlyAdmin):
    list_display = ["id", "space", "created_at"]
    list_filter = ["space__tenant"]
    list_select_related = ["space"]
    search_fields = ["=id", "=space__id"]
    ordering = ["-created_at"]

    # An export holds up to 10,000 memories: the list does not load them.
    def get_queryset(self, request):
        return super().get_queryset(request).defer("result")


@admin.register(MemoryFeedback)
class MemoryFeedbackAdmin(ReadOnlyAdmin):
    list_display = ["memory_id", "feedback", "feedback_reason", "space", "created_at"]
    list_filter = ["feedback", "space__tenant"]
    list_select_related = ["space"]
    search_fields = ["=memory_id"]
    ordering = ["-created_at"]
