import logging

from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (`API_RATE_LIMIT`, e.g. "600/minute"; unset: no limit), counted in fixed windows of
    the rate's period. Over the limit: 429 with Retry-After, the seconds left in the window. The counters live
    in the shared cache (Redis); if it is unreachable, requests pass: losing the limiter must not take the API
    down.

    Each request is one atomic increment (Redis INCR). DRF's own counting reads the key's list of request times
    and writes it back, so requests arriving together all read the same list and all pass: 15 of 20 concurrent
    requests went through a limit of 5. A fixed window can let up to twice the rate through around a window's
    end."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None  # unauthenticated requests are refused before this matters
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}

    def allow_request(self, request, view):
        try:
            return self._counted_within_rate(request, view)
        except Exception:
            logger.warning("rate limiter unavailable; letting the request through", exc_info=True)
            return True

    def _counted_within_rate(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        counter = f"{key}_{window}"
        # Kept for two windows, so it cannot expire while its own window still counts: an increment of a
        # missing key fails, and Django's incr (an EXISTS, then an INCR) would recreate it without an expiry.
        self.cache.add(counter, 0, 2 * self.duration)
        return self.cache.incr(counter) <= self.num_requests

    def wait(self):
        return self.window_end - self.now
