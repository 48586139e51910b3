from rest_framework.renderers import JSONRenderer


class NullableJSONRenderer(JSONRenderer):
    """Renders a `None` body as `null` (mem0's get of a missing memory answers 200 with null); a 204 stays
    empty."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if data is None and not (response is not None and response.status_code == 204):
            return b"null"
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800" parses as JSON but is not UTF-8), quoted by an error message: escape it
            # as JSON may. This renderer is this request's own, so the setting goes no further.
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)
