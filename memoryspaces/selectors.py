"""Reads for memory spaces. Visibility is by tenant: a space is reachable only by users of its tenant."""

from django.db.models import QuerySet

from memoryspaces.models import MemorySpace, User


def spaces_visible_to(*, user: User) -> QuerySet[MemorySpace]:
    return MemorySpace.objects.alive().filter(tenant_id=user.tenant_id).select_related("owner")


def space_list(*, user: User, deduplication_key: str | None = None) -> QuerySet[MemorySpace]:
    spaces = spaces_visible_to(user=user)
    if deduplication_key is not None:
        spaces = spaces.filter(owner=user, deduplication_key=deduplication_key)
    return spaces.order_by("created_at", "id")
