from rest_framework.negotiation import DefaultContentNegotiation


class JSONContentNegotiation(DefaultContentNegotiation):
    """JSON both ways. Answers: the contract says always JSON, errors included. A view with a single
    renderer (every API view) answers with it whatever `Accept` or `?format=` asks for: DRF would answer 406,
    or 404 "Not found" for a format it does not know. Views offering a choice (the OpenAPI document: JSON or
    YAML) keep DRF's."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

    def select_parser(self, request, parsers):
        """A body without a content type is read as JSON (JSONOrEmptyParser's promise: some clients omit it on
        small bodies); DRF found no parser for "" and answered "Unsupported media type". Other types still
        are."""
        if not request.content_type:
            return next((parser for parser in parsers if parser.media_type == "application/json"), None)
        return super().select_parser(request, parsers)
