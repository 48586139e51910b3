import logging

from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (`API_RATE_LIMIT`, e.g. "600/minute"; unset: no limit). Over the limit: 429 with
    Retry-After. The counters live in the shared cache (Redis); if it is unreachable, requests pass: losing
    the limiter must not take the API down."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None  # unauthenticated requests are refused before this matters
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("rate limiter unavailable; letting the request through", exc_info=True)
            return True
