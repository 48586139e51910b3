from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONOrEmptyParser(JSONParser):
    """JSON bodies; an empty body counts as `{}` (the contract: `Content-Length: 0` with no content type).

    Requests without a content type are parsed as JSON too, because some clients omit it on small bodies.
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return {}
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
