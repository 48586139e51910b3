"""The soft time limit of background tasks (TASK_SOFT_TIME_LIMIT_SECONDS), as the tasks see it, and the record of
how a task ended, which neither the limit nor a database that went away while the task ran may lose. Each task
message carries its publisher's limits (a web process's, or a worker's for the tasks it publishes), which is
why the error below names the setting rather than a number."""

import logging
from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, connection

from config.api.errors import database_fault

logger = logging.getLogger(__name__)

# What a task returns when it could not record how it ended (`recorded`).
LEFT_RUNNING = "not recorded: left running for the stale takeover"


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


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is the database's state rather than the work's (a 503 of the API, `database_fault`): gone,
    failing over, or a statement it stopped. It passes, and the work is retried as in a provider outage."""
    fault = database_fault(exc)
    return fault is not None and fault.status == 503


def recorded(write: Callable[[], object], *, what: str) -> bool:
    """Run `write`, a task's record of how it ended (a short write of its row, which may run twice), and say
    whether it was recorded. Two things would fail it and leave the row RUNNING: the soft time limit landing in
    it (rarely: what takes long is the work before it), and the database connection lost while the task ran
    (or left on a standby by a failover). It is written once more then, on a new connection (the limit may
    have interrupted its statement, and it lands once: the hard limit comes TASK_TIME_LIMIT_SECONDS -
    TASK_SOFT_TIME_LIMIT_SECONDS later). With the database still unavailable, nothing is recorded (False,
    logged): the row stays RUNNING as the claim left it, and the stale takeover runs the work again once it is
    stale (LIFECYCLE_STALE_RUNNING_SECONDS, ADD_REQUEST_STALE_RUNNING_SECONDS)."""
    for again in (False, True):
        try:
            write()
            return True
        except (DatabaseError, SoftTimeLimitExceeded) as exc:
            if not (isinstance(exc, SoftTimeLimitExceeded) or database_unavailable(exc)):
                raise
            connection.close()
            if again:
                logger.warning("could not record %s (%s): it stays running until the stale takeover", what, exc)
    return False
