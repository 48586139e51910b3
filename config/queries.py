"""Query helpers shared by the apps' selectors."""

from django.db.models import Model, QuerySet


def one_or_none(queryset: QuerySet) -> Model | None:
    """The one row `queryset` (filtered down to at most one, as by a primary or unique key) selects, or None.
    `get()` rather than `first()`: first() orders the rows (by the model's ordering, else its primary key) to
    choose one, an ORDER BY the ORM builds and the database sorts by on every request, for a choice that
    cannot arise."""
    try:
        return queryset.get()
    except queryset.model.DoesNotExist:
        return None
