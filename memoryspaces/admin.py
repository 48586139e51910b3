from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect

from config.api.errors import DomainError
from memoryspaces.models import ApiKey, MemorySpace, Tenant, User
from memoryspaces.services import api_key_revoke, space_restore, space_soft_delete


class _IsSetFilter(admin.SimpleListFilter):
    """Yes/no filter on whether the timestamp field `field` is set."""

    field: str
    labels: tuple[str, str]  # (not set, set)

    def lookups(self, request, model_admin):
        return [("no", self.labels[0]), ("yes", self.labels[1])]

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class DeletedFilter(_IsSetFilter):
    title = parameter_name = "deleted"
    field = "deleted_at"
    labels = ("Live", "Soft-deleted")


class RevokedFilter(_IsSetFilter):
    title = parameter_name = "revoked"
    field = "revoked_at"
    labels = ("No", "Yes")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the service itself writes: viewed here, never added, changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SoftDeleteAdmin(admin.ModelAdmin):
    """Soft-delete and restore actions for a model with `deleted_at`; subclasses say how for one object."""

    actions = ["soft_delete_selected", "restore_selected"]
    # The order an action restores the selected objects in, within its one transaction: the order in which
    # the services lock what a restore locks, or an action and a write at once can deadlock.
    restore_order = ("pk",)

    def soft_delete(self, obj):
        raise NotImplementedError

    def restore(self, obj):
        raise NotImplementedError

    # Rows are removed by `purge_deleted`; the admin's delete page would also list every event under them.
    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Saves go through the services (memories, sessions), which may refuse: the embedder is down or not
        # the stored vectors' one, the row changed meanwhile. Rolled back, that is said on the page, not a 500.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, f"Not saved: {error.detail}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="Soft-delete selected %(verbose_name_plural)s", permissions=["change"])
    def soft_delete_selected(self, request, queryset):
        # in id order, as the services' batches lock rows: in another, an action and a batch at once deadlocked
        self._change_all(request, queryset.alive().order_by("pk"), self.soft_delete, done="Soft-deleted")

    @admin.action(description="Restore selected %(verbose_name_plural)s", permissions=["change"])
    def restore_selected(self, request, queryset):
        self._change_all(request, queryset.exclude(deleted_at=None).order_by(*self.restore_order), self.restore,
                         done="Restored")

    def _change_all(self, request, queryset, change, *, done: str) -> None:
        """`change` each object of `queryset` in ONE transaction: a failure half-way undoes the ones already
        changed, so the selection changes entirely or not at all. A refusal (a live row took a deduplication
        key meanwhile, an object changed under the action) is reported; any other error propagates, rolled
        back all the same."""
        objs, failing = [], None
        try:
            with transaction.atomic():
                objs = list(queryset)
                for failing in objs:
                    change(failing)
        except IntegrityError:
            self.message_user(request, f"Not {done.lower()}: {failing} (its deduplication key is in use); "
                                       f"nothing was changed.", messages.ERROR)
        except DomainError as error:
            self.message_user(request, f"Not {done.lower()}: {failing} ({error.detail}); nothing was changed.",
                              messages.ERROR)
        else:
            self.message_user(request, f"{done} {len(objs)} {self.opts.verbose_name_plural}.")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at"]
    search_fields = ["name", "=id"]
    readonly_fields = ["id", "created_at"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = [*DjangoUserAdmin.fieldsets, ("Tenant", {"fields": ["tenant"]})]
    add_fieldsets = [*DjangoUserAdmin.add_fieldsets, ("Tenant", {"fields": ["tenant"]})]
    list_display = [*DjangoUserAdmin.list_display, "tenant"]
    list_filter = [*DjangoUserAdmin.list_filter, "tenant"]
    list_select_related = ["tenant"]
    search_fields = [*DjangoUserAdmin.search_fields, "tenant__name"]
    autocomplete_fields = ["tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter, "user__tenant"]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__username", "user__tenant__name"]
    fields = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    # A key is shown in clear only once, by `manage.py create_api_key`; the admin never sees it.
    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        with transaction.atomic():  # all the keys or none: a failure half-way leaves every one as it was
            keys = list(queryset.filter(revoked_at=None))
            for key in keys:
                api_key_revoke(prefix=key.prefix)
        self.message_user(request, f"Revoked {len(keys)} key(s).")


@admin.register(MemorySpace)
class MemorySpaceAdmin(SoftDeleteAdmin):
    list_display = ["id", "description", "tenant", "owner", "created_at", "deleted_at"]
    list_filter = [DeletedFilter, "tenant"]
    list_select_related = ["tenant", "owner"]
    search_fields = ["=id", "description", "tenant__name", "owner__username"]
    autocomplete_fields = ["tenant", "owner"]
    readonly_fields = ["id", "created_at", "deleted_at"]

    def soft_delete(self, obj):
        space_soft_delete(space=obj)

    def restore(self, obj):
        space_restore(space=obj)
