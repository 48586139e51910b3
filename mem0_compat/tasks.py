"""Adds queued with `async_mode`. The request row in PostgreSQL is the truth (PENDING → RUNNING →
SUCCEEDED/FAILED); the Celery message only says "look at row X", so a lost message loses no work."""

import json
import logging

from celery import shared_task
from django.db import transaction

from config.api.errors import RETRYABLE
from mem0_compat import services
from mem0_compat.models import AddRequest
from memoryspaces.models import MemorySpace

logger = logging.getLogger(__name__)
MAX_RETRIES = 5


def add_request_queue(*, space: MemorySpace, data: dict) -> AddRequest:
    """Record the request, then publish it once the record is committed."""
    request = AddRequest.objects.create(space=space, payload=json.loads(json.dumps(data, default=str)))
    transaction.on_commit(lambda: publish(request.pk))
    return request


def publish(request_id) -> None:
    try:
        run_add_request.delay(str(request_id))
    except Exception:  # broker down: the row stays PENDING and is picked up again (sweep / re-publish)
        logger.warning("could not publish add request %s; it stays PENDING", request_id, exc_info=True)


@shared_task(bind=True, max_retries=MAX_RETRIES)
def run_add_request(self, request_id: str) -> str:
    from mem0_compat.api.serializers import AddIn

    with transaction.atomic():
        request = AddRequest.objects.select_for_update().select_related("space").filter(pk=request_id).first()
        if request is None or request.status in (AddRequest.Status.SUCCEEDED, AddRequest.Status.FAILED):
            return "nothing to do"  # redelivered after it finished
        request.status = AddRequest.Status.RUNNING
        request.save(update_fields=["status", "updated_at"])
    data = AddIn(data=request.payload)
    data.is_valid(raise_exception=True)
    try:
        results = services.memory_add_request(space=request.space, data=data.validated_data)
    except RETRYABLE as exc:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc
        _finish(request, AddRequest.Status.FAILED, error=str(exc.detail))
        return "failed"
    except Exception as exc:  # a bug, not a provider outage: end visibly as FAILED rather than RUNNING forever
        logger.exception("add request %s failed", request_id)
        _finish(request, AddRequest.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        return "failed"
    _finish(request, AddRequest.Status.SUCCEEDED, results=results)
    return "succeeded"


def _finish(request: AddRequest, status: str, *, results=None, error: str = "") -> None:
    request.status, request.results, request.error = status, results, error
    request.save(update_fields=["status", "results", "error", "updated_at"])
