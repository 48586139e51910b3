"""Bounds on the free-form JSON clients store: metadata (of memories and sessions), lifecycle strategy options,
and the keys of an event's body besides its `content`. Only the request size bounded them before, so one row
could hold ~100 MB that every read, search and export then carried. One measure and one message for the API's
serializers and the admin's model validation; the bounds are settings, read at each check."""

import json
from dataclasses import dataclass

from django.conf import settings


def json_bytes(value) -> int:
    """The size of `value` as compact JSON text in UTF-8: what a client counts, whatever its spacing and
    escaping (a non-ASCII character is its UTF-8 bytes, not a 6-byte \\u escape). For values `check_json`
    passed (no lone surrogates, no NaN)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


@dataclass(frozen=True)
class JsonLimit:
    setting: str  # the setting holding the bound in bytes

    @property
    def max_bytes(self) -> int:
        return getattr(settings, self.setting)

    def refusal(self, value, *, name: str) -> str | None:
        """Why `value` (the field `name`) is refused, or None when it is within the bound."""
        size = json_bytes(value)
        if size <= self.max_bytes:
            return None
        return f"{name} may take at most {self.max_bytes} bytes as JSON text; this takes {size}"

    def described(self) -> str:
        """The bound, for the OpenAPI document (the value in force when the schema module was loaded)."""
        return f"At most {self.max_bytes} bytes as compact UTF-8 JSON text ({self.setting})."


METADATA = JsonLimit("METADATA_MAX_BYTES")
EVENT_BODY_EXTRA = JsonLimit("EVENT_BODY_EXTRA_MAX_BYTES")
