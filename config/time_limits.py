"""The soft time limit of background tasks (TASK_SOFT_TIME_LIMIT_SECONDS), as the tasks see it, and the record of
how a task ended, which neither the limit nor a database that went away while the task ran may lose: written
again at once, and with the database still gone, later, by a task of its own (`recorded`, `recorded_later`).
Each task message carries its publisher's limits (a web process's, or a worker's for the tasks it publishes),
which is why the error below names the setting rather than a number."""

import logging
from collections.abc import Callable

from celery import Signature
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, connection

from config.api.errors import database_unavailable

logger = logging.getLogger(__name__)

# What a task returns when it could not record how it ended (`recorded`).
LEFT_RUNNING = "not recorded: left running until recorded later, or taken over once stale"
# An end the database did not take is written again by a task of its own, this long after, then while the
# database is still gone ever later (doubling, at most a minute apart), so many times at most: about 18 minutes
# in all, within the stale limits (30 minutes by default), which remain the last resort.
RECORD_AGAIN_AFTER_SECONDS = 5
RECORD_AGAIN_AT_MOST_EVERY_SECONDS = 60
RECORD_AGAIN_TIMES = 20


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


def recorded(write: Callable[[], object], *, what: str, later: Signature) -> bool:
    """Run `write`, a task's record of how it ended (a short write of its row, made only while the row is still
    as the task's claim left it), and say whether it was recorded. Two things would fail it and leave the row
    RUNNING: the soft time limit landing in it (rarely: what takes long is the work before it), and the
    database connection lost while the task ran (or left on a standby by a failover). It is written once more
    then, on a new connection (the limit may have interrupted its statement, and it lands once: the hard limit
    comes TASK_TIME_LIMIT_SECONDS - TASK_SOFT_TIME_LIMIT_SECONDS later). With the database still unavailable,
    nothing is recorded now (False, logged): the row stays RUNNING as the claim left it, and `later`, a task
    making the same write (`recorded_later`), is published to run in RECORD_AGAIN_AFTER_SECONDS, as the broker
    usually outlives a database blip. With the broker down too, the row waits for the stale takeover, which
    runs the work again once it is stale (LIFECYCLE_STALE_RUNNING_SECONDS, ADD_REQUEST_STALE_RUNNING_SECONDS)."""
    for again in (False, True):
        try:
            write()
            return True
        except (DatabaseError, SoftTimeLimitExceeded) as exc:
            if not _passes(exc):
                raise
            if again:
                _publish_later(later, what=what, exc=exc)
    return False


def _passes(exc: DatabaseError | SoftTimeLimitExceeded) -> bool:
    """Whether the failure of a write recording a task's end passes (the soft time limit landing in it, the
    database unavailable), rather than being a bug. The connection is dropped then: the limit may have left it
    busy with the statement it interrupted, or the database took it away."""
    if not (isinstance(exc, SoftTimeLimitExceeded) or database_unavailable(exc)):
        return False
    connection.close()
    return True


def _publish_later(later: Signature, *, what: str, exc: BaseException) -> None:
    try:
        later.apply_async(countdown=RECORD_AGAIN_AFTER_SECONDS)
    except Exception:
        logger.warning("could not record %s (%s), nor publish its record for later: it stays running until the "
                       "stale takeover", what, exc, exc_info=True)
        return
    logger.warning("could not record %s (%s): recording it again in %d s", what, exc, RECORD_AGAIN_AFTER_SECONDS)


def recorded_later(task, write: Callable[[], bool], *, what: str) -> bool:
    """The body of a task that `recorded` published: run `write`, which records a task's end unless its row has
    since been claimed again (taken over once stale, retried), finished or deleted, and say whether it did. A
    later claim is never overwritten: `write` is guarded by the identity of the claim whose end it records.
    With the database still unavailable, `task` is retried with backoff (RECORD_AGAIN_*); after
    RECORD_AGAIN_TIMES, it is given up (False, logged), and the stale takeover runs the work again."""
    try:
        return write()
    except (DatabaseError, SoftTimeLimitExceeded) as exc:
        if not _passes(exc):
            raise
        tries = task.request.retries
        if tries >= RECORD_AGAIN_TIMES:
            logger.warning("could not record %s (%s) in %d tries: it stays running until the stale takeover",
                           what, exc, tries + 1)
            return False
        raise task.retry(countdown=min(RECORD_AGAIN_AFTER_SECONDS * 2 ** (tries + 1),
                                       RECORD_AGAIN_AT_MOST_EVERY_SECONDS), max_retries=RECORD_AGAIN_TIMES) from exc
