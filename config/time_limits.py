"""The soft time limit of background tasks (TASK_SOFT_TIME_LIMIT_SECONDS), as the tasks see it. Each task message
carries its publisher's limits (a web process's, or a worker's for the tasks it publishes), which is why the
error below names the setting rather than a number."""

from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection


def stopped_by_time_limit(exc: BaseException) -> str | None:
    """The error to record when `exc` is, or was raised because of, the soft time limit (the LLM and embedder
    calls wrap whatever interrupts them in their own errors); None otherwise. The database connection is
    dropped then: the limit may have interrupted a statement, and psycopg leaves the connection busy with it,
    so that recording the error on it would fail."""
    while exc is not None and not isinstance(exc, SoftTimeLimitExceeded):
        exc = exc.__cause__ or exc.__context__
    if exc is None:
        return None
    connection.close()
    return "Stopped by the time limit (TASK_SOFT_TIME_LIMIT_SECONDS)"
