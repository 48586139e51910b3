import io
import re

from django.urls import is_valid_path

_SLASHES = re.compile(r"/{2,}")


class RoutePathMiddleware:
    """Paths clients send that name a route less exactly, served as that route (no client follows a redirect,
    so APPEND_SLASH is off):
    - `//v1/ping/` -> `/v1/ping/`: the async mem0 client doubles the slash when its host ends in `/`;
    - `.../v1/memories/<id>` -> `.../v1/memories/<id>/`, when only the path with the slash is a route: seed
      002's curl examples leave it off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "//" in request.path_info:
            request.path_info = _SLASHES.sub("/", request.path_info)
            request.path = _SLASHES.sub("/", request.path)
        path = request.path_info
        if not path.endswith("/"):
            urlconf = getattr(request, "urlconf", None)
            if not is_valid_path(path, urlconf) and is_valid_path(path + "/", urlconf):
                request.path_info, request.path = path + "/", request.path + "/"
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """413 with a JSON body for a request declaring more than DATA_UPLOAD_MAX_MEMORY_SIZE bytes, before any of
    it is read; a chunked body (no Content-Length), read here up to that limit, or 413 beyond it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return _too_large(f"{length} bytes", limit)
        if not length and request.META.get("wsgi.input_terminated") and self._read_unsized_body(request, limit) > limit:
            return _too_large(f"over {limit} bytes", limit)
        return self.get_response(request)

    @staticmethod
    def _read_unsized_body(request, limit: int) -> int:
        """gunicorn passes a chunked body de-chunked, without a Content-Length, and says the stream ends with it
        (`wsgi.input_terminated`); Django reads no body without a length, so the API took it for {}. Read it
        (a byte over the limit at most) and give it to Django with its length. Returns that length."""
        from django.core.handlers.wsgi import LimitedStream

        stream, chunks, size = request.META["wsgi.input"], [], 0
        while size <= limit:
            chunk = stream.read(min(64 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if 0 < size <= limit:
            request._stream = LimitedStream(io.BytesIO(b"".join(chunks)), size)
            request.META["CONTENT_LENGTH"] = str(size)
        return size


def _too_large(size: str, limit: int):
    from django.http import JsonResponse

    return JsonResponse({"detail": f"Request body too large: {size}; the limit is {limit}"}, status=413)
