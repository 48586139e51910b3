from rest_framework.negotiation import DefaultContentNegotiation


class JSONContentNegotiation(DefaultContentNegotiation):
    """The contract: always answer JSON, errors included. A view with a single renderer (every API view)
    answers with it whatever `Accept` or `?format=` asks for: DRF would answer 406, or 404 "Not found" for a
    format it does not know. Views offering a choice (the OpenAPI document: JSON or YAML) keep DRF's."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
