"""Model fields shared by the apps."""

from django.core.exceptions import ValidationError
from django.db import models
from psycopg.types.json import Json, Jsonb

from config.limits import JsonLimit


class JSONAsSentField(models.JSONField):
    """JSON kept as PostgreSQL `json`, the text written, where `jsonb` (Django's JSONField) would reorder
    every object's keys (shortest first): the contract stores event bodies and session metadata exactly as
    received. `json` has no equality operator, so a query must not compare, group or DISTINCT on the column
    itself (keys can still be read, as in `body__content__icontains`)."""

    def db_type(self, connection):
        return "json"

    def get_db_prep_value(self, value, connection, prepared=False):
        adapted = super().get_db_prep_value(value, connection, prepared)
        # Sent as jsonb, the server would parse (and reorder) it before casting it to json.
        return Json(adapted.obj, dumps=adapted.dumps) if isinstance(adapted, Jsonb) else adapted

    def from_db_value(self, value, expression, connection):
        return value  # psycopg's json loader has parsed it (Django reads only jsonb as text, to parse it here)


def require_json_objects(obj, *names: str, limit: JsonLimit) -> None:
    """For a model's `clean`: the JSON fields `names` of `obj` hold an object or null, as on the wire, within
    `limit`. The API's serializers insist on both; the admin's JSON form field takes any JSON (a list, a
    string, megabytes of it), which the API then could not answer, or would carry on every read."""
    errors = {}
    for name in names:
        value = getattr(obj, name)
        if value is not None and not isinstance(value, dict):
            errors[name] = f"{name.capitalize()} must be a JSON object (or null)."
        elif refusal := limit.refusal(value, name=name.capitalize()):
            errors[name] = refusal
    if errors:
        raise ValidationError(errors)
