import re

_SLASHES = re.compile(r"/{2,}")


class CollapseSlashesMiddleware:
    """`//v1/ping/` -> `/v1/ping/`: the async mem0 client doubles the slash when its host ends in `/`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "//" in request.path_info:
            request.path_info = _SLASHES.sub("/", request.path_info)
            request.path = _SLASHES.sub("/", request.path)
        return self.get_response(request)
