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


class RequestSizeLimitMiddleware:
    """413 with a JSON body for a request declaring more than DATA_UPLOAD_MAX_MEMORY_SIZE bytes, before any of
    it is read. (A body without Content-Length is cut by Django at the same limit while being read.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.http import JsonResponse

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return JsonResponse({"detail": f"Request body too large: {length} bytes; the limit is "
                                           f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE}"}, status=413)
        return self.get_response(request)
