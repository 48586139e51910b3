"""Service-level pages: liveness, readiness, the landing page, and the error pages: JSON, but HTML in the admin,
whose pages an operator reads in a browser."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import defaults


def health(request):
    return JsonResponse({"status": "ok"})


def ready(request):
    """200 only when the database and the broker answer."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    status = 200 if all(checks.values()) else 503
    return JsonResponse({"status": "ready" if status == 200 else "unavailable", "checks": checks}, status=status)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure means "not ready"; the reason is in the database's own logs
        connection.close()
        return False


def _broker_ok() -> bool:
    import redis
    from django.conf import settings

    try:
        return bool(redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1,
                                         socket_timeout=1).ping())
    except redis.RedisError:
        return False


def landing(request):
    return render(request, "landing.html")


def _in_admin(request) -> bool:
    return request.path.startswith(reverse("admin:index"))


def not_found(request, exception=None):
    if _in_admin(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found"}, status=404)


def server_error(request):
    if _in_admin(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "Internal server error"}, status=500)


def bad_request(request, exception=None):
    if _in_admin(request):
        return defaults.bad_request(request, exception)
    return JsonResponse({"detail": "Bad request"}, status=400)
