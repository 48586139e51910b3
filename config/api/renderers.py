from rest_framework.renderers import JSONRenderer


class NullableJSONRenderer(JSONRenderer):
    """Renders a `None` body as `null` (mem0's get of a missing memory answers 200 with null); a 204 stays
    empty."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if data is None and not (response is not None and response.status_code == 204):
            return b"null"
        return super().render(data, accepted_media_type, renderer_context)
