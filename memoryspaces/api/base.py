from config.api.errors import NotFound
from config.api.views import ApiView
from memoryspaces.models import MemorySpace
from memoryspaces.selectors import space_visible_to


class SpaceScopedView(ApiView):
    """Base for every view of an object inside a memory space the caller may see.

    The space comes from the `space_id` path parameter and must belong to the caller's tenant and be live;
    anything else is a 404 (never a 403, so existence does not leak). Subclasses reach objects only through
    `get_space()` (or helpers built on it), so the tenancy check lives here once.
    """

    space_not_found = "Memory space not found"

    def get_space(self) -> MemorySpace:
        space = space_visible_to(user=self.request.user, space_id=self.path_uuid("space_id"))
        if space is None:
            raise NotFound(self.space_not_found)
        return space
