"""Adds queued with `async_mode`. The request row in PostgreSQL is the truth (PENDING → RUNNING →
SUCCEEDED/FAILED); the Celery message only says "look at row X", so a lost message loses no work. An
attempt's end that the database, gone a while, did not take is recorded later by a task of its own
(`record_add_request_end`), or else the stale takeover runs the add again."""

import json
import logging
from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from config.api.errors import RETRYABLE, DomainError, database_fault
from config.time_limits import LEFT_RUNNING, recorded, recorded_later, stopped_by_time_limit
from mem0_compat import selectors, services
from mem0_compat.models import AddRequest
from memoryspaces.models import MemorySpace

logger = logging.getLogger(__name__)
MAX_RETRIES = 5


def add_request_queue(*, space: MemorySpace, data: dict) -> AddRequest:
    """Record the request, then publish it once the record is committed."""
    request = AddRequest.objects.create(space=space, payload=json.loads(json.dumps(data, default=str)))
    transaction.on_commit(lambda: publish(request.pk))
    return request


def publish(request_id, *, retries: int = 0) -> None:
    """`retries`: how many times the add was retried already (a retry published after its end was recorded
    late), which MAX_RETRIES bounds."""
    try:
        run_add_request.apply_async([str(request_id)], retries=retries)
    except Exception:  # broker down: the row stays PENDING, and republish_add_requests publishes it later
        logger.warning("could not publish add request %s; it stays PENDING", request_id, exc_info=True)


@shared_task(bind=True, max_retries=MAX_RETRIES)
def run_add_request(self, request_id: str) -> str:
    from mem0_compat.api.serializers import AddIn

    request = services.add_request_claim(request_id=request_id)
    if request is None:
        return "not claimed"  # finished, or being run by another worker
    if request.space.deleted_at is not None:  # as a lifecycle execution does: nothing is written there
        return _finish(request, AddRequest.Status.FAILED, error="The memory space was deleted before the add ran")
    try:
        data = AddIn(data=request.payload)
        data.is_valid(raise_exception=True)
        results = services.memory_add_request(space=request.space, data=data.validated_data)
    except Exception as exc:
        return _failed(self, request, exc)
    return _finish(request, AddRequest.Status.SUCCEEDED, results=results)


def _failed(task, request: AddRequest, exc: Exception) -> str:
    """A provider outage, the database unavailable (a lost connection, a standby after a failover, a statement
    it stopped) or the time limit: retried with backoff, up to MAX_RETRIES. What the add's route would answer
    with a 4xx (the request's own data that the database refuses among it), or a bug: FAILED at once (visibly,
    rather than RUNNING forever). With the database still gone, neither can be recorded now: the request is
    left RUNNING until it is recorded later (`_finish`)."""
    fault = database_fault(exc)
    if fault:  # its message (SQL) is the operator's, in the log; the tenant reads what the add's route answers
        logger.warning("add request %s: %s", request.pk, exc)
    error = (stopped_by_time_limit(exc) or (str(exc.detail) if isinstance(exc, RETRYABLE) else None)
             or (fault.message if fault and fault.status == 503 else None))
    if error is None:
        if isinstance(exc, (DomainError, ValidationError)):  # what the add's route would answer with a 4xx
            error = f"{type(exc).__name__}: {exc.detail}"
        elif fault:  # the request's own data, which its route answers with a 422
            error = fault.message
        else:  # its message (SQL, internal names) is the operator's, in the log; the tenant reads what a 500 says
            logger.exception("add request %s failed", request.pk)
            error = "Internal server error"
        return _finish(request, AddRequest.Status.FAILED, error=error)
    if task.request.retries < MAX_RETRIES:
        if _finish(request, AddRequest.Status.PENDING, error=error, retries=task.request.retries + 1) == LEFT_RUNNING:
            return LEFT_RUNNING
        raise task.retry(exc=exc, countdown=2 ** task.request.retries) from exc  # claims it again
    return _finish(request, AddRequest.Status.FAILED, error=error)


@shared_task
def republish_add_requests() -> int:
    """Beat: publish again the requests whose message may have been lost."""
    request_ids = list(selectors.add_requests_to_republish(now=timezone.now()))
    for request_id in request_ids:
        publish(request_id)
    if request_ids:
        logger.info("published %d add requests again", len(request_ids))
    return len(request_ids)


def _finish(request: AddRequest, status: str, *, results=None, error: str = "", retries: int = 0) -> str:
    """Record the attempt's end (`recorded`: despite the time limit landing there, or the database gone a
    moment; with it gone longer, `record_add_request_end` records it later, publishing the retry of a PENDING
    one, its `retries`-th). Returns the task's outcome: the status, lowercase, or LEFT_RUNNING when it could
    not be recorded now."""
    end = {"status": status, "results": results, "error": error}
    claim = {"pk": str(request.pk), "updated_at": request.updated_at}
    if not recorded(partial(services.add_request_finish, request=request, **end), what=f"add request {request.pk}",
                    later=record_add_request_end.s(claim, end, retries)):
        return LEFT_RUNNING
    return status.lower()


@shared_task(bind=True)
def record_add_request_end(self, claim: dict, end: dict, retries: int) -> str:
    """`_finish`'s record of an attempt's end, which the database, gone then, did not take: written while the
    request is still as the attempt's claim left it (`claim`: its id and stamp), then for a retry (PENDING)
    the retry published. Retried while the database is still gone (`recorded_later`)."""
    request_id = claim["pk"]
    if not recorded_later(self, partial(services.add_request_finish, request=AddRequest(**claim), **end),
                          what=f"add request {request_id}"):
        return "not recorded"
    if end["status"] == AddRequest.Status.PENDING:
        publish(request_id, retries=retries)
    return end["status"].lower()
